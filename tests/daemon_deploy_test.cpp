// xschedd as deployed: the systemd unit's runtime directory agrees with what
// its command line asks of xschedd (the group of --group can reach the
// socket), and xschedd itself readies a socket directory it finds: one of its
// own is given to the --group with mode 0750, one of another user is refused
// with a message that says what to do; the program and the Daemon class used
// on its own alike. The directory checks need root (to own files as others
// and to try the socket as a member); elsewhere they skip.
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/daemon.h"
#include "daemon/options.h"
#include "daemon/socket_dir.h"
#include "daemon_process.h"
#include "temp_dir.h"
#include "ipc/unix_socket.h"

namespace xsched::daemon {
namespace {

using test::TempDir;
using test::read_file;

using test::Child;

// ---- the systemd unit ----

// The [Service] section's settings (the last of each key wins, as in systemd).
std::map<std::string, std::string> service_settings(const std::string& unit) {
  std::map<std::string, std::string> out;
  std::istringstream in(unit);
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      section = line;
      continue;
    }
    const auto eq = line.find('=');
    if (section == "[Service]" && eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

TEST(SystemdUnit, RuntimeDirectoryLetsTheGroupReachTheSocket) {
  const std::string unit = read_file(XSCHED_UNIT_PATH);
  ASSERT_FALSE(unit.empty());
  auto svc = service_settings(unit);
  // What xschedd makes of its command line.
  const std::vector<std::string> exec = words(svc["ExecStart"]);
  ASSERT_GE(exec.size(), 1u);
  EXPECT_EQ(exec[0].substr(exec[0].rfind('/') + 1), "xschedd");
  std::vector<const char*> args;
  for (std::size_t i = 1; i < exec.size(); ++i) args.push_back(exec[i].c_str());
  Settings s;
  std::string err;
  ASSERT_TRUE(parse_arguments(static_cast<int>(args.size()), args.data(), &s, &err)) << err;
  // It runs as root: the default socket is the system daemon's.
  EXPECT_TRUE(svc["User"].empty() || svc["User"] == "root") << svc["User"];
  const std::string socket =
      s.daemon.socket.empty() ? std::string(ipc::kSystemSocketDir) + "/" + ipc::kSocketName : s.daemon.socket;
  const std::string dir = socket.substr(0, socket.rfind('/'));
  // systemd makes the socket's directory, /run/<RuntimeDirectory> ...
  EXPECT_EQ("/run/" + svc["RuntimeDirectory"], dir);
  // ... with the mode xschedd gives it ...
  const bool with_group = !s.daemon.group.empty();
  EXPECT_EQ(std::stoul(svc["RuntimeDirectoryMode"], nullptr, 8), socket_dir_mode(with_group))
      << "RuntimeDirectoryMode=" << svc["RuntimeDirectoryMode"];
  // ... owned by the service's group, which must be the group of --group:
  // otherwise the directory is root's group's, and the members of --group
  // cannot pass through it to their 0660 socket.
  if (with_group) {
    EXPECT_EQ(svc["Group"], s.daemon.group) << "Group= and ExecStart's --group differ";
  }
}

TEST(SystemdUnit, SystemdAnalyzeVerifiesIt) {
  if (std::system("command -v systemd-analyze >/dev/null 2>&1") != 0) GTEST_SKIP() << "no systemd-analyze here";
  TempDir dir("xsched-deploy-test", 0711);
  ASSERT_FALSE(dir.path().empty());
  // The unit names the installed program; here it is the one just built.
  std::string unit = read_file(XSCHED_UNIT_PATH);
  const std::string installed = XSCHED_UNIT_XSCHEDD;
  ASSERT_NE(unit.find("ExecStart=" + installed + " "), std::string::npos) << unit;
  for (std::size_t at; (at = unit.find(installed)) != std::string::npos;) unit.replace(at, installed.size(), XSCHEDD_PATH);
  const std::string path = dir.path() + "/xschedd.service";
  std::ofstream(path) << unit;
  const std::string out = dir.path() + "/verify.log";
  const int rc = std::system(("systemd-analyze verify --man=no '" + path + "' >'" + out + "' 2>&1").c_str());
  const std::string log = read_file(out);
  EXPECT_EQ(rc, 0) << log;
  EXPECT_EQ(log.find("xschedd.service:"), std::string::npos) << "warnings about the unit:\n" << log;
}

// ---- the socket's directory, as xschedd finds it ----

// A group other than root's for the tests, and a gid that is not in it.
bool pick_group(std::string* name, gid_t* gid, gid_t* outsider) {
  setgrent();
  const group* g;
  while ((g = getgrent()) != nullptr && g->gr_gid == 0) {
  }
  if (g != nullptr) {
    *name = g->gr_name;
    *gid = g->gr_gid;
  }
  endgrent();
  if (name->empty()) return false;
  *outsider = *gid == 65534 ? 65533 : 65534;
  return true;
}

// Connects to `socket` as uid 65534 with only the group `gid`: 0, or the errno.
int connect_as(const std::string& socket, gid_t gid) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(65534) != 0) _exit(120);
    int err = 0;
    const int fd = ipc::connect_unix(socket, &err, 2000);
    _exit(fd >= 0 ? 0 : (err > 0 && err < 120 ? err : 121));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 122;
}

TEST(SocketDirectory, AnExistingDirectoryOfRootsGoesToTheGroup) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  std::string group_name;
  gid_t gid = 0, outsider = 0;
  ASSERT_TRUE(pick_group(&group_name, &gid, &outsider));
  TempDir tmp("xsched-deploy-test", 0711);
  ASSERT_FALSE(tmp.path().empty());
  // As systemd leaves RuntimeDirectory= without Group=: root:root 0750.
  const std::string dir = tmp.path() + "/run";
  ASSERT_EQ(mkdir(dir.c_str(), 0750), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0750), 0);
  const std::string socket = dir + "/xschedd.sock";
  Child d({XSCHEDD_PATH, "--socket", socket, "--group", group_name}, {}, tmp.path() + "/xschedd.log");
  ASSERT_TRUE(test::eventually([&] { return access(socket.c_str(), F_OK) == 0; }, std::chrono::seconds(10)))
      << read_file(tmp.path() + "/xschedd.log");
  struct stat st{};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, gid);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(connect_as(socket, gid), 0) << "a member of " << group_name << " cannot reach the socket";
  EXPECT_EQ(connect_as(socket, outsider), EACCES) << "someone outside the group reached the socket";
}

TEST(SocketDirectory, AnotherUsersDirectoryIsRefusedSayingWhatToDo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir tmp("xsched-deploy-test", 0711);
  ASSERT_FALSE(tmp.path().empty());
  const std::string dir = tmp.path() + "/squatted";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(chown(dir.c_str(), 12345, 12345), 0);
  Child d({XSCHEDD_PATH, "--socket", dir + "/xschedd.sock"}, {}, tmp.path() + "/xschedd.log");
  EXPECT_EQ(d.wait_exit(std::chrono::seconds(20)), 1);
  const std::string log = read_file(tmp.path() + "/xschedd.log");
  EXPECT_NE(log.find(dir + " belongs to uid 12345, not to you"), std::string::npos) << log;
  EXPECT_NE(log.find("Choose a --socket in a directory of yours"), std::string::npos) << log;
  EXPECT_NE(log.find("XSCHED_SOCKET=PATH"), std::string::npos) << log;
}

// The Daemon class without the program's main readies the directory the same way.
TEST(SocketDirectory, ADaemonOnItsOwnGivesItsExistingDirectoryToTheGroup) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  std::string group_name;
  gid_t gid = 0, outsider = 0;
  ASSERT_TRUE(pick_group(&group_name, &gid, &outsider));
  TempDir tmp("xsched-deploy-test", 0711);
  ASSERT_FALSE(tmp.path().empty());
  const std::string dir = tmp.path() + "/run";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  Options o;
  o.socket = dir + "/xschedd.sock";
  o.group = group_name;
  Daemon d(o);
  std::string err;
  ASSERT_TRUE(d.open(&err)) << err;
  struct stat st{};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, gid);
  EXPECT_EQ(st.st_mode & 07777, socket_dir_mode(true));
  EXPECT_EQ(connect_as(o.socket, gid), 0) << "a member of " << group_name << " cannot reach the socket";
}

TEST(SocketDirectory, ADaemonOnItsOwnRefusesAnotherUsersDirectorySayingWhatToDo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir tmp("xsched-deploy-test", 0711);
  ASSERT_FALSE(tmp.path().empty());
  const std::string dir = tmp.path() + "/squatted";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(chown(dir.c_str(), 12345, 12345), 0);
  Options o;
  o.socket = dir + "/xschedd.sock";
  Daemon d(o);
  std::string err;
  EXPECT_FALSE(d.open(&err));
  EXPECT_NE(err.find(dir + " belongs to uid 12345, not to you"), std::string::npos) << err;
  EXPECT_NE(err.find("Choose a --socket in a directory of yours"), std::string::npos) << err;
  EXPECT_NE(access((dir + "/xschedd.sock").c_str(), F_OK), 0) << "a socket was made in it";
}

TEST(SocketDirectory, TheDefaultDirectoryAdviceNamesTheRuntimeDirAndTheOption) {
  const std::string advice = foreign_dir_advice("/tmp/xsched-1000", 1001, false);
  EXPECT_NE(advice.find("/tmp/xsched-1000 belongs to uid 1001"), std::string::npos) << advice;
  EXPECT_NE(advice.find("XDG_RUNTIME_DIR"), std::string::npos) << advice;
  EXPECT_NE(advice.find("--socket PATH"), std::string::npos) << advice;
  EXPECT_NE(advice.find("XSCHED_SOCKET=PATH"), std::string::npos) << advice;
}

}  // namespace
}  // namespace xsched::daemon

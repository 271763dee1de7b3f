// Where xschedd's socket is by default: one rule for the daemon, the command
// line and the agent. A user's daemon serves in $XDG_RUNTIME_DIR/xsched (a
// directory no one else can make first) when XDG_RUNTIME_DIR is set, else in
// /tmp/xsched-<uid>; root's in /run/xsched; and a client finds its user's
// daemon there. Run as root, the checks of another user's default run in a
// child that became uid 65534.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "daemon_process.h"
#include "temp_dir.h"
#include "ipc/unix_socket.h"

namespace xsched::ipc {
namespace {

using test::TempDir;
using test::read_file;

using test::Child;

constexpr uid_t kOtherUid = 65534;
// What as_user's function returns when the other user cannot run the programs under test.
constexpr const char* kUnreachable = "the build tree is not reachable";

// The uid the checks of a user's (not root's) default run as.
uid_t user_uid() { return geteuid() == 0 ? kOtherUid : geteuid(); }

// Runs `f` as user_uid() with XDG_RUNTIME_DIR set to xdg (unset if empty) and
// returns what it returned.
std::string as_user(const std::string& xdg, const std::function<std::string()>& f) {
  int p[2];
  if (pipe(p) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    if (geteuid() == 0 && (setgid(kOtherUid) != 0 || setuid(kOtherUid) != 0)) _exit(3);
    if (xdg.empty()) {
      unsetenv("XDG_RUNTIME_DIR");
    } else {
      setenv("XDG_RUNTIME_DIR", xdg.c_str(), 1);
    }
    const std::string out = f();
    if (write(p[1], out.data(), out.size()) != static_cast<ssize_t>(out.size())) _exit(4);
    _exit(0);
  }
  close(p[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child failed with status " + std::to_string(status);
  return out;
}

TEST(SocketPath, UserDirectoryFollowsXdgRuntimeDir) {
  EXPECT_EQ(user_socket_dir(1000, "/run/user/1000"), "/run/user/1000/xsched");
  EXPECT_EQ(user_socket_dir(1000, "/run/user/1000/"), "/run/user/1000/xsched");
  EXPECT_EQ(user_socket_dir(1000, nullptr), "/tmp/xsched-1000");
  // Not an absolute path: not a runtime directory.
  EXPECT_EQ(user_socket_dir(1000, ""), "/tmp/xsched-1000");
  EXPECT_EQ(user_socket_dir(1000, "run/user"), "/tmp/xsched-1000");
  // Root's daemon is the system daemon, whatever its environment.
  EXPECT_EQ(user_socket_dir(0, "/run/user/0"), std::string(kSystemSocketDir));
}

TEST(SocketPath, TheDaemonServesInTheUsersRuntimeDir) {
  const std::string uid = std::to_string(user_uid());
  EXPECT_EQ(as_user("/run/user/" + uid, [] { return daemon_socket_path(); }), "/run/user/" + uid + "/xsched/xschedd.sock");
  EXPECT_EQ(as_user("", [] { return daemon_socket_path(); }), "/tmp/xsched-" + uid + "/xschedd.sock");
  EXPECT_EQ(as_user("", [] { return default_socket_path(SocketRole::kServe); }), "/tmp/xsched-" + uid + "/xschedd.sock");
}

TEST(SocketPath, AClientFindsItsUsersDaemon) {
  TempDir dir("xsched-path-test", 0711);
  ASSERT_FALSE(dir.path().empty());
  const std::string xdg = dir.path() + "/xdg";
  ASSERT_EQ(mkdir(xdg.c_str(), 0700), 0);
  ASSERT_EQ(chown(xdg.c_str(), user_uid(), static_cast<gid_t>(-1)), 0);
  const std::string own = xdg + "/xsched/xschedd.sock";
  // A socket there (the user's daemon): every client of the user names it.
  const std::string made = as_user(xdg, [&] {
    mkdir((xdg + "/xsched").c_str(), 0700);
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, own.c_str(), sizeof addr.sun_path - 1);
    const bool bound = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return std::string(bound ? "" : "bind failed: ") + (bound ? "" : std::strerror(errno));
  });
  ASSERT_EQ(made, "");
  EXPECT_EQ(as_user(xdg, [] { return default_socket_path(SocketRole::kConnect); }), own);
  EXPECT_EQ(as_user(xdg, [] { return socket_path(nullptr); }), own);
  EXPECT_EQ(as_user(xdg, [] { return socket_path(""); }), own);
  EXPECT_EQ(as_user(xdg, [] { return socket_path("/elsewhere/x.sock"); }), "/elsewhere/x.sock");
  // Without one, a client turns to the system daemon where its directory exists.
  struct stat st{};
  const bool system_dir = stat(kSystemSocketDir, &st) == 0 && S_ISDIR(st.st_mode);
  const std::string none = dir.path() + "/empty";
  ASSERT_EQ(mkdir(none.c_str(), 0755), 0);
  EXPECT_EQ(as_user(none, [] { return socket_path(nullptr); }),
            system_dir ? std::string(kSystemSocketDir) + "/xschedd.sock" : none + "/xsched/xschedd.sock");
}

// xschedd and `xsched list`, both left to their defaults, meet at the same
// socket in the user's runtime directory.
TEST(SocketPath, DaemonAndCommandLineMeetInTheRuntimeDir) {
  TempDir dir("xsched-path-test", 0711);
  ASSERT_FALSE(dir.path().empty());
  const std::string xdg = dir.path() + "/xdg";
  ASSERT_EQ(mkdir(xdg.c_str(), 0700), 0);
  ASSERT_EQ(chown(xdg.c_str(), user_uid(), static_cast<gid_t>(-1)), 0);
  const std::string sock = xdg + "/xsched/xschedd.sock";
  const std::string env = "XDG_RUNTIME_DIR=" + xdg;
  const std::string result = as_user(xdg, [&]() -> std::string {
    // As root the programs run as another user, who must be able to reach the
    // build tree (a checkout in a directory of mode 0700 is not reachable).
    if (access(XSCHEDD_PATH, X_OK) != 0 || access(XSCHED_CLI_PATH, X_OK) != 0) return kUnreachable;
    Child daemon({XSCHEDD_PATH, "--log-level", "warn"}, {env}, xdg + "/daemon.log");
    if (!test::eventually([&] { return access(sock.c_str(), F_OK) == 0; }, std::chrono::seconds(10))) {
      return "xschedd made no socket at " + sock;
    }
    Child cli({XSCHED_CLI_PATH, "list"}, {env}, xdg + "/cli.log");
    const int status = cli.wait_exit(std::chrono::seconds(20));
    return status == 0 ? "" : "xsched list exited with " + std::to_string(status);
  });
  if (result == kUnreachable) {
    GTEST_SKIP() << "uid " << user_uid() << " cannot execute " << XSCHEDD_PATH
                 << ": the build tree lies in a directory that user cannot enter";
  }
  EXPECT_EQ(result, "") << "xschedd:\n" << read_file(xdg + "/daemon.log") << "xsched list:\n" << read_file(xdg + "/cli.log");
}

}  // namespace
}  // namespace xsched::ipc

// xschedd's socket as the Daemon class opens it, on its own (without the
// program's main): a socket that a live daemon holds is never replaced, even
// when that daemon takes no connection (stopped, its backlog full), while a
// stale one is; and the socket's directory is made, or refused, as the
// program does (what needs root to check is in daemon_deploy_test).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "daemon/daemon.h"
#include "ipc/unix_socket.h"

namespace xsched::daemon {
namespace {

class DaemonSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/xsched-daemon-socket-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/xschedd.sock";
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // A listening socket at socket_ that never accepts; false on failure.
  bool listen_at_socket(int backlog) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    fds_.push_back(fd);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
    return bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 && listen(fd, backlog) == 0;
  }
  // Connects without waiting until the listener's backlog is full: the
  // number of connections it queued.
  int fill_backlog() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
    for (int queued = 0; queued < 1000; ++queued) {
      const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) return -1;
      fds_.push_back(fd);
      if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        return errno == EAGAIN ? queued : -1;
      }
    }
    return -1;
  }

  std::string dir_, socket_;
  std::vector<int> fds_;
};

TEST_F(DaemonSocketTest, ADaemonThatTakesNoConnectionKeepsItsSocket) {
  // As a stopped xschedd leaves it: listening, its backlog full, accepting nothing.
  ASSERT_TRUE(listen_at_socket(0)) << std::strerror(errno);
  ASSERT_GE(fill_backlog(), 1);
  int e = 0;
  ASSERT_LT(ipc::connect_unix(socket_, &e, 100), 0);
  ASSERT_EQ(e, ETIMEDOUT) << "the listener's backlog is not full";
  struct stat before{};
  ASSERT_EQ(lstat(socket_.c_str(), &before), 0);

  Options o;
  o.socket = socket_;
  Daemon d(o);
  std::string err;
  EXPECT_FALSE(d.open(&err)) << "a second daemon took the socket of one that does not answer";
  EXPECT_NE(err.find("another xschedd"), std::string::npos) << err;
  EXPECT_NE(err.find("takes no connection"), std::string::npos) << err;
  struct stat after{};
  ASSERT_EQ(lstat(socket_.c_str(), &after), 0) << "the socket was removed";
  EXPECT_TRUE(S_ISSOCK(after.st_mode));
  EXPECT_EQ(after.st_ino, before.st_ino) << "the socket was replaced";
}

TEST_F(DaemonSocketTest, ADaemonThatAnswersKeepsItsSocket) {
  ASSERT_TRUE(listen_at_socket(16)) << std::strerror(errno);
  Options o;
  o.socket = socket_;
  Daemon d(o);
  std::string err;
  EXPECT_FALSE(d.open(&err));
  EXPECT_NE(err.find("another xschedd is serving"), std::string::npos) << err;
}

TEST_F(DaemonSocketTest, AStaleSocketIsReplaced) {
  // Bound, then its listener gone: nobody listens (a daemon killed with SIGKILL).
  ASSERT_TRUE(listen_at_socket(16)) << std::strerror(errno);
  close(fds_.back());
  fds_.pop_back();
  Options o;
  o.socket = socket_;
  Daemon d(o);
  std::string err;
  ASSERT_TRUE(d.open(&err)) << err;
  int e = 0;
  const int fd = ipc::connect_unix(socket_, &e, 2000);
  EXPECT_GE(fd, 0) << std::strerror(e);
  if (fd >= 0) close(fd);
}

// The socket's directory, as the Daemon class finds it (socket_dir.h).
TEST_F(DaemonSocketTest, AMissingDirectoryIsMadeTheOwnersOnlyWhateverTheUmask) {
  const std::string dir = dir_ + "/made";
  Options o;
  o.socket = dir + "/xschedd.sock";
  Daemon d(o);
  const mode_t old_mask = umask(0);
  std::string err;
  const bool opened = d.open(&err);
  umask(old_mask);
  ASSERT_TRUE(opened) << err;
  struct stat st{};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(DaemonSocketTest, ADirectoryWritableByEveryoneIsRefused) {
  const std::string dir = dir_ + "/open";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  Options o;
  o.socket = dir + "/xschedd.sock";
  Daemon d(o);
  std::string err;
  EXPECT_FALSE(d.open(&err));
  EXPECT_NE(err.find("writable by everyone"), std::string::npos) << err;
  // With the sticky bit (as /tmp) no one can remove another's socket: taken.
  ASSERT_EQ(chmod(dir.c_str(), 01777), 0);
  Daemon sticky(o);
  EXPECT_TRUE(sticky.open(&err)) << err;
}

TEST_F(DaemonSocketTest, ALinkInPlaceOfTheDirectoryIsRefused) {
  const std::string real = dir_ + "/real";
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(symlink(real.c_str(), (dir_ + "/link").c_str()), 0);
  Options o;
  o.socket = dir_ + "/link/xschedd.sock";
  Daemon d(o);
  std::string err;
  EXPECT_FALSE(d.open(&err));
  EXPECT_NE(err.find("is not a directory"), std::string::npos) << err;
}

}  // namespace
}  // namespace xsched::daemon

// The control plane's Unix socket helpers: a connect never waits past its
// deadline, even for a listener that never accepts and whose backlog is full
// (a stopped daemon), and a connected socket is left blocking without a send
// timeout, as its callers expect.
#include "ipc/unix_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "temp_dir.h"

namespace xsched::ipc {
namespace {

using test::TempDir;

using Clock = std::chrono::steady_clock;

// A listening socket that never accepts.
int listen_at(const std::string& path, int backlog) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, backlog) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

// Connects non-blocking sockets until the listener's backlog refuses more;
// returns them (they hold their places in the backlog while open).
std::vector<int> fill_backlog(const std::string& path) {
  std::vector<int> held;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  for (int i = 0; i < 64; ++i) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) break;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      break;
    }
    held.push_back(fd);
  }
  return held;
}

TEST(ConnectUnix, GivesUpOnAListenerWhoseBacklogIsFull) {
  TempDir dir("xsched-socket-test");
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/stopped.sock";
  int listener = listen_at(path, 0);
  ASSERT_GE(listener, 0) << std::strerror(errno);
  const std::vector<int> held = fill_backlog(path);
  ASSERT_FALSE(held.empty()) << "the backlog took no connection at all";
  ASSERT_LT(held.size(), 64u) << "the backlog never filled";

  constexpr int kDeadlineMs = 300;
  auto attempt = std::async(std::launch::async, [&] {
    const auto start = Clock::now();
    int err = 0;
    const int fd = connect_unix(path, &err, kDeadlineMs);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (fd >= 0) close(fd);
    return std::make_tuple(fd, err, took);
  });
  // A connect without a deadline would wait until the listener goes away: the
  // watchdog closes it then, so that the test ends either way.
  const bool ended = attempt.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  if (!ended) {
    close(listener);
    listener = -1;
  }
  const auto [fd, err, took] = attempt.get();
  EXPECT_TRUE(ended) << "connect_unix waited more than 10 s with a deadline of " << kDeadlineMs << " ms";
  EXPECT_LT(fd, 0);
  EXPECT_EQ(err, ETIMEDOUT) << std::strerror(err);
  // It waited for room in the backlog, not less than it was given.
  EXPECT_GE(took.count(), kDeadlineMs / 2);
  for (int h : held) close(h);
  if (listener >= 0) close(listener);
}

TEST(ConnectUnix, LeavesAConnectedSocketBlockingWithoutASendTimeout) {
  TempDir dir("xsched-socket-test");
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/live.sock";
  const int listener = listen_at(path, 4);
  ASSERT_GE(listener, 0) << std::strerror(errno);
  int err = 0;
  const int fd = connect_unix(path, &err, 1000);
  ASSERT_GE(fd, 0) << std::strerror(err);
  EXPECT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  timeval t{-1, -1};
  socklen_t len = sizeof t;
  ASSERT_EQ(getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t, &len), 0);
  EXPECT_EQ(t.tv_sec, 0);
  EXPECT_EQ(t.tv_usec, 0);
  close(fd);
  close(listener);
}

TEST(ConnectUnix, SaysWhyItCannotConnect) {
  TempDir dir("xsched-socket-test");
  ASSERT_FALSE(dir.path().empty());
  int err = 0;
  EXPECT_LT(connect_unix(dir.path() + "/nothing.sock", &err, 1000), 0);
  EXPECT_EQ(err, ENOENT);
  err = 0;
  EXPECT_LT(connect_unix("/" + std::string(200, 'x'), &err, 1000), 0);
  EXPECT_EQ(err, ENAMETOOLONG);
}

}  // namespace
}  // namespace xsched::ipc

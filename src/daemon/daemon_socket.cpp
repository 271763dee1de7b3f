// xschedd's socket: its directory, its mode, and the event loop's descriptors.
#include <fcntl.h>
#include <grp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "daemon/daemon.h"
#include "daemon/socket_dir.h"

namespace xsched::daemon {
namespace {

using namespace ipc;

std::string errno_text(int e) { return std::strerror(e); }

// A live daemon keeps its socket; a stale one is removed. Only "nobody
// listens" makes a socket stale: a listener that takes no connection in
// time is a daemon too (stopped, its backlog full), and a socket that
// cannot be tried is not ours to remove.
bool clear_stale_socket(const std::string& path, std::string* err) {
  int e = 0;
  const int probe = connect_unix(path, &e);
  if (probe >= 0) {
    close(probe);
    *err = "another xschedd is serving " + path;
    return false;
  }
  if (e == ETIMEDOUT) {
    *err = "another xschedd listens at " + path + " but takes no connection (stopped?): not replacing its socket";
    return false;
  }
  if (e != ECONNREFUSED && e != ENOENT) {
    *err = "cannot tell whether another xschedd serves " + path + " (" + errno_text(e) + "): not replacing its socket";
    return false;
  }
  struct stat st{};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *err = path + " exists and is not a socket";
      return false;
    }
    unlink(path.c_str());
  }
  return true;
}

}  // namespace

bool Daemon::open(std::string* err) {
  std::optional<gid_t> gid;
  if (!opts_.group.empty()) {
    const group* g = getgrnam(opts_.group.c_str());
    if (g == nullptr) {
      *err = "no group named '" + opts_.group + "'";
      return false;
    }
    gid = g->gr_gid;
  }
  sockaddr_un addr{};
  if (opts_.socket.size() >= sizeof addr.sun_path) {
    *err = "socket path too long: " + opts_.socket;
    return false;
  }
  if (!ready_socket_dir(opts_.socket, gid, socket_named_, err)) return false;
  if (!clear_stale_socket(opts_.socket, err)) return false;
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) {
    *err = "socket: " + errno_text(errno);
    return false;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, opts_.socket.c_str(), opts_.socket.size() + 1);
  // Owner-only from the start: no moment where others could connect.
  const mode_t old_mask = umask(0177);
  const int b = bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  umask(old_mask);
  if (b != 0) {
    *err = "cannot bind " + opts_.socket + ": " + errno_text(bind_errno);
    return false;
  }
  socket_made_ = true;
  if (gid.has_value() && (chown(opts_.socket.c_str(), static_cast<uid_t>(-1), *gid) != 0 || chmod(opts_.socket.c_str(), 0660) != 0)) {
    *err = "cannot give " + opts_.socket + " to group " + opts_.group + ": " + errno_text(errno);
    return false;
  }
  if (listen(listen_fd_, 128) != 0) {
    *err = "listen: " + errno_text(errno);
    return false;
  }
  return open_event_loop(err);
}

bool Daemon::open_event_loop(std::string* err) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  heartbeat_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  policy_timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (epoll_fd_ < 0 || stop_fd_ < 0 || heartbeat_fd_ < 0 || policy_timer_fd_ < 0) {
    *err = "cannot set up the event loop: " + errno_text(errno);
    return false;
  }
  itimerspec beat{};
  beat.it_interval.tv_sec = opts_.heartbeat_ns / 1'000'000'000;
  beat.it_interval.tv_nsec = opts_.heartbeat_ns % 1'000'000'000;
  beat.it_value = beat.it_interval;
  timerfd_settime(heartbeat_fd_, 0, &beat, nullptr);
  for (int fd : {listen_fd_, stop_fd_, heartbeat_fd_, policy_timer_fd_}) {
    if (!watch(fd)) {
      *err = "epoll: " + errno_text(errno);
      return false;
    }
  }
  if (opts_.metrics.has_value()) {
    // Scrapes ring it: the loop builds a snapshot only when one is wanted.
    metrics_ = std::make_unique<MetricsExchange>();
    if (!metrics_->ok() || !watch(metrics_->wake_fd())) {
      *err = "cannot set up the metrics' hand-off: " + errno_text(errno);
      return false;
    }
  }
  return true;
}

}  // namespace xsched::daemon

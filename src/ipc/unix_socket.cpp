#include "ipc/unix_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace xsched::ipc {
namespace {

constexpr std::size_t kMaxFds = 8;

bool send_impl(int fd, std::span<const std::byte> bytes, std::span<const int> fds, int flags) {
  if (fds.size() > kMaxFds) {
    errno = EINVAL;
    return false;
  }
  std::size_t sent = 0;
  bool fds_sent = fds.empty();
  while (sent < bytes.size()) {
    iovec iov{const_cast<std::byte*>(bytes.data() + sent), bytes.size() - sent};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    if (!fds_sent) {
      std::memset(control, 0, sizeof control);
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    const ssize_t n = sendmsg(fd, &msg, flags | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = EIO;
      return false;
    }
    // A non-blocking send of part of a message would leave the stream torn.
    if ((flags & MSG_DONTWAIT) != 0 && static_cast<std::size_t>(n) != bytes.size() - sent) {
      errno = EAGAIN;
      return false;
    }
    fds_sent = true;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

std::string user_socket_dir(uid_t uid, const char* xdg_runtime_dir) {
  if (uid == 0) return kSystemSocketDir;
  if (xdg_runtime_dir != nullptr && xdg_runtime_dir[0] == '/') {
    std::string dir = xdg_runtime_dir;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return (dir == "/" ? "" : dir) + "/xsched";
  }
  return "/tmp/xsched-" + std::to_string(uid);
}

std::string default_socket_path(SocketRole role) {
  const std::string own = user_socket_dir(geteuid(), std::getenv("XDG_RUNTIME_DIR")) + "/" + kSocketName;
  if (role == SocketRole::kServe) return own;
  struct stat st{};
  if (lstat(own.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return own;
  if (stat(kSystemSocketDir, &st) == 0 && S_ISDIR(st.st_mode)) return std::string(kSystemSocketDir) + "/" + kSocketName;
  return own;
}

std::string socket_path(const char* override_path) {
  if (override_path != nullptr && *override_path != '\0') return override_path;
  return default_socket_path(SocketRole::kConnect);
}

std::string daemon_socket_path() { return default_socket_path(SocketRole::kServe); }

int connect_unix(const std::string& path, int* err, int timeout_ms) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    *err = ENAMETOOLONG;
    return -1;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  // A Unix socket's connect never completes in the background (a
  // non-blocking one fails with EAGAIN while the listener's backlog is full,
  // leaving nothing to poll for); a blocking one waits for room in the
  // backlog at most the send timeout. So the deadline is the send timeout,
  // and the socket goes back to sends without one afterwards.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
  for (;;) {
    const int left = remaining_ms(deadline);
    // A zero timeout means "none": wait at least a millisecond.
    const timeval limit{left / 1000, static_cast<suseconds_t>((left % 1000) * 1000 + (left == 0 ? 1000 : 0))};
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) != 0) {
      *err = errno;
      close(fd);
      return -1;
    }
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) break;
    const int e = errno;
    const bool time_left = remaining_ms(deadline) > 0;
    if ((e == EINTR || e == EAGAIN) && time_left) continue;
    *err = e == EAGAIN || e == EINTR ? ETIMEDOUT : e;
    close(fd);
    return -1;
  }
  const timeval none{0, 0};
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none) != 0) {
    *err = errno;
    close(fd);
    return -1;
  }
  return fd;
}

bool peer_credentials(int fd, PeerCredentials* out) {
  ucred c{};
  socklen_t len = sizeof c;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0 || len != sizeof c) return false;
  out->pid = c.pid;
  out->uid = c.uid;
  out->gid = c.gid;
  return true;
}

bool send_message(int fd, std::span<const std::byte> bytes, std::span<const int> fds) {
  return send_impl(fd, bytes, fds, 0);
}

bool send_message_now(int fd, std::span<const std::byte> bytes, std::span<const int> fds) {
  return send_impl(fd, bytes, fds, MSG_DONTWAIT);
}

long receive_some(int fd, std::span<std::byte> buf, std::vector<int>* fds) {
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int got;
      std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      // Descriptors nobody asked for are not kept open.
      if (fds != nullptr) {
        fds->push_back(got);
      } else {
        close(got);
      }
    }
  }
  return static_cast<long>(n);
}

int receive_frame(int fd, FrameReader* reader, Frame* out, int timeout_ms, std::vector<int>* fds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const FrameReader::Status s = reader->next(out);
    if (s == FrameReader::Status::kFrame) return 0;
    if (s == FrameReader::Status::kBad) return EPROTO;
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return ETIMEDOUT;
    std::byte buf[16384];
    const long n = receive_some(fd, buf, fds);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0) return errno;
    if (n == 0) return ECONNRESET;
    if (reader->feed(std::span<const std::byte>(buf, static_cast<std::size_t>(n))) == FrameReader::Status::kBad) {
      return EPROTO;
    }
  }
}

int call(int fd, MsgType type, std::span<const std::byte> payload, FrameReader* reader, Frame* reply, int timeout_ms,
         std::vector<int>* fds) {
  std::vector<std::byte> msg;
  encode(type, payload, &msg);
  if (!send_message(fd, msg)) return errno;
  return receive_frame(fd, reader, reply, timeout_ms, fds);
}

}  // namespace xsched::ipc

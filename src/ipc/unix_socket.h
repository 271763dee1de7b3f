// Unix domain sockets for the control plane: where the socket lives, connect,
// peer credentials, and sending or receiving whole messages with file
// descriptors attached. No exceptions; errors come back as errno values.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ipc/protocol.h"

namespace xsched::ipc {

// Where xschedd's socket is when nothing names it. One rule for xschedd, the
// command line and every process's agent:
//   - root's daemon (the system daemon) serves in kSystemSocketDir;
//   - another user's daemon serves in that user's own directory,
//     $XDG_RUNTIME_DIR/xsched when XDG_RUNTIME_DIR is an absolute path (a
//     directory only the user can write), else /tmp/xsched-<uid> (which
//     anyone could have made first: the daemon then says what to do);
//   - a client (the command line, an agent) talks to its user's own daemon
//     when that socket exists, else to the system daemon where
//     kSystemSocketDir exists, else names its user's own path.
constexpr const char* kSystemSocketDir = "/run/xsched";
constexpr const char* kSocketName = "xschedd.sock";

enum class SocketRole { kServe, kConnect };

// The directory of the daemon of user `uid` (see above): pure, for the tests.
std::string user_socket_dir(uid_t uid, const char* xdg_runtime_dir);
// The default socket of the calling user (effective uid, XDG_RUNTIME_DIR).
std::string default_socket_path(SocketRole role);
// `override_path` when it is set and not empty, else the default for a client.
std::string socket_path(const char* override_path);
// The default for the daemon itself: default_socket_path(SocketRole::kServe).
std::string daemon_socket_path();

// How long a connect waits, by default, for a listener that does not accept
// (a stopped daemon whose backlog is full).
constexpr int kConnectTimeoutMs = 2000;

// A connected, close-on-exec, blocking stream socket, or -1 with *err set
// (errno; ETIMEDOUT when the listener took no connection within timeout_ms).
int connect_unix(const std::string& path, int* err, int timeout_ms = kConnectTimeoutMs);

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
bool peer_credentials(int fd, PeerCredentials* out);

// Writes all of `bytes`, with `fds` attached to the first byte (may be
// empty). Blocks; false on error (errno set). Never raises SIGPIPE.
bool send_message(int fd, std::span<const std::byte> bytes, std::span<const int> fds = {});
// Like send_message, but never blocks: false if the socket cannot take the
// whole message now (a reader that does not read is dropped, not waited for).
bool send_message_now(int fd, std::span<const std::byte> bytes, std::span<const int> fds = {});

// Reads what is there (at most buf.size() bytes); received descriptors are
// appended to *fds (close-on-exec). Returns the byte count, 0 at end of
// stream, -1 on error (errno set).
long receive_some(int fd, std::span<std::byte> buf, std::vector<int>* fds);

// Sends one request and waits (at most timeout_ms) for one reply frame.
// *reply points into *reader. Returns 0 or an errno value (ETIMEDOUT, EPROTO
// for a malformed reply, ECONNRESET when the peer closed).
int call(int fd, MsgType type, std::span<const std::byte> payload, FrameReader* reader, Frame* reply,
         int timeout_ms, std::vector<int>* fds = nullptr);

// Waits for one frame on fd (at most timeout_ms). Same results as call().
int receive_frame(int fd, FrameReader* reader, Frame* out, int timeout_ms, std::vector<int>* fds = nullptr);

}  // namespace xsched::ipc

// The directory that holds xschedd's socket, as the daemon finds it before it
// binds. It must be the daemon's own (or root's) so that no one else can put
// a socket in its place; with --group, the group's members must be able to
// pass through it to reach the socket.
#pragma once

#include <sys/types.h>

#include <string>

namespace xsched::daemon {

// The mode of the socket's directory: the owner's only, or the owner's and
// the group's (members pass through to the 0660 socket). The systemd unit's
// RuntimeDirectoryMode matches it.
constexpr mode_t socket_dir_mode(bool with_group) { return with_group ? 0750 : 0700; }

// Readies an existing directory for the socket at `socket` (a missing one is
// left for the daemon to create): when `group` is not empty and the
// directory is the daemon's own, it is given to that group with
// socket_dir_mode(true), as a directory the daemon creates would be. A
// directory of another user (not root) is refused with a message that says
// what to do instead; `socket_named` tells whether the socket's path was
// given (--socket) or is the default. False with *err on failure.
bool ready_socket_dir(const std::string& socket, const std::string& group, bool socket_named, std::string* err);

// What a user whose socket directory `dir` belongs to `owner` can do instead.
std::string foreign_dir_advice(const std::string& dir, uid_t owner, bool socket_named);

}  // namespace xsched::daemon

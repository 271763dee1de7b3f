// The directory that holds xschedd's socket, as the daemon finds it before it
// binds. It must be the daemon's own (or root's), and writable by no one
// else, so that no one can put a socket in its place; with --group, the
// group's members must be able to pass through it to reach the socket.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace xsched::daemon {

// The mode of the socket's directory: the owner's only, or the owner's and
// the group's (members pass through to the 0660 socket). The systemd unit's
// RuntimeDirectoryMode matches it.
constexpr mode_t socket_dir_mode(bool with_group) { return with_group ? 0750 : 0700; }

// Readies the directory of the socket at `socket` (`group`: the gid of
// --group, if any):
//   - a missing one is created with socket_dir_mode, given to the group;
//   - one that is not a directory (a link to one included), belongs to
//     another user (not root), or is writable by everyone without the sticky
//     bit is refused; for another user's, the message says what to do
//     instead (`socket_named`: whether the socket's path was given, --socket,
//     or is the default);
//   - an existing one of the daemon's own keeps its mode and group, except
//     that with a group it is given to that group with socket_dir_mode(true),
//     as a directory the daemon creates would be.
// False with *err on failure.
bool ready_socket_dir(const std::string& socket, std::optional<gid_t> group, bool socket_named, std::string* err);

// What a user whose socket directory `dir` belongs to `owner` can do instead.
std::string foreign_dir_advice(const std::string& dir, uid_t owner, bool socket_named);

}  // namespace xsched::daemon

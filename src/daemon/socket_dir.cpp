#include "daemon/socket_dir.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace xsched::daemon {

std::string foreign_dir_advice(const std::string& dir, uid_t owner, bool socket_named) {
  const std::string me = std::to_string(geteuid());
  std::string text = dir + " belongs to uid " + std::to_string(owner) + ", not to you (uid " + me +
                     "): another user made it, and a socket in it could be theirs. ";
  if (socket_named) {
    return text + "Choose a --socket in a directory of yours, and give the same path to your programs "
                  "(XSCHED_SOCKET=PATH) and to the command line (--socket PATH or XSCHED_SOCKET).";
  }
  return text + "Either set XDG_RUNTIME_DIR to a directory of yours (normally /run/user/" + me +
         ", set by your login session) for xschedd and your programs alike: the default socket is then "
         "$XDG_RUNTIME_DIR/xsched/xschedd.sock; or start xschedd with --socket PATH in a directory of yours and "
         "set XSCHED_SOCKET=PATH for your programs and the command line.";
}

bool ready_socket_dir(const std::string& socket, std::optional<gid_t> group, bool socket_named, std::string* err) {
  const auto slash = socket.rfind('/');
  if (slash == std::string::npos || slash == 0) return true;
  const std::string dir = socket.substr(0, slash);
  const mode_t mode = socket_dir_mode(group.has_value());
  const bool made = mkdir(dir.c_str(), mode) == 0;
  if (!made && errno != EEXIST) {
    *err = "cannot create " + dir + ": " + std::strerror(errno);
    return false;
  }
  // Opened, not named again: what is checked is what is changed.
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    *err = errno == ENOTDIR || errno == ELOOP ? dir + " exists and is not a directory"
                                              : "cannot open " + dir + ": " + std::strerror(errno);
    return false;
  }
  struct stat st{};
  const uid_t me = geteuid();
  bool ok = fstat(fd, &st) == 0;
  if (!ok) {
    *err = "cannot examine " + dir + ": " + std::strerror(errno);
  } else if (st.st_uid != me && st.st_uid != 0) {
    *err = foreign_dir_advice(dir, st.st_uid, socket_named);
    ok = false;
  } else if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    *err = dir + " is writable by everyone: refusing to serve from it";
    ok = false;
  } else if (made || (group.has_value() && st.st_uid == me && (st.st_gid != *group || (st.st_mode & 07777) != mode))) {
    // mkdir's mode passed through the umask; an existing one gets the group's mode.
    if ((group.has_value() && fchown(fd, static_cast<uid_t>(-1), *group) != 0) || fchmod(fd, mode) != 0) {
      *err = group.has_value() ? "cannot give " + dir + " to its group (its members could not reach the socket): " +
                                     std::strerror(errno)
                               : "cannot set the mode of " + dir + ": " + std::strerror(errno);
      ok = false;
    } else if (!made) {
      const struct group* g = getgrgid(*group);
      const std::string name = g != nullptr ? g->gr_name : std::to_string(*group);
      log(LogLevel::kInfo, "gave %s to group %s, mode %04o, so that its members reach the socket", dir.c_str(),
          name.c_str(), static_cast<unsigned>(mode));
    }
  }
  close(fd);
  return ok;
}

}  // namespace xsched::daemon

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

bool ready_socket_dir(const std::string& socket, const std::string& group, bool socket_named, std::string* err) {
  const auto slash = socket.rfind('/');
  if (slash == std::string::npos || slash == 0) return true;
  const std::string dir = socket.substr(0, slash);
  // Opened, not named again: what is checked is what is changed.
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  // Missing, or not a directory: the daemon creates it, or refuses it saying why.
  if (fd < 0) return true;
  struct stat st{};
  bool ok = fstat(fd, &st) == 0;
  const uid_t me = geteuid();
  if (ok && st.st_uid != me && st.st_uid != 0) {
    *err = foreign_dir_advice(dir, st.st_uid, socket_named);
    ok = false;
  } else if (ok && !group.empty() && st.st_uid == me) {
    // An unknown group: the daemon refuses it, saying so.
    const struct group* g = getgrnam(group.c_str());
    const mode_t mode = socket_dir_mode(true);
    if (g != nullptr && (st.st_gid != g->gr_gid || (st.st_mode & 07777) != mode)) {
      if (fchown(fd, static_cast<uid_t>(-1), g->gr_gid) != 0 || fchmod(fd, mode) != 0) {
        *err = "cannot give " + dir + " to group " + group + " (its members could not reach the socket): " +
               std::strerror(errno);
        ok = false;
      } else {
        log(LogLevel::kInfo, "gave %s to group %s, mode %04o, so that its members reach the socket", dir.c_str(),
            group.c_str(), static_cast<unsigned>(mode));
      }
    }
  }
  close(fd);
  return ok;
}

}  // namespace xsched::daemon

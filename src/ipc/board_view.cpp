#include "ipc/board_view.h"

#include <fcntl.h>
#include <sys/stat.h>

namespace xsched::ipc {

const char* board_fd_problem(int fd) {
  struct stat st{};
  if (fstat(fd, &st) != 0) return "it cannot be examined";
  if (!S_ISREG(st.st_mode)) return "it is not a memory file";
  if (st.st_size != static_cast<off_t>(sizeof(Board))) return "its size is not the board's";
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & kBoardSeals) != kBoardSeals) return "it is not sealed against shrinking and growing";
  return nullptr;
}

}  // namespace xsched::ipc

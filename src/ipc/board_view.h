// The agent's view of the board (board.h): what it reads of what xschedd
// wrote, each thing checked before use. Nothing a daemon sends or writes may
// stop the program: a board that could lose pages under the mapping is
// refused before it is mapped.
#pragma once

#include "ipc/board.h"

namespace xsched::ipc {

// Why the board descriptor `fd` is not fit to map, or nullptr if it is: its
// size must be sizeof(Board) and its seals kBoardSeals (the daemon's), so
// that no one can shrink it under the process's mapping.
const char* board_fd_problem(int fd);

}  // namespace xsched::ipc

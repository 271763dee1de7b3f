// `xsched run --mps`: makes the program a client of the CUDA MPS control
// daemon of the xschedd it registers with (xschedd --mps), so that its
// kernels share the GPU with other clients' instead of taking turns.
#pragma once

#include <string>

namespace xsched::cli {

// mode: "auto" joins when that xschedd runs one, "on" requires it, "off"
// leaves the environment alone. A CUDA_MPS_PIPE_DIRECTORY already set
// (the user's own MPS) is kept, and so is a program that schedules itself
// (XSCHED_SCHEDULER=local). sm_percent (1..100, 0: none) limits the
// program's kernels to that share of the SMs (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE),
// leaving the rest to other clients. Returns "" or why it cannot.
std::string join_mps(const std::string& mode, int sm_percent);

}  // namespace xsched::cli

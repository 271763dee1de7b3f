// One stream operation as the driver call it stands for, on a given
// stream: the one table from Op to driver entry point.
#pragma once

#include "hal/cuda/cuda_command.h"
#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

// The driver call of c on stream s (CUDA_ERROR_NOT_SUPPORTED where the
// driver lacks the entry point).
CUresult issue_call(const Driver& d, const Call& c, CUstream s);

// The driver call's name, for messages.
const char* op_name(Op op);

// Whether the operation is a kernel launch that a partition of the device
// (partition.h) confines. Not a graph launch: measured on the H100, a graph
// launched on a green context's stream still runs on the whole device
// (bench/results/probes/README.md).
constexpr bool runs_kernels(Op op) {
  return op == Op::kLaunch || op == Op::kLaunchCooperative || op == Op::kLaunchEx;
}

}  // namespace xsched::cuda

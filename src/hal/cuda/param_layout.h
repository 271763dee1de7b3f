// The sizes of a kernel's parameters, as the driver reports them
// (cuFuncGetParamInfo / cuKernelGetParamInfo, CUDA 12.4+): what a persisted
// launch must copy out of the caller's kernelParams. Looked up once per
// function and kept for the process.
#pragma once

#include <cstddef>
#include <vector>

#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

struct ParamLayout {
  std::vector<std::size_t> sizes;
};

// The layout of f (a CUfunction or a CUkernel), or nullptr when the driver
// cannot tell (older drivers): the caller must then launch at once.
const ParamLayout* param_layout(const Driver& d, CUfunction f);

// Forgets every layout: function handles may be reused once modules or
// libraries are unloaded.
void forget_param_layouts();

}  // namespace xsched::cuda

// The driver symbols libxsched_cuda.so exports (driver_exports.txt): each
// has a weak trampoline (driver_trampolines.s, generated) that forwards to
// the real driver's function of the same name, resolved on first call.
#pragma once

#include <cstddef>

namespace xsched::interpose {

// The names, in the order of driver_exports.txt (sorted), and their number.
const char* const* export_names();
size_t export_count();

// A forwarded call with nothing to forward to fails without touching its
// arguments: without a real driver every call returns
// CUDA_ERROR_NOT_INITIALIZED (3), as a driver does before a successful
// cuInit; a symbol the real driver lacks (an older driver) returns
// CUDA_ERROR_NOT_FOUND (500), which is what cuGetProcAddress says of it.

}  // namespace xsched::interpose

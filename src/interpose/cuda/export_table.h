// The driver symbols libxsched_cuda.so exports (driver_exports.txt): each
// has a weak trampoline (driver_trampolines.s, generated) that forwards to
// the real driver's function of the same name, resolved on first call. A
// wrapper of the interposer (a strong definition of the same name, in
// wrap_*.cpp) takes the name instead: what the library exports under a
// driver name is its wrapper, or else its trampoline.
#pragma once

#include <cstddef>

namespace xsched::interpose {

// The names, in the order of driver_exports.txt (sorted), and their number.
const char* const* export_names();
size_t export_count();

// The interposer's own function for an exported driver symbol name, as the
// real libcuda.so.1 spells it ("cuLaunchKernel_ptsz", "cuMemcpyHtoD_v2"), or
// nullptr when that entry point is passed through (its export is a
// trampoline, or it is no driver export). The wrappers are found by what the
// library exports, so a wrapper cannot be left out: cuGetProcAddress hands
// out exactly what a program linked with -lcuda calls.
void* find_wrapper(const char* export_name);

// A forwarded call with nothing to forward to fails without touching its
// arguments: without a real driver every call returns
// CUDA_ERROR_NOT_INITIALIZED (3), as a driver does before a successful
// cuInit; a symbol the real driver lacks (an older driver) returns
// CUDA_ERROR_NOT_FOUND (500), which is what cuGetProcAddress says of it.

}  // namespace xsched::interpose

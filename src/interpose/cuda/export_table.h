// The driver symbols libxsched_cuda.so exports (driver_exports.txt): each
// has a weak trampoline (driver_trampolines.s, generated) that forwards to
// the real driver's function of the same name, resolved on first call.
#pragma once

#include <cstddef>

namespace xsched::interpose {

// The names, in the order of driver_exports.txt (sorted), and their number.
const char* const* export_names();
size_t export_count();

// The index of `name` in export_names(), or -1 when it is not a driver export.
long export_index(const char* name);

// What a forwarded call becomes when there is nothing to forward it to:
// without a real driver every call returns CUDA_ERROR_NOT_INITIALIZED (3), as
// a driver would before a successful cuInit; a symbol this driver does not
// have returns CUDA_ERROR_NOT_FOUND (500), as cuGetProcAddress says for it.
int missing_driver_result();
int missing_symbol_result();

}  // namespace xsched::interpose

// The real NVIDIA driver library behind the interposer: libcuda.so.1,
// found as common/real_library.h says, through XSCHED_REAL_LIBCUDA, the
// dynamic linker's cache, or the standard driver folders
// (/usr/local/nvidia/lib64, /usr/local/nvidia/lib, /usr/lib/x86_64-linux-gnu,
// /usr/lib64, /usr/lib, /lib/x86_64-linux-gnu, /usr/lib/wsl/lib); a library
// without cuInit is not the driver.
#pragma once

namespace xsched::interpose {

// The dlopen handle of the real driver, or nullptr if there is none. Safe
// from any thread; after the first call, one atomic load.
void* real_driver();

// dlsym of `name` in the real driver; nullptr if it or the symbol is missing.
void* real_symbol(const char* name);

// Whether the search has finished (with or without a driver). False while
// it runs: a call that re-enters the interposer from a candidate's
// constructor sees no driver but must not remember that.
bool real_driver_searched();

// The path the driver was opened from; "" when there is none.
const char* real_driver_path();

// Why no driver was found; "" when one was. Both strings live for the process.
const char* real_driver_error();

}  // namespace xsched::interpose

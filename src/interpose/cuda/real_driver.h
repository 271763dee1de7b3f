// The real NVIDIA driver library behind the interposer.
//
// Found once, lazily, on the first call that needs it, never in a library
// constructor: LD_PRELOAD puts the interposer into every process, CUDA or
// not. Search order:
//   1. XSCHED_REAL_LIBCUDA (a path; if it fails, that is the answer: nothing
//      else is tried, so a wrong setting is never silently replaced);
//   2. the libcuda.so.1 entries of /etc/ld.so.cache (x86-64 glibc);
//   3. libcuda.so.1 in /usr/local/nvidia/lib64, /usr/local/nvidia/lib,
//      /usr/lib/x86_64-linux-gnu, /usr/lib64, /usr/lib, /lib/x86_64-linux-gnu,
//      /usr/lib/wsl/lib.
// A candidate that is the interposer itself (same real path) or exports
// xsched_interposer_abi (another copy of it) is rejected, as is a library
// without cuInit. The chosen one is opened RTLD_NOW | RTLD_LOCAL, logged at
// info level; if none is found the reason is logged once at error level.
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

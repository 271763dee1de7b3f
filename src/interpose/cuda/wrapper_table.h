// The driver entry points the interposer handles itself: everything else is
// forwarded untouched to the real driver.
#pragma once

namespace xsched::interpose {

// The interposer's own function for an exported driver symbol name, as the
// real libcuda.so.1 spells it ("cuLaunchKernel_ptsz", "cuMemcpyHtoD_v2"), or
// nullptr when that entry point is passed through.
void* find_wrapper(const char* export_name);

}  // namespace xsched::interpose

// Where AMD's HIP runtime library is found (hal/common/real_library.h
// searches by this): by the HIP interposer, for the runtime behind it, and by
// the C API's HIP platform, which calls the runtime directly.
#pragma once

#include "hal/common/real_library.h"

namespace xsched::hip {

inline constexpr const char* kRuntimeFolders[] = {"/opt/rocm/lib", "/opt/rocm/hip/lib", "/usr/lib/x86_64-linux-gnu",
                                                  "/usr/lib64", "/usr/lib", nullptr};

inline constexpr hal::LibrarySpec kRuntimeLibrary = {
    .soname = "libamdhip64.so",
    .env_var = "XSCHED_REAL_LIBHIP",
    .folders = kRuntimeFolders,
    .entry_symbol = "hipInit",
    .platform = "HIP",
    .kind = "runtime",
    .vendor = "AMD's ROCm",
    .calls_return = "hipErrorNotInitialized",
};

}  // namespace xsched::hip

// Where the NVIDIA driver library is found (hal/common/real_library.h
// searches by this): by the interposer, for the driver behind it, and by the
// C API's CUDA platform, which calls the driver directly.
#pragma once

#include "hal/common/real_library.h"

namespace xsched::cuda {

inline constexpr const char* kDriverFolders[] = {
    "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64",
    "/usr/lib",                "/lib/x86_64-linux-gnu", "/usr/lib/wsl/lib",           nullptr,
};

inline constexpr hal::LibrarySpec kDriverLibrary = {
    .soname = "libcuda.so.1",
    .env_var = "XSCHED_REAL_LIBCUDA",
    .folders = kDriverFolders,
    .entry_symbol = "cuInit",
    .platform = "CUDA",
    .kind = "driver",
    .vendor = "the NVIDIA driver",
    .calls_return = "CUDA_ERROR_NOT_INITIALIZED",
};

}  // namespace xsched::cuda

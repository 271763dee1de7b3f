// The NVIDIA driver behind the CUDA interposer: what common/real_library.h
// looks for, and the marker that tells any copy of the interposer apart from it.
#include "interpose/cuda/real_driver.h"

#include "interpose/common/real_library.h"
#include "interpose/cuda/export.h"

extern "C" const int xsched_interposer_abi = 1;

namespace xsched::interpose {
namespace {

constexpr const char* kFolders[] = {
    "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64",
    "/usr/lib",                "/lib/x86_64-linux-gnu", "/usr/lib/wsl/lib",           nullptr,
};

constexpr LibrarySpec kDriver = {
    .soname = "libcuda.so.1",
    .env_var = "XSCHED_REAL_LIBCUDA",
    .folders = kFolders,
    .entry_symbol = "cuInit",
    .platform = "CUDA",
    .kind = "driver",
    .vendor = "the NVIDIA driver",
    .calls_return = "CUDA_ERROR_NOT_INITIALIZED",
};

constinit RealLibrary g_driver{kDriver};

}  // namespace

void* real_driver() { return g_driver.handle(); }
void* real_symbol(const char* name) { return g_driver.symbol(name); }
bool real_driver_searched() { return g_driver.searched(); }
const char* real_driver_path() { return g_driver.path(); }
const char* real_driver_error() { return g_driver.error(); }

}  // namespace xsched::interpose

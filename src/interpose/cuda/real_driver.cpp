// The NVIDIA driver behind the CUDA interposer (hal/cuda/driver_library.h
// says where it is looked for), and the marker that tells any copy of the
// interposer apart from it.
#include "interpose/cuda/real_driver.h"

#include "hal/cuda/driver_library.h"
#include "hal/common/real_library.h"
#include "interpose/cuda/export.h"

extern "C" const int xsched_interposer_abi = 1;

namespace xsched::interpose {
namespace {

constinit hal::RealLibrary g_driver{cuda::kDriverLibrary, "CUDA interposer"};

}  // namespace

void* real_driver() { return g_driver.handle(); }
void* real_symbol(const char* name) { return g_driver.symbol(name); }
bool real_driver_searched() { return g_driver.searched(); }
const char* real_driver_path() { return g_driver.path(); }
const char* real_driver_error() { return g_driver.error(); }

}  // namespace xsched::interpose

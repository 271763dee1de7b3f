#include "hal/cuda/cuda_driver.h"

#include <cstdio>

namespace xsched::cuda {

const char* Driver::load(void* (*resolve)(const char* name)) {
#define XS_CUDA_DRIVER_RESOLVE(fn) fn = reinterpret_cast<decltype(fn)>(resolve(#fn));
  XS_CUDA_DRIVER_ENTRY_POINTS(XS_CUDA_DRIVER_RESOLVE)
#undef XS_CUDA_DRIVER_RESOLVE
#define XS_CUDA_DRIVER_CHECK(fn) \
  if (fn == nullptr) return #fn;
  XS_CUDA_DRIVER_REQUIRED(XS_CUDA_DRIVER_CHECK)
#undef XS_CUDA_DRIVER_CHECK
  return nullptr;
}

const char* Driver::error_name(CUresult r, char (&buf)[32]) const {
  const char* name = nullptr;
  if (cuGetErrorName != nullptr && cuGetErrorName(r, &name) == CUDA_SUCCESS && name != nullptr) return name;
  std::snprintf(buf, sizeof buf, "CUresult %d", static_cast<int>(r));
  return buf;
}

}  // namespace xsched::cuda

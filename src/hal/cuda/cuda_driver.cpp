#include "hal/cuda/cuda_driver.h"

#include <cstdio>

namespace xsched::cuda {

const char* Driver::load(void* (*resolve)(const char* name)) {
  const char* missing = nullptr;
#define XS_CUDA_DRIVER_RESOLVE_REQUIRED(fn)                  \
  fn = reinterpret_cast<decltype(fn)>(resolve(#fn));         \
  if (fn == nullptr && missing == nullptr) missing = #fn;
#define XS_CUDA_DRIVER_RESOLVE_OPTIONAL(fn) fn = reinterpret_cast<decltype(fn)>(resolve(#fn));
  XS_CUDA_DRIVER_REQUIRED(XS_CUDA_DRIVER_RESOLVE_REQUIRED)
  XS_CUDA_DRIVER_OPTIONAL(XS_CUDA_DRIVER_RESOLVE_OPTIONAL)
#undef XS_CUDA_DRIVER_RESOLVE_REQUIRED
#undef XS_CUDA_DRIVER_RESOLVE_OPTIONAL
  return missing;
}

const char* Driver::error_name(CUresult r, char (&buf)[32]) const {
  const char* name = nullptr;
  if (cuGetErrorName != nullptr && cuGetErrorName(r, &name) == CUDA_SUCCESS && name != nullptr) return name;
  std::snprintf(buf, sizeof buf, "CUresult %d", static_cast<int>(r));
  return buf;
}

}  // namespace xsched::cuda

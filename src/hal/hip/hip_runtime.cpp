#include "hal/hip/hip_runtime.h"

#include <cstdio>

namespace xsched::hip {

const char* Runtime::load(void* (*resolve)(const char* name)) {
#define XS_HIP_RUNTIME_RESOLVE(name) name = reinterpret_cast<decltype(name)>(resolve(#name));
  XS_HIP_RUNTIME_REQUIRED(XS_HIP_RUNTIME_RESOLVE)
  XS_HIP_RUNTIME_OPTIONAL(XS_HIP_RUNTIME_RESOLVE)
#undef XS_HIP_RUNTIME_RESOLVE
  hipStreamGetDevice = reinterpret_cast<decltype(hipStreamGetDevice)>(resolve("hipStreamGetDevice"));
  void* ext = resolve("hipExtModuleLaunchKernel");
  if (ext == nullptr) ext = resolve(kExtModuleLaunchKernelCxx);
  hipExtModuleLaunchKernel = reinterpret_cast<decltype(hipExtModuleLaunchKernel)>(ext);
#define XS_HIP_RUNTIME_CHECK(name) \
  if (name == nullptr) return #name;
  XS_HIP_RUNTIME_REQUIRED(XS_HIP_RUNTIME_CHECK)
#undef XS_HIP_RUNTIME_CHECK
  return nullptr;
}

const char* Runtime::error_name(hipError_t r, char (&buf)[32]) const {
  if (hipGetErrorName != nullptr) {
    if (const char* n = hipGetErrorName(r); n != nullptr) return n;
  }
  std::snprintf(buf, sizeof buf, "hipError_t %d", static_cast<int>(r));
  return buf;
}

}  // namespace xsched::hip

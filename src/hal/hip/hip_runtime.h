// The HIP runtime's entry points as one table, resolved by name from the
// library the caller says is the runtime (libamdhip64.so, or a fake in
// tests), in the manner of hal/cuda/cuda_driver.h. The HIP hardware queue and
// the C API's HIP platform call the runtime only through it.
#pragma once

#include "hal/hip/hip_api.h"

namespace xsched::hip {

// X(name): the entry points the queues use. Those after the first group are
// optional: a runtime that lacks them leaves the field null and the caller
// copes (no gates without hipStreamWaitValue32 and host registration).
#define XS_HIP_RUNTIME_REQUIRED(X)                                                                   \
  X(hipGetErrorName) X(hipGetDevice) X(hipSetDevice) X(hipStreamSynchronize) X(hipStreamQuery)       \
  X(hipEventCreateWithFlags) X(hipEventRecord) X(hipEventSynchronize) X(hipEventQuery)               \
  X(hipEventDestroy) X(hipModuleLaunchKernel) X(hipMemcpyAsync) X(hipMemsetAsync)
// hipLaunchHostFunc came with ROCm 5.3: before it, host functions are refused.
#define XS_HIP_RUNTIME_OPTIONAL(X)                                                                   \
  X(hipLaunchHostFunc) X(hipEventElapsedTime) X(hipStreamWaitValue32) X(hipHostRegister) X(hipHostUnregister)             \
  X(hipHostGetDevicePointer) X(hipDeviceGetUuid) X(hipDeviceGetName) X(hipDeviceGetAttribute)        \
  X(hipPointerGetAttributes)

// hipExtModuleLaunchKernel's name where hip_ext.h declares it with C++
// linkage (ROCm 5 and earlier): (hipFunction_t, uint32_t x6, size_t,
// hipStream_t, void**, void**, hipEvent_t, hipEvent_t, uint32_t). A macro:
// the HIP interposer defines a function under it (an asm label).
#define XS_HIP_EXT_MODULE_LAUNCH_KERNEL_CXX \
  "_Z24hipExtModuleLaunchKernelP18ihipModuleSymbol_tjjjjjjmP12ihipStream_tPPvS4_P11ihipEvent_tS6_j"
inline constexpr const char* kExtModuleLaunchKernelCxx = XS_HIP_EXT_MODULE_LAUNCH_KERNEL_CXX;

struct Runtime {
#define XS_HIP_RUNTIME_FIELD(name) decltype(&::name) name = nullptr;
  XS_HIP_RUNTIME_REQUIRED(XS_HIP_RUNTIME_FIELD)
  XS_HIP_RUNTIME_OPTIONAL(XS_HIP_RUNTIME_FIELD)
#undef XS_HIP_RUNTIME_FIELD
  // hipStreamGetDevice where the runtime has it (newer ROCm; not in every
  // header, so typed here): a stream's own device, whatever the thread's.
  hipError_t (*hipStreamGetDevice)(hipStream_t, hipDevice_t*) = nullptr;
  // hipExtModuleLaunchKernel (hip_ext.h): a C name from ROCm 6, C++ linkage
  // before (kExtModuleLaunchKernelCxx); whichever the runtime exports.
  hipError_t (*hipExtModuleLaunchKernel)(hipFunction_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t,
                                         size_t, hipStream_t, void**, void**, hipEvent_t, hipEvent_t,
                                         uint32_t) = nullptr;

  // Resolves every entry point with resolve(name). Returns the name of the
  // first required one that is missing, or nullptr.
  const char* load(void* (*resolve)(const char* name));

  // "hipErrorInvalidValue", or "hipError_t <n>".
  const char* error_name(hipError_t r, char (&buf)[32]) const;
};

}  // namespace xsched::hip

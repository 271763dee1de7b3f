// The real driver's entry points that the CUDA hardware queue and the
// interposer call themselves. They are resolved by name from whatever the
// caller says is the real driver (the interposer's dlopen handle, or a fake
// driver in tests), never through our own exported wrappers.
#pragma once

#include "hal/cuda/cuda_api.h"

namespace xsched::cuda {

#define XS_CUDA_DRIVER_REQUIRED(X)                                                              \
  X(cuGetErrorName) X(cuCtxGetCurrent) X(cuCtxSetCurrent) X(cuStreamGetCtx) X(cuStreamGetFlags) \
  X(cuStreamGetPriority) X(cuStreamCreate) X(cuStreamDestroy_v2) X(cuStreamSynchronize)         \
  X(cuStreamQuery) X(cuStreamWaitEvent) X(cuEventCreate) X(cuEventDestroy_v2) X(cuEventRecord)  \
  X(cuEventSynchronize) X(cuEventQuery) X(cuCtxSynchronize) X(cuLaunchKernel)                   \
  X(cuMemcpyAsync) X(cuMemcpyHtoDAsync_v2) X(cuMemcpyDtoHAsync_v2) X(cuMemcpyDtoDAsync_v2)      \
  X(cuMemsetD8Async) X(cuMemsetD16Async) X(cuMemsetD32Async) X(cuLaunchHostFunc)                \
  X(cuStreamAddCallback)

// Entry points that older drivers may lack: null then, and the callers cope.
#define XS_CUDA_DRIVER_OPTIONAL(X)                                                                       \
  X(cuLaunchKernelEx) X(cuLaunchCooperativeKernel) X(cuEventRecordWithFlags) X(cuMemcpy2DAsync_v2)       \
  X(cuMemcpy3DAsync_v2) X(cuMemcpyPeerAsync) X(cuMemsetD2D8Async) X(cuMemsetD2D16Async)                   \
  X(cuMemsetD2D32Async) X(cuGraphLaunch) X(cuMemFreeAsync) X(cuStreamWaitValue32_v2)                    \
  X(cuStreamWaitValue64_v2) X(cuStreamWriteValue32_v2) X(cuStreamWriteValue64_v2) X(cuStreamBatchMemOp_v2) \
  X(cuFuncGetParamInfo) X(cuKernelGetParamInfo) X(cuThreadExchangeStreamCaptureMode) X(cuPointerGetAttribute) X(cuFuncGetName) \
  X(cuMemHostAlloc) X(cuMemHostGetDevicePointer_v2) X(cuFuncIsLoaded) X(cuFuncLoad) X(cuKernelGetFunction) X(cuEventElapsedTime_v2) \
  X(cuCtxGetDevice) X(cuMemHostRegister_v2) X(cuStreamCreateWithPriority)                                  \
  X(cuDeviceGetDevResource) X(cuDevSmResourceSplitByCount) X(cuDevResourceGenerateDesc) X(cuGreenCtxCreate) \
  X(cuGreenCtxDestroy) X(cuCtxFromGreenCtx) X(cuGreenCtxStreamCreate) X(cuDeviceGetUuid_v2) \
  X(cuDeviceGetName)

struct Driver {
#define XS_CUDA_DRIVER_FIELD(name) decltype(&::name) name = nullptr;
  XS_CUDA_DRIVER_REQUIRED(XS_CUDA_DRIVER_FIELD)
  XS_CUDA_DRIVER_OPTIONAL(XS_CUDA_DRIVER_FIELD)
#undef XS_CUDA_DRIVER_FIELD

  // Resolves every entry point with resolve(name). Returns the name of the
  // first required one that is missing, or nullptr when all are there.
  const char* load(void* (*resolve)(const char* name));

  // "CUDA_ERROR_INVALID_VALUE", or "CUresult <n>" for codes the driver does not name.
  const char* error_name(CUresult r, char (&buf)[32]) const;
};

}  // namespace xsched::cuda

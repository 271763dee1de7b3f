// The real driver's entry points as one table: a field for every name the
// driver exports (the interposer's driver_exports.txt, expanded at configure
// time into driver_entry_points.inc), resolved by name from whatever the
// caller says is the real driver (the interposer's dlopen handle, or a fake
// driver in tests), never through our own exported wrappers. The CUDA
// hardware queue and every call the interposer makes to the driver go
// through it: a new driver call needs no edit here.
#pragma once

#include "hal/cuda/cuda_api.h"
#include "hal/cuda/driver_entry_points.inc"  // XS_CUDA_DRIVER_ENTRY_POINTS(X): X(name) per driver export

namespace xsched::cuda {

// What the CUDA hardware queue cannot work without. A driver that lacks one
// of these (older drivers lack others: those fields are null, and each caller
// copes) has its streams go unscheduled.
#define XS_CUDA_DRIVER_REQUIRED(X)                                                              \
  X(cuGetErrorName) X(cuCtxGetCurrent) X(cuCtxSetCurrent) X(cuStreamGetCtx) X(cuStreamGetFlags) \
  X(cuStreamGetPriority) X(cuStreamCreate) X(cuStreamDestroy_v2) X(cuStreamSynchronize)         \
  X(cuStreamQuery) X(cuStreamWaitEvent) X(cuEventCreate) X(cuEventDestroy_v2) X(cuEventRecord)  \
  X(cuEventSynchronize) X(cuEventQuery) X(cuCtxSynchronize) X(cuLaunchKernel)                   \
  X(cuMemcpyAsync) X(cuMemcpyHtoDAsync_v2) X(cuMemcpyDtoHAsync_v2) X(cuMemcpyDtoDAsync_v2)      \
  X(cuMemsetD8Async) X(cuMemsetD16Async) X(cuMemsetD32Async) X(cuLaunchHostFunc)                \
  X(cuStreamAddCallback)

struct Driver {
#define XS_CUDA_DRIVER_FIELD(name) decltype(&::name) name = nullptr;
  XS_CUDA_DRIVER_ENTRY_POINTS(XS_CUDA_DRIVER_FIELD)
#undef XS_CUDA_DRIVER_FIELD

  // Resolves every entry point with resolve(name) (null: the driver lacks
  // it). Returns the name of the first one of XS_CUDA_DRIVER_REQUIRED that
  // is missing, or nullptr when the queues have all they need.
  const char* load(void* (*resolve)(const char* name));

  // "CUDA_ERROR_INVALID_VALUE", or "CUresult <n>" for codes the driver does not name.
  const char* error_name(CUresult r, char (&buf)[32]) const;
};

}  // namespace xsched::cuda

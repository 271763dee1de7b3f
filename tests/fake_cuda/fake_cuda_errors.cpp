// Error names and descriptions: cuGetErrorName, cuGetErrorString.

#include "fake_cuda_internal.h"

namespace fake_cuda {

namespace {

struct ErrorInfo {
  CUresult code;
  const char* name;
  const char* text;
};

constexpr ErrorInfo kErrors[] = {
#include "fake_cuda_errors.inc"
};

const ErrorInfo* error_info(CUresult e) {
  for (const ErrorInfo& i : kErrors)
    if (i.code == e) return &i;
  return nullptr;
}

}  // namespace

}  // namespace fake_cuda

using namespace fake_cuda;  // the driver's internals, for the entry points below

FAKE_EXPORT CUresult CUDAAPI cuGetErrorName(CUresult error, const char** pStr) {
  FAKE_ENTRY();
  if (pStr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const ErrorInfo* i = error_info(error);
  *pStr = i != nullptr ? i->name : nullptr;
  return i != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

FAKE_EXPORT CUresult CUDAAPI cuGetErrorString(CUresult error, const char** pStr) {
  FAKE_ENTRY();
  if (pStr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const ErrorInfo* i = error_info(error);
  *pStr = i != nullptr ? i->text : nullptr;
  return i != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

#include "interpose/cuda/to_cuda.h"

#include "hal/cuda/cuda_queue.h"
#include "interpose/cuda/streams.h"

namespace xsched::interpose {

CUresult to_cuda_slow(xs_result_t r, const StreamQueue* sq, CUresult native) {
  switch (r) {
    case XS_OK: return CUDA_SUCCESS;
    case XS_ERR_PLATFORM: {
      const CUresult sticky = sq != nullptr ? cuda::sticky_error(sq->hw) : CUDA_SUCCESS;
      if (sticky != CUDA_SUCCESS) return sticky;
      return native != CUDA_SUCCESS ? native : CUDA_ERROR_UNKNOWN;
    }
    case XS_ERR_NO_MEMORY: return CUDA_ERROR_OUT_OF_MEMORY;
    case XS_ERR_STATE: return CUDA_ERROR_INVALID_HANDLE;
    case XS_ERR_TIMEOUT: return CUDA_ERROR_NOT_READY;
    case XS_ERR_INVALID_ARG: return CUDA_ERROR_INVALID_VALUE;
    default: return CUDA_ERROR_UNKNOWN;
  }
}

}  // namespace xsched::interpose

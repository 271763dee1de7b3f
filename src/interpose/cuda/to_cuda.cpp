// The CUresult an XQueue result stands for (state.h).
#include "hal/cuda/cuda_queue.h"
#include "interpose/cuda/state.h"

namespace xsched::interpose {

CUresult to_cuda(xs_result_t r, const StreamQueue* sq) {
  switch (r) {
    case XS_OK: return CUDA_SUCCESS;
    case XS_ERR_PLATFORM: {
      const CUresult deferred = sq != nullptr ? cuda::deferred_error(sq->hw) : CUDA_SUCCESS;
      if (deferred != CUDA_SUCCESS) return deferred;
      const CUresult here = cuda::last_error_in_thread();
      return here != CUDA_SUCCESS ? here : CUDA_ERROR_UNKNOWN;
    }
    case XS_ERR_NO_MEMORY: return CUDA_ERROR_OUT_OF_MEMORY;
    case XS_ERR_STATE: return CUDA_ERROR_INVALID_HANDLE;
    case XS_ERR_TIMEOUT: return CUDA_ERROR_NOT_READY;
    case XS_ERR_INVALID_ARG: return CUDA_ERROR_INVALID_VALUE;
    default: return CUDA_ERROR_UNKNOWN;
  }
}

}  // namespace xsched::interpose

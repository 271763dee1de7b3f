// The CUresult an XQueue result stands for.
#pragma once

#include "core/xqueue.h"
#include "hal/cuda/cuda_api.h"

namespace xsched::interpose {

struct StreamQueue;

CUresult to_cuda_slow(xs_result_t r, const StreamQueue* sq, CUresult native);

// r from an XQueue call on sq's queue (sq may be null). XS_ERR_PLATFORM is
// the queue's sticky CUDA error if it has one, else native: the driver's
// error that a launch or persist made in the call itself left in the
// command's error slot (make_command).
inline CUresult to_cuda(xs_result_t r, const StreamQueue* sq, CUresult native = CUDA_SUCCESS) {
  if (r == XS_OK) [[likely]] return CUDA_SUCCESS;
  return to_cuda_slow(r, sq, native);
}

}  // namespace xsched::interpose

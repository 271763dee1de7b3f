// How a queued CUDA call reaches the driver, for the wrappers (wrap_*.cpp):
// find the stream's queue once, build the call (cuda::Call::of), submit. The
// call becomes a command on the queue, launched at once or persisted, never
// blocking on a suspended queue; when no queue takes it (a stream being
// captured, no current context, an unknown handle, no driver) it goes
// straight to the driver, through its row's issue (hal/cuda/op_table.h).
#pragma once

#include <cstdint>
#include <memory>

#include "hal/cuda/call.h"
#include "interpose/cuda/streams.h"

namespace xsched::interpose {

struct Submitted {
  CUresult result = CUDA_SUCCESS;
  std::shared_ptr<StreamQueue> queue;  // the stream's queue; null: none (the call went to the driver)
  uint64_t seq = 0;                    // its command in queue, 0 if none
};

// call, made on stream s of an entry point whose handle 0 means the stream
// zero_is, where queue is s's queue (stream_queue(), may be null).
Submitted submit_to(std::shared_ptr<StreamQueue> queue, CUstream s, StreamKind zero_is, const cuda::Call& call);

// The trace line of a submitted call, made through entry point api.
void trace_submitted(const char* api, const Submitted& r, const cuda::Call& call, CUstream s);
// The same for a call that queue (null: none) took or not, with this result.
void trace_submitted(const char* api, CUresult result, const StreamQueue* queue, const cuda::Call& call, CUstream s);

// The whole of most wrappers: submits call to s's queue, traces it as api,
// and returns what the program sees.
CUresult submit_call(const char* api, CUstream s, StreamKind zero_is, const cuda::Call& call);

}  // namespace xsched::interpose

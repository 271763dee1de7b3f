#include "interpose/cuda/all_queues.h"

#include <new>

#include "hal/cuda/gates.h"
#include "hal/cuda/op_table.h"
#include "interpose/cuda/stream_registry.h"
#include "interpose/cuda/to_cuda.h"

namespace xsched::interpose {

void flush_all() {
  for (auto& q : live_queues(nullptr)) q->xq->flush();
}

void flush_launches_of(CUfunction f) {
  for (auto& q : live_queues(nullptr)) {
    if (!q->xq->has_unlaunched()) continue;
    q->xq->flush_matching([&](const Command& c) {
      const cuda::Call& call = cuda::call_of(c);
      const cuda::OpRow& row = cuda::op_row(call.op);
      return row.kernel != nullptr && row.kernel(call) == f;
    });
  }
}

void expedite_launched_everywhere() {
  if (!cuda::gates_in_use()) return;
  for (auto& q : live_queues(nullptr)) {
    const uint64_t launched = q->xq->launched();
    if (q->xq->completed() < launched && q->xq->expedited() < launched) q->xq->expedite(launched);
  }
}

CUresult wait_context(CUcontext ctx) {
  CUresult result = CUDA_SUCCESS;
  for (auto& q : live_queues(ctx)) {
    // What is launched, the caller's own driver wait covers.
    if (!q->xq->has_unlaunched()) continue;
    const xs_result_t r = q->xq->wait_all(-1);
    if (r != XS_OK && result == CUDA_SUCCESS) result = to_cuda(r, q.get());
  }
  return result;
}

std::vector<LaunchMark> mark_launched(CUcontext ctx) {
  std::vector<LaunchMark> marks;
  try {
    for (auto& q : live_queues(ctx)) marks.push_back({q, q->xq->launched()});
  } catch (const std::bad_alloc&) {
    marks.clear();  // the queues then find out by themselves, a little later
  }
  return marks;
}

void caught_up(const std::vector<LaunchMark>& marks) {
  for (const LaunchMark& m : marks) m.queue->xq->device_caught_up(m.launched);
}

}  // namespace xsched::interpose

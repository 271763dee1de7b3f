#include "interpose/cuda/submit.h"

#include <cstdio>

#include "core/thread_priority.h"
#include "hal/cuda/gates.h"
#include "hal/cuda/op_table.h"
#include "interpose/cuda/all_queues.h"
#include "interpose/cuda/driver.h"
#include "interpose/cuda/implicit_order.h"
#include "interpose/cuda/stream_registry.h"
#include "interpose/cuda/to_cuda.h"
#include "interpose/common/trace.h"

namespace xsched::interpose {
namespace {

CUresult issue_direct(const cuda::OpRow& row, const cuda::Call& call, CUstream stream) {
  const cuda::Driver* d = driver_entry_points();
  return d != nullptr ? row.issue(*d, call, stream) : CUDA_ERROR_NOT_INITIALIZED;
}

// A kernel the driver would load lazily at this launch is loaded first, with
// the gates open (gates.h): loading waits for every stream of the context.
void load_before_launch(CUfunction f, const StreamQueue& sq) {
  if (cuda::load_function_before_launch(*driver(), f, sq.ctx)) expedite_launched_everywhere();
}

// The call cannot be persisted (its data cannot be copied, or the driver
// runs it synchronously): everything before it goes first, then it.
CUresult launch_after_the_queue(StreamQueue& sq, const cuda::OpRow& row, const cuda::Call& call) {
  const xs_result_t r = sq.xq->flush();
  const CUresult result = r == XS_OK ? issue_direct(row, call, sq.stream) : to_cuda(r, &sq);
  lend_urgency_for_implicit_order(sq);
  return result;
}

// submit_to's work, on a queue the caller keeps alive (sq may be null);
// out->queue is left alone.
void submit_on(StreamQueue* sq, CUstream s, StreamKind zero_is, const cuda::Call& call, Submitted* out) {
  const cuda::OpRow& row = cuda::op_row(call.op);
  if (sq == nullptr || sq->capturing()) {
    out->result = issue_direct(row, call, sq != nullptr ? sq->stream : spelled_out(s, zero_is));
    return;
  }
  if (row.kernel != nullptr && cuda::gates_in_use()) load_before_launch(row.kernel(call), *sq);
  // A priority scope of the calling thread (xs_cuda_thread_priority_push)
  // gives the queue its priority before the command arrives. Unused, this
  // is one relaxed load.
  if (thread_priority_scopes_in_use()) apply_thread_priority(sq->xq);
  order_after_implicit_dependencies(*sq);
  CUresult native = CUDA_SUCCESS;
  const xs_result_t r = sq->xq->submit(cuda::make_command(call, &native), &out->seq);
  if (r == XS_ERR_UNSUPPORTED) {
    out->seq = 0;
    out->result = launch_after_the_queue(*sq, row, call);
    return;
  }
  lend_urgency_for_implicit_order(*sq);
  if (r == XS_OK) note_persisted_commands(*sq);
  out->result = to_cuda(r, sq, native);
}

}  // namespace

Submitted submit_to(std::shared_ptr<StreamQueue> queue, CUstream s, StreamKind zero_is, const cuda::Call& call) {
  Submitted out;
  out.queue = std::move(queue);
  submit_on(out.queue.get(), s, zero_is, call, &out);
  return out;
}

void trace_submitted(const char* api, CUresult result, const StreamQueue* queue, const cuda::Call& call, CUstream s) {
  const cuda::OpRow& row = cuda::op_row(call.op);
  if (row.describe == nullptr) {
    trace_call(api, result, nullptr);
    return;
  }
  char args[512];
  const auto id = queue != nullptr ? static_cast<unsigned long long>(queue->xq->id()) : 0ULL;
  row.describe(args, sizeof args, call, s, id, driver_entry_points());
  trace_call(api, result, "%s", args);
}

void trace_submitted(const char* api, const Submitted& r, const cuda::Call& call, CUstream s) {
  trace_submitted(api, r.result, r.queue.get(), call, s);
}

// Most calls: the queue is borrowed from this thread's stream cache, which
// holds it for the length of the call (nothing in it looks up another
// stream), so the call costs no reference-count traffic on the queue.
CUresult submit_call(const char* api, CUstream s, StreamKind zero_is, const cuda::Call& call) {
  StreamQueue* sq = borrowed_stream_queue(s, zero_is);
  Submitted r;
  submit_on(sq, s, zero_is, call, &r);
  if (trace_enabled()) trace_submitted(api, r.result, sq, call, s);
  return r.result;
}

}  // namespace xsched::interpose

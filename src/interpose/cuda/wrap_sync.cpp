// Synchronisation and events: what waits for a queue waits for its persisted
// commands too, and an event's record counts from when the application made
// it, not from when its queue launched it.
#include "hal/cuda/cuda_queue.h"
#include "interpose/cuda/all_queues.h"
#include "interpose/cuda/event_records.h"
#include "interpose/cuda/export.h"
#include "interpose/cuda/forward.h"
#include "interpose/cuda/implicit_order.h"
#include "interpose/cuda/stream_registry.h"
#include "interpose/cuda/submit.h"
#include "interpose/cuda/to_cuda.h"
#include "interpose/common/trace.h"

namespace xsched::interpose {
namespace {

CUcontext current_context() {
  CUcontext ctx = nullptr;
  if (driver() == nullptr || driver()->cuCtxGetCurrent(&ctx) != CUDA_SUCCESS) return nullptr;
  return ctx;
}

CUresult stream_synchronize(const char* api, StreamKind zero_is, CUstream s) {
  auto sq = find_stream_queue(s, zero_is);
  CUresult r = CUDA_SUCCESS;
  if (sq != nullptr) {
    // Once everything is launched the driver's own wait covers it, without
    // a hand-off to the queue's worker thread.
    const xs_result_t w = sq->xq->has_unlaunched() ? sq->xq->wait_all(-1) : XS_OK;
    const uint64_t launched = sq->xq->launched();  // what the driver's wait below covers
    r = w == XS_OK ? forward(&cuda::Driver::cuStreamSynchronize, sq->stream) : to_cuda(w, sq.get());
    const CUresult sticky = cuda::sticky_error(sq->hw);
    if (r == CUDA_SUCCESS && sticky != CUDA_SUCCESS) r = sticky;
    if (r == CUDA_SUCCESS) sq->xq->device_caught_up(launched);
  }
  // The per-thread stream itself may carry calls that went straight through.
  if (sq == nullptr || sq->kind == StreamKind::kPerThread) {
    const CUresult direct = forward(&cuda::Driver::cuStreamSynchronize, spelled_out(s, zero_is));
    if (r == CUDA_SUCCESS) r = direct;
  }
  if (trace_enabled()) {
    trace_call(api, r, "stream=%p queue=%llu", static_cast<void*>(s),
               sq != nullptr ? static_cast<unsigned long long>(sq->xq->id()) : 0ULL);
  }
  return r;
}

CUresult stream_query(const char* api, StreamKind zero_is, CUstream s) {
  auto sq = find_stream_queue(s, zero_is);
  CUresult r;
  if (sq != nullptr && sq->xq->has_unlaunched()) {
    r = CUDA_ERROR_NOT_READY;
  } else {
    const uint64_t launched = sq != nullptr ? sq->xq->launched() : 0;  // what a "done" covers
    r = forward(&cuda::Driver::cuStreamQuery, sq != nullptr ? sq->stream : spelled_out(s, zero_is));
    // A program that polls its stream until done has synchronised with it: its request is over.
    if (r == CUDA_SUCCESS && sq != nullptr) sq->xq->device_caught_up(launched);
  }
  if (trace_enabled()) trace_call(api, r, "stream=%p", static_cast<void*>(s));
  return r;
}

CUresult event_record(const char* api, StreamKind zero_is, CUevent e, CUstream s, bool with_flags, unsigned flags) {
  std::shared_ptr<StreamQueue> sq = stream_queue(s, zero_is);
  // An earlier record of e still persisted in another queue must reach the
  // driver first: launched after this one, it would become the event's
  // latest record there, and later queries and waits would see it instead.
  // (In the same queue, launches keep the order.)
  if (const PendingRecord prev = pending_record(e); prev.persisted && prev.queue != sq) prev.queue->xq->flush(prev.seq);
  const cuda::Call c = cuda::Call::of(cuda::Op::kEventRecord, cuda::EventOp{e, flags, with_flags});
  const Submitted r = submit_to(std::move(sq), s, zero_is, c);
  if (r.result == CUDA_SUCCESS) {
    note_event_record(e, r.queue, r.seq, r.queue != nullptr ? r.queue->capture_root() : nullptr);
  }
  if (trace_enabled()) trace_submitted(api, r, c, s);
  return r.result;
}

// Waiting on an event of a captured stream makes sq part of the capture:
// what it persisted goes first, what follows is captured.
void join_capture_of(const PendingRecord& rec, const std::shared_ptr<StreamQueue>& sq) {
  auto root = rec.capture_root.lock();
  if (root == nullptr || !root->capturing() || sq == nullptr || sq->capturing()) return;
  launch_everything_before(*sq);
  sq->xq->wait_all(-1);  // no completion event of ours may land in the capture
  sq->join_capture(root);
}

CUresult stream_wait_event(const char* api, StreamKind zero_is, CUstream s, CUevent e, unsigned flags) {
  std::shared_ptr<StreamQueue> sq = stream_queue(s, zero_is);
  const PendingRecord rec = pending_record(e);
  // The record must reach the driver before the wait can, and complete
  // before what follows the wait can run: the waiting queue lends its
  // urgency to the recording one up to that record (priority inheritance;
  // at Level 2 a held recording queue would otherwise stall the waiter
  // behind its gate for as long as the waiter keeps it held).
  if (rec.queue != nullptr) {
    if (rec.queue != sq) {
      rec.queue->xq->expedite(rec.seq);
    } else if (rec.persisted) {
      rec.queue->xq->flush(rec.seq);  // same queue: the persisted wait must see this record, not an older one
    }
  }
  join_capture_of(rec, sq);
  const cuda::Call c = cuda::Call::of(cuda::Op::kEventWait, cuda::EventOp{e, flags, false});
  const Submitted r = submit_to(std::move(sq), s, zero_is, c);
  if (trace_enabled()) trace_submitted(api, r, c, s);
  return r.result;
}

// explicit: a context named by the caller (cuCtxSynchronize_v2), else the current one.
CUresult context_synchronize(const char* api, CUcontext ctx, bool explicit_ctx) {
  CUresult r = ctx != nullptr ? wait_context(ctx) : CUDA_SUCCESS;
  const std::vector<LaunchMark> marks = ctx != nullptr ? mark_launched(ctx) : std::vector<LaunchMark>{};
  const CUresult direct = explicit_ctx ? forward(&cuda::Driver::cuCtxSynchronize_v2, ctx)
                                       : forward(&cuda::Driver::cuCtxSynchronize);
  if (r == CUDA_SUCCESS) r = direct;
  if (r == CUDA_SUCCESS) caught_up(marks);
  if (trace_enabled()) trace_call(api, r, "ctx=%p", static_cast<void*>(ctx));
  return r;
}

// A record still persisted has not been reached; one that completed tells
// its queue that the program has seen its work up to there.
CUresult event_query(CUevent e) {
  const PendingRecord rec = pending_record(e);
  const CUresult r = rec.persisted ? CUDA_ERROR_NOT_READY : forward(&cuda::Driver::cuEventQuery, e);
  if (r == CUDA_SUCCESS && rec.recorder != nullptr) rec.recorder->xq->device_caught_up(rec.seq);
  return r;
}

CUresult event_synchronize(CUevent e) {
  const PendingRecord rec = pending_record(e);
  CUresult r = CUDA_SUCCESS;
  if (rec.persisted) {
    const xs_result_t w = rec.queue->xq->wait(rec.seq, -1);
    if (w != XS_OK) r = to_cuda(w, rec.queue.get());
  }
  if (r == CUDA_SUCCESS) r = forward(&cuda::Driver::cuEventSynchronize, e);
  if (r == CUDA_SUCCESS && rec.recorder != nullptr) rec.recorder->xq->device_caught_up(rec.seq);
  return r;
}

template <class Fn>
CUresult elapsed_time(Fn cuda::Driver::*entry, float* ms, CUevent start, CUevent end) {
  const bool persisted = pending_record(start).persisted || pending_record(end).persisted;
  return persisted ? CUDA_ERROR_NOT_READY : forward(entry, ms, start, end);
}

}  // namespace
}  // namespace xsched::interpose

using xsched::interpose::StreamKind;
namespace ip = xsched::interpose;
namespace cu = xsched::cuda;

extern "C" {

XS_CUDA_EXPORT CUresult cuStreamSynchronize(CUstream s) {
  return ip::stream_synchronize(__func__, StreamKind::kLegacy, s);
}
XS_CUDA_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream s) {
  return ip::stream_synchronize(__func__, StreamKind::kPerThread, s);
}
XS_CUDA_EXPORT CUresult cuStreamQuery(CUstream s) { return ip::stream_query(__func__, StreamKind::kLegacy, s); }
XS_CUDA_EXPORT CUresult cuStreamQuery_ptsz(CUstream s) { return ip::stream_query(__func__, StreamKind::kPerThread, s); }

XS_CUDA_EXPORT CUresult cuEventRecord(CUevent e, CUstream s) {
  return ip::event_record(__func__, StreamKind::kLegacy, e, s, false, 0);
}
XS_CUDA_EXPORT CUresult cuEventRecord_ptsz(CUevent e, CUstream s) {
  return ip::event_record(__func__, StreamKind::kPerThread, e, s, false, 0);
}
XS_CUDA_EXPORT CUresult cuEventRecordWithFlags(CUevent e, CUstream s, unsigned flags) {
  return ip::event_record(__func__, StreamKind::kLegacy, e, s, true, flags);
}
XS_CUDA_EXPORT CUresult cuEventRecordWithFlags_ptsz(CUevent e, CUstream s, unsigned flags) {
  return ip::event_record(__func__, StreamKind::kPerThread, e, s, true, flags);
}
XS_CUDA_EXPORT CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned flags) {
  return ip::stream_wait_event(__func__, StreamKind::kLegacy, s, e, flags);
}
XS_CUDA_EXPORT CUresult cuStreamWaitEvent_ptsz(CUstream s, CUevent e, unsigned flags) {
  return ip::stream_wait_event(__func__, StreamKind::kPerThread, s, e, flags);
}

XS_CUDA_EXPORT CUresult cuEventQuery(CUevent e) {
  const CUresult r = ip::event_query(e);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "event=%p", static_cast<void*>(e));
  return r;
}
XS_CUDA_EXPORT CUresult cuEventSynchronize(CUevent e) {
  const CUresult r = ip::event_synchronize(e);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "event=%p", static_cast<void*>(e));
  return r;
}
XS_CUDA_EXPORT CUresult cuEventElapsedTime_v2(float* ms, CUevent start, CUevent end) {
  const CUresult r = ip::elapsed_time(&cu::Driver::cuEventElapsedTime_v2, ms, start, end);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "start=%p end=%p", static_cast<void*>(start), static_cast<void*>(end));
  return r;
}
XS_CUDA_EXPORT CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end) {
  const CUresult r = ip::elapsed_time(&cu::Driver::cuEventElapsedTime, ms, start, end);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "start=%p end=%p", static_cast<void*>(start), static_cast<void*>(end));
  return r;
}

XS_CUDA_EXPORT CUresult cuCtxSynchronize() { return ip::context_synchronize(__func__, ip::current_context(), false); }
XS_CUDA_EXPORT CUresult cuCtxSynchronize_v2(CUcontext ctx) {
  return ip::context_synchronize(__func__, ctx != nullptr ? ctx : ip::current_context(), true);
}

}  // extern "C"

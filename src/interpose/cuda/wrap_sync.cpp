// Synchronisation and events: what waits for a queue waits for the commands
// it holds back too, and an event's record counts from when the application
// made it, not from when its queue launched it.
#include "hal/cuda/cuda_queue.h"
#include "interpose/cuda/call_helpers.h"

namespace xsched::interpose {
namespace {

CUcontext current_context() {
  CUcontext ctx = nullptr;
  if (driver() == nullptr || driver()->cuCtxGetCurrent(&ctx) != CUDA_SUCCESS) return nullptr;
  return ctx;
}

CUresult stream_synchronize(const char* api, Flavor fl, CUstream s) {
  auto sq = find_stream_queue(s, fl);
  CUresult r = CUDA_SUCCESS;
  if (sq != nullptr) {
    // Once everything is launched the driver's own wait covers it, without
    // a hand-off to the queue's worker thread.
    const xs_result_t w = sq->xq->has_unlaunched() ? sq->xq->wait_all(-1) : XS_OK;
    const uint64_t launched = sq->xq->launched();  // what the driver's wait below covers
    r = w == XS_OK ? call_real(XS_REAL(cuStreamSynchronize), sq->stream) : to_cuda(w, sq.get());
    const CUresult deferred = cuda::deferred_error(sq->hw);
    if (r == CUDA_SUCCESS && deferred != CUDA_SUCCESS) r = deferred;
    if (r == CUDA_SUCCESS) sq->xq->device_caught_up(launched);
  }
  // The per-thread stream itself may carry calls that went straight through.
  if (sq == nullptr || sq->kind == StreamKind::kPerThread) {
    const CUresult direct = call_real(XS_REAL(cuStreamSynchronize), spelled_out(s, fl));
    if (r == CUDA_SUCCESS) r = direct;
  }
  if (trace_enabled()) {
    trace_call(api, r, "stream=%p queue=%llu", static_cast<void*>(s),
               sq != nullptr ? static_cast<unsigned long long>(sq->xq->id()) : 0ULL);
  }
  return r;
}

CUresult stream_query(const char* api, Flavor fl, CUstream s) {
  auto sq = find_stream_queue(s, fl);
  CUresult r;
  if (sq != nullptr && sq->xq->has_unlaunched()) {
    r = CUDA_ERROR_NOT_READY;
  } else {
    const uint64_t launched = sq != nullptr ? sq->xq->launched() : 0;  // what a "done" covers
    r = call_real(XS_REAL(cuStreamQuery), sq != nullptr ? sq->stream : spelled_out(s, fl));
    // A program that polls its stream until done has synchronised with it: its request is over.
    if (r == CUDA_SUCCESS && sq != nullptr) sq->xq->device_caught_up(launched);
  }
  if (trace_enabled()) trace_call(api, r, "stream=%p", static_cast<void*>(s));
  return r;
}

CUresult event_record(const char* api, Flavor fl, CUevent e, CUstream s, bool with_flags, unsigned flags) {
  // An earlier record of e still held back in another queue must reach the
  // driver first: launched after this one, it would become the event's
  // latest record there, and later queries and waits would see it instead.
  // (In the same queue, launches keep the order.)
  if (const PendingRecord prev = pending_record(e); prev.held && prev.queue != find_stream_queue(s, fl)) {
    prev.queue->xq->flush(prev.seq);
  }
  cuda::Call c{};
  c.op = cuda::Op::kEventRecord;
  c.event = cuda::EventOp{e, flags, with_flags};
  const StreamOpResult r = run_stream_op(s, fl, XS_CMD_EVENT_RECORD, c, [&](CUstream st) {
    return with_flags ? call_real(XS_REAL(cuEventRecordWithFlags), e, st, flags) : call_real(XS_REAL(cuEventRecord), e, st);
  });
  if (r.result == CUDA_SUCCESS) {
    note_event_record(e, r.queue, r.seq, r.queue != nullptr ? r.queue->capture_root() : nullptr);
  }
  if (trace_enabled()) {
    trace_call(api, r.result, "event=%p stream=%p queue=%llu", static_cast<void*>(e), static_cast<void*>(s), queue_id(r));
  }
  return r.result;
}

CUresult stream_wait_event(const char* api, Flavor fl, CUstream s, CUevent e, unsigned flags) {
  const PendingRecord rec = pending_record(e);
  // The record must reach the driver before the wait can, and complete
  // before what follows the wait can run: the waiting queue lends its
  // urgency to the recording one up to that record (priority inheritance;
  // at Level 2 a held recording queue would otherwise stall the waiter
  // behind its gate for as long as the waiter keeps it held).
  if (rec.queue != nullptr) {
    if (rec.queue != find_stream_queue(s, fl)) {
      rec.queue->xq->expedite(rec.seq);
    } else if (rec.held) {
      rec.queue->xq->flush(rec.seq);  // same queue: the held wait must see this record, not an older one
    }
  }
  if (auto root = rec.capture_root.lock(); root != nullptr && root->capturing()) {
    // Waiting on an event of a captured stream makes this stream part of the
    // capture: what it held goes first, what follows is captured.
    if (auto sq = stream_queue(s, fl); sq != nullptr && !sq->capturing()) {
      launch_everything_before(*sq);
      sq->xq->wait_all(-1);  // no completion event of ours may land in the capture
      sq->join_capture(root);
    }
  }
  cuda::Call c{};
  c.op = cuda::Op::kEventWait;
  c.event = cuda::EventOp{e, flags, false};
  const StreamOpResult r = run_stream_op(s, fl, XS_CMD_EVENT_WAIT, c, [&](CUstream st) {
    return call_real(XS_REAL(cuStreamWaitEvent), st, e, flags);
  });
  if (trace_enabled()) {
    trace_call(api, r.result, "stream=%p event=%p queue=%llu", static_cast<void*>(s), static_cast<void*>(e), queue_id(r));
  }
  return r.result;
}

// explicit: a context named by the caller (cuCtxSynchronize_v2), else the current one.
CUresult context_synchronize(const char* api, CUcontext ctx, bool explicit_ctx) {
  CUresult r = ctx != nullptr ? wait_context(ctx) : CUDA_SUCCESS;
  const std::vector<LaunchMark> marks = ctx != nullptr ? mark_launched(ctx) : std::vector<LaunchMark>{};
  const CUresult direct =
      explicit_ctx ? call_real(XS_REAL(cuCtxSynchronize_v2), ctx) : call_real(XS_REAL(cuCtxSynchronize));
  if (r == CUDA_SUCCESS) r = direct;
  if (r == CUDA_SUCCESS) caught_up(marks);
  if (trace_enabled()) trace_call(api, r, "ctx=%p", static_cast<void*>(ctx));
  return r;
}

}  // namespace
}  // namespace xsched::interpose

using xsched::interpose::Flavor;
namespace ip = xsched::interpose;

extern "C" {

XS_CUDA_EXPORT CUresult cuStreamSynchronize(CUstream s) { return ip::stream_synchronize(__func__, Flavor::kLegacy, s); }
XS_CUDA_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream s) {
  return ip::stream_synchronize(__func__, Flavor::kPerThread, s);
}
XS_CUDA_EXPORT CUresult cuStreamQuery(CUstream s) { return ip::stream_query(__func__, Flavor::kLegacy, s); }
XS_CUDA_EXPORT CUresult cuStreamQuery_ptsz(CUstream s) { return ip::stream_query(__func__, Flavor::kPerThread, s); }

XS_CUDA_EXPORT CUresult cuEventRecord(CUevent e, CUstream s) {
  return ip::event_record(__func__, Flavor::kLegacy, e, s, false, 0);
}
XS_CUDA_EXPORT CUresult cuEventRecord_ptsz(CUevent e, CUstream s) {
  return ip::event_record(__func__, Flavor::kPerThread, e, s, false, 0);
}
XS_CUDA_EXPORT CUresult cuEventRecordWithFlags(CUevent e, CUstream s, unsigned flags) {
  return ip::event_record(__func__, Flavor::kLegacy, e, s, true, flags);
}
XS_CUDA_EXPORT CUresult cuEventRecordWithFlags_ptsz(CUevent e, CUstream s, unsigned flags) {
  return ip::event_record(__func__, Flavor::kPerThread, e, s, true, flags);
}
XS_CUDA_EXPORT CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned flags) {
  return ip::stream_wait_event(__func__, Flavor::kLegacy, s, e, flags);
}
XS_CUDA_EXPORT CUresult cuStreamWaitEvent_ptsz(CUstream s, CUevent e, unsigned flags) {
  return ip::stream_wait_event(__func__, Flavor::kPerThread, s, e, flags);
}

XS_CUDA_EXPORT CUresult cuEventQuery(CUevent e) {
  const ip::PendingRecord rec = ip::pending_record(e);
  const CUresult r = rec.held ? CUDA_ERROR_NOT_READY : ip::call_real(XS_REAL(cuEventQuery), e);
  // Done: the program has seen its queue's work up to the record complete.
  if (r == CUDA_SUCCESS && rec.recorder != nullptr) rec.recorder->xq->device_caught_up(rec.seq);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "event=%p", static_cast<void*>(e));
  return r;
}

XS_CUDA_EXPORT CUresult cuEventSynchronize(CUevent e) {
  const ip::PendingRecord rec = ip::pending_record(e);
  CUresult r = CUDA_SUCCESS;
  if (rec.held) {
    const xs_result_t w = rec.queue->xq->wait(rec.seq, -1);
    if (w != XS_OK) r = ip::to_cuda(w, rec.queue.get());
  }
  if (r == CUDA_SUCCESS) r = ip::call_real(XS_REAL(cuEventSynchronize), e);
  if (r == CUDA_SUCCESS && rec.recorder != nullptr) rec.recorder->xq->device_caught_up(rec.seq);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "event=%p", static_cast<void*>(e));
  return r;
}

XS_CUDA_EXPORT CUresult cuEventElapsedTime_v2(float* ms, CUevent start, CUevent end) {
  const bool held = ip::pending_record(start).held || ip::pending_record(end).held;
  const CUresult r = held ? CUDA_ERROR_NOT_READY : ip::call_real(XS_REAL(cuEventElapsedTime_v2), ms, start, end);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "start=%p end=%p", static_cast<void*>(start), static_cast<void*>(end));
  return r;
}
XS_CUDA_EXPORT CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end) {
  const bool held = ip::pending_record(start).held || ip::pending_record(end).held;
  const CUresult r = held ? CUDA_ERROR_NOT_READY : ip::call_real(XS_REAL(cuEventElapsedTime), ms, start, end);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "start=%p end=%p", static_cast<void*>(start), static_cast<void*>(end));
  return r;
}

XS_CUDA_EXPORT CUresult cuCtxSynchronize() { return ip::context_synchronize(__func__, ip::current_context(), false); }
XS_CUDA_EXPORT CUresult cuCtxSynchronize_v2(CUcontext ctx) {
  return ip::context_synchronize(__func__, ctx != nullptr ? ctx : ip::current_context(), true);
}

}  // extern "C"

// Allocation, release and capture. Whatever frees or unloads something that
// persisted commands may use is preceded by launching every persisted
// command: the driver then orders the release after them, as it would have
// without xsched. Allocations are only traced.
#include "hal/cuda/gates.h"
#include "hal/cuda/param_layout.h"
#include "hal/cuda/pinned_memory.h"
#include "interpose/cuda/event_records.h"
#include "interpose/cuda/export.h"
#include "interpose/cuda/forward.h"
#include "interpose/cuda/implicit_order.h"
#include "interpose/cuda/stream_registry.h"
#include "interpose/common/trace.h"

namespace xsched::interpose {
namespace {

// Launches everything persisted, then calls fn with every gate open: a
// release waits for the context's streams (cuMemFree, cuMemFreeHost, module
// unloading), and a gate the scheduler keeps closed would stall it.
template <class Fn>
CUresult after_flushing_all(const char* api, const void* what, Fn&& fn) {
  const CUresult r = with_gates_open([&] {
    flush_all();
    return fn();
  });
  if (trace_enabled()) trace_call(api, r, "ptr=%p", what);
  return r;
}

template <class Direct>
CUresult begin_capture(const char* api, StreamKind zero_is, CUstream s, Direct&& direct) {
  auto sq = stream_queue(s, zero_is);
  // Everything before the capture runs, and completes: the queue's worker
  // must not confirm a completion on the stream (an event record) while it
  // is being captured, or the record would become part of the graph.
  if (sq != nullptr) {
    order_after_implicit_dependencies(*sq);
    sq->xq->expedite(UINT64_MAX);  // held or not: the caller waits for it, not for the scheduler
    sq->xq->wait_all(-1);
  }
  const CUresult r = direct(sq != nullptr ? sq->stream : spelled_out(s, zero_is));
  if (r == CUDA_SUCCESS && sq != nullptr) sq->join_capture(sq);
  if (trace_enabled()) trace_call(api, r, "stream=%p", static_cast<void*>(s));
  return r;
}

CUresult end_capture_call(const char* api, StreamKind zero_is, CUstream s, CUgraph* graph) {
  auto sq = find_stream_queue(s, zero_is);
  const CUresult r = forward(&cuda::Driver::cuStreamEndCapture, sq != nullptr ? sq->stream : spelled_out(s, zero_is), graph);
  if (sq != nullptr) end_capture(*sq);  // ended or invalidated, the capture is over
  if (trace_enabled()) trace_call(api, r, "stream=%p", static_cast<void*>(s));
  return r;
}

using DestroyStream = CUresult (*)(CUstream);
using DestroyEvent = CUresult (*)(CUevent);
using DestroyContext = CUresult (*)(CUcontext);

CUresult destroy_stream(const char* api, CUstream s, DestroyStream cuda::Driver::*entry) {
  const CUresult sticky = retire_stream(s);
  const CUresult r = forward(entry, s);
  if (trace_enabled()) trace_call(api, r, "stream=%p", static_cast<void*>(s));
  return r == CUDA_SUCCESS ? sticky : r;
}

CUresult destroy_event(const char* api, CUevent e, DestroyEvent cuda::Driver::*entry) {
  const PendingRecord rec = pending_record(e);
  if (rec.persisted) rec.queue->xq->flush(rec.seq);  // the record goes first; the driver frees after it
  forget_event(e);
  const CUresult r = forward(entry, e);
  if (trace_enabled()) trace_call(api, r, "event=%p", static_cast<void*>(e));
  return r;
}

CUresult destroy_context(const char* api, CUcontext ctx, DestroyContext cuda::Driver::*entry) {
  retire_context(ctx);
  const CUresult r = forward(entry, ctx);
  if (trace_enabled()) trace_call(api, r, "ctx=%p", static_cast<void*>(ctx));
  return r;
}

}  // namespace
}  // namespace xsched::interpose

using xsched::interpose::StreamKind;
namespace ip = xsched::interpose;
namespace cu = xsched::cuda;

extern "C" {

// ---- streams ----

// Traced; the queue is made at the stream's first use. (Programs make many
// streams they never use: PyTorch makes 32 of each priority at once.)
XS_CUDA_EXPORT CUresult cuStreamCreateWithPriority(CUstream* s, unsigned flags, int priority) {
  const CUresult r = ip::forward(&cu::Driver::cuStreamCreateWithPriority, s, flags, priority);
  if (ip::trace_enabled()) {
    ip::trace_call(__func__, r, "flags=%u priority=%d stream=%p", flags, priority, r == CUDA_SUCCESS ? static_cast<void*>(*s) : nullptr);
  }
  return r;
}

// ---- allocations (traced) ----

XS_CUDA_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
  const CUresult r = ip::forward(&cu::Driver::cuMemAlloc_v2, p, bytes);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "size=%zu ptr=%p", bytes, r == CUDA_SUCCESS ? ip::as_ptr(*p) : nullptr);
  return r;
}
XS_CUDA_EXPORT CUresult cuMemAllocHost_v2(void** p, size_t bytes) {
  const CUresult r = ip::forward(&cu::Driver::cuMemAllocHost_v2, p, bytes);
  if (r == CUDA_SUCCESS) cu::note_pinned(*p, bytes);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "size=%zu ptr=%p", bytes, r == CUDA_SUCCESS ? *p : nullptr);
  return r;
}
XS_CUDA_EXPORT CUresult cuMemHostAlloc(void** p, size_t bytes, unsigned flags) {
  const CUresult r = ip::forward(&cu::Driver::cuMemHostAlloc, p, bytes, flags);
  if (r == CUDA_SUCCESS) cu::note_pinned(*p, bytes);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "size=%zu flags=%u ptr=%p", bytes, flags, r == CUDA_SUCCESS ? *p : nullptr);
  return r;
}
XS_CUDA_EXPORT CUresult cuMemAllocManaged(CUdeviceptr* p, size_t bytes, unsigned flags) {
  const CUresult r = ip::forward(&cu::Driver::cuMemAllocManaged, p, bytes, flags);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "size=%zu ptr=%p", bytes, r == CUDA_SUCCESS ? ip::as_ptr(*p) : nullptr);
  return r;
}
XS_CUDA_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr* p, size_t* pitch, size_t w, size_t h, unsigned elem) {
  const CUresult r = ip::forward(&cu::Driver::cuMemAllocPitch_v2, p, pitch, w, h, elem);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "width=%zu height=%zu ptr=%p", w, h, r == CUDA_SUCCESS ? ip::as_ptr(*p) : nullptr);
  return r;
}
// Stream-ordered allocations go straight to the driver: memory that becomes
// usable earlier than its stream position is still correct, and the pool
// cannot hand out memory whose free is still persisted (the driver has not
// seen it). At Level 2 a free that was launched may still sit behind a gate,
// and the pool may make this stream wait for it: every queue first runs what
// it launched.
XS_CUDA_EXPORT CUresult cuMemAllocAsync(CUdeviceptr* p, size_t bytes, CUstream s) {
  ip::expedite_launched_everywhere();
  const CUresult r = ip::forward(&cu::Driver::cuMemAllocAsync, p, bytes, s);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "size=%zu stream=%p ptr=%p", bytes, static_cast<void*>(s), r == CUDA_SUCCESS ? ip::as_ptr(*p) : nullptr);
  return r;
}
XS_CUDA_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr* p, size_t bytes, CUstream s) {
  ip::expedite_launched_everywhere();
  const CUresult r = ip::forward(&cu::Driver::cuMemAllocAsync_ptsz, p, bytes, s);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "size=%zu stream=%p ptr=%p", bytes, static_cast<void*>(s), r == CUDA_SUCCESS ? ip::as_ptr(*p) : nullptr);
  return r;
}

// ---- releases: everything persisted is launched first ----

XS_CUDA_EXPORT CUresult cuMemFree_v2(CUdeviceptr p) {
  return ip::after_flushing_all(__func__, ip::as_ptr(p), [&] { return ip::forward(&cu::Driver::cuMemFree_v2, p); });
}
XS_CUDA_EXPORT CUresult cuMemHostRegister_v2(void* p, size_t bytes, unsigned flags) {
  const CUresult r = ip::forward(&cu::Driver::cuMemHostRegister_v2, p, bytes, flags);
  if (r == CUDA_SUCCESS) cu::note_pinned(p, bytes);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "ptr=%p size=%zu flags=%u", p, bytes, flags);
  return r;
}
XS_CUDA_EXPORT CUresult cuMemFreeHost(void* p) {
  return ip::after_flushing_all(__func__, p, [&] {
    cu::forget_pinned(p);
    return ip::forward(&cu::Driver::cuMemFreeHost, p);
  });
}
XS_CUDA_EXPORT CUresult cuMemHostUnregister(void* p) {
  return ip::after_flushing_all(__func__, p, [&] {
    cu::forget_pinned(p);
    return ip::forward(&cu::Driver::cuMemHostUnregister, p);
  });
}
XS_CUDA_EXPORT CUresult cuArrayDestroy(CUarray a) {
  return ip::after_flushing_all(__func__, a, [&] { return ip::forward(&cu::Driver::cuArrayDestroy, a); });
}
XS_CUDA_EXPORT CUresult cuMipmappedArrayDestroy(CUmipmappedArray a) {
  return ip::after_flushing_all(__func__, a, [&] { return ip::forward(&cu::Driver::cuMipmappedArrayDestroy, a); });
}
XS_CUDA_EXPORT CUresult cuMemUnmap(CUdeviceptr p, size_t bytes) {
  return ip::after_flushing_all(__func__, ip::as_ptr(p), [&] { return ip::forward(&cu::Driver::cuMemUnmap, p, bytes); });
}
XS_CUDA_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle h) {
  return ip::after_flushing_all(__func__, reinterpret_cast<void*>(h), [&] { return ip::forward(&cu::Driver::cuMemRelease, h); });
}
XS_CUDA_EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool) {
  return ip::after_flushing_all(__func__, pool, [&] { return ip::forward(&cu::Driver::cuMemPoolDestroy, pool); });
}
XS_CUDA_EXPORT CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t keep) {
  return ip::after_flushing_all(__func__, pool, [&] { return ip::forward(&cu::Driver::cuMemPoolTrimTo, pool, keep); });
}
XS_CUDA_EXPORT CUresult cuIpcCloseMemHandle(CUdeviceptr p) {
  return ip::after_flushing_all(__func__, ip::as_ptr(p), [&] { return ip::forward(&cu::Driver::cuIpcCloseMemHandle, p); });
}
XS_CUDA_EXPORT CUresult cuGraphExecDestroy(CUgraphExec g) {
  return ip::after_flushing_all(__func__, g, [&] { return ip::forward(&cu::Driver::cuGraphExecDestroy, g); });
}
XS_CUDA_EXPORT CUresult cuTexObjectDestroy(CUtexObject t) {
  return ip::after_flushing_all(__func__, reinterpret_cast<void*>(t), [&] { return ip::forward(&cu::Driver::cuTexObjectDestroy, t); });
}
XS_CUDA_EXPORT CUresult cuSurfObjectDestroy(CUsurfObject t) {
  return ip::after_flushing_all(__func__, reinterpret_cast<void*>(t), [&] { return ip::forward(&cu::Driver::cuSurfObjectDestroy, t); });
}
XS_CUDA_EXPORT CUresult cuModuleUnload(CUmodule m) {
  return ip::after_flushing_all(__func__, m, [&] {
    const CUresult r = ip::forward(&cu::Driver::cuModuleUnload, m);
    // Its function handles may come back for other kernels.
    cu::forget_param_layouts();
    cu::forget_loaded_kernels();
    return r;
  });
}
XS_CUDA_EXPORT CUresult cuLibraryUnload(CUlibrary l) {
  return ip::after_flushing_all(__func__, l, [&] {
    const CUresult r = ip::forward(&cu::Driver::cuLibraryUnload, l);
    cu::forget_param_layouts();
    cu::forget_loaded_kernels();
    return r;
  });
}
XS_CUDA_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  return ip::after_flushing_all(__func__, nullptr, [&] { return ip::forward(&cu::Driver::cuDevicePrimaryCtxRelease_v2, dev); });
}

XS_CUDA_EXPORT CUresult cuStreamDestroy_v2(CUstream s) { return ip::destroy_stream(__func__, s, &cu::Driver::cuStreamDestroy_v2); }
XS_CUDA_EXPORT CUresult cuStreamDestroy(CUstream s) { return ip::destroy_stream(__func__, s, &cu::Driver::cuStreamDestroy); }
XS_CUDA_EXPORT CUresult cuEventDestroy_v2(CUevent e) { return ip::destroy_event(__func__, e, &cu::Driver::cuEventDestroy_v2); }
XS_CUDA_EXPORT CUresult cuEventDestroy(CUevent e) { return ip::destroy_event(__func__, e, &cu::Driver::cuEventDestroy); }
XS_CUDA_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx) { return ip::destroy_context(__func__, ctx, &cu::Driver::cuCtxDestroy_v2); }
XS_CUDA_EXPORT CUresult cuCtxDestroy(CUcontext ctx) { return ip::destroy_context(__func__, ctx, &cu::Driver::cuCtxDestroy); }
XS_CUDA_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) {
  CUcontext primary = nullptr;
  unsigned flags = 0;
  int active = 0;
  // The primary context's handle, without retaining it (which would create it).
  if (ip::forward(&cu::Driver::cuDevicePrimaryCtxGetState, dev, &flags, &active) == CUDA_SUCCESS && active != 0 &&
      ip::forward(&cu::Driver::cuDevicePrimaryCtxRetain, &primary, dev) == CUDA_SUCCESS) {
    ip::retire_context(primary);
    ip::forward(&cu::Driver::cuDevicePrimaryCtxRelease_v2, dev);
  }
  const CUresult r = ip::forward(&cu::Driver::cuDevicePrimaryCtxReset_v2, dev);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "device=%d", dev);
  return r;
}

// ---- graph capture: captured streams are not scheduled ----

XS_CUDA_EXPORT CUresult cuStreamBeginCapture_v2(CUstream s, CUstreamCaptureMode mode) {
  return ip::begin_capture(__func__, StreamKind::kLegacy, s,
                           [&](CUstream st) { return ip::forward(&cu::Driver::cuStreamBeginCapture_v2, st, mode); });
}
XS_CUDA_EXPORT CUresult cuStreamBeginCapture_v2_ptsz(CUstream s, CUstreamCaptureMode mode) {
  return ip::begin_capture(__func__, StreamKind::kPerThread, s,
                           [&](CUstream st) { return ip::forward(&cu::Driver::cuStreamBeginCapture_v2, st, mode); });
}
XS_CUDA_EXPORT CUresult cuStreamBeginCaptureToGraph(CUstream s, CUgraph g, const CUgraphNode* deps,
                                                    const CUgraphEdgeData* edges, size_t n, CUstreamCaptureMode mode) {
  return ip::begin_capture(__func__, StreamKind::kLegacy, s, [&](CUstream st) {
    return ip::forward(&cu::Driver::cuStreamBeginCaptureToGraph, st, g, deps, edges, n, mode);
  });
}
XS_CUDA_EXPORT CUresult cuStreamBeginCaptureToGraph_ptsz(CUstream s, CUgraph g, const CUgraphNode* deps,
                                                         const CUgraphEdgeData* edges, size_t n, CUstreamCaptureMode mode) {
  return ip::begin_capture(__func__, StreamKind::kPerThread, s, [&](CUstream st) {
    return ip::forward(&cu::Driver::cuStreamBeginCaptureToGraph, st, g, deps, edges, n, mode);
  });
}
XS_CUDA_EXPORT CUresult cuStreamEndCapture(CUstream s, CUgraph* g) { return ip::end_capture_call(__func__, StreamKind::kLegacy, s, g); }
XS_CUDA_EXPORT CUresult cuStreamEndCapture_ptsz(CUstream s, CUgraph* g) {
  return ip::end_capture_call(__func__, StreamKind::kPerThread, s, g);
}

}  // extern "C"

// Stream operations that xsched does not queue as commands (prefetches,
// batched and array copies, external semaphores, graph uploads, mappings):
// what their stream has persisted is launched first, so the driver still
// orders them after it, and then the call goes to the driver as made.
#include "interpose/cuda/event_records.h"
#include "interpose/cuda/export.h"
#include "interpose/cuda/forward.h"
#include "interpose/cuda/implicit_order.h"
#include "interpose/cuda/stream_registry.h"
#include "interpose/common/trace.h"

namespace xsched::interpose {
namespace {

template <class Fn>
CUresult after_flushing_stream(const char* api, CUstream s, StreamKind zero_is, Fn&& fn) {
  auto sq = stream_queue(s, zero_is);
  if (sq != nullptr && !sq->capturing()) {
    launch_everything_before(*sq);
  }
  const CUresult r = fn(sq != nullptr ? sq->stream : spelled_out(s, zero_is));
  if (sq != nullptr && !sq->capturing()) lend_urgency_for_implicit_order(*sq);
  if (trace_enabled()) {
    trace_call(api, r, "stream=%p queue=%llu", static_cast<void*>(s),
               sq != nullptr ? static_cast<unsigned long long>(sq->xq->id()) : 0ULL);
  }
  return r;
}

}  // namespace
}  // namespace xsched::interpose

using xsched::interpose::StreamKind;
namespace ip = xsched::interpose;
namespace cu = xsched::cuda;

// NAME and NAME_ptsz, both calling the driver's NAME with the stream spelled out.
#define XS_FLUSHED(NAME, PARAMS, STREAM, ARGS)                                                             \
  XS_CUDA_EXPORT CUresult NAME PARAMS {                                                                    \
    return ip::after_flushing_stream(#NAME, STREAM, StreamKind::kLegacy,                                   \
                                     [&](CUstream st) { return ip::forward(&cu::Driver::NAME, ARGS); });   \
  }                                                                                                        \
  XS_CUDA_EXPORT CUresult NAME##_ptsz PARAMS {                                                             \
    return ip::after_flushing_stream(#NAME "_ptsz", STREAM, StreamKind::kPerThread,                        \
                                     [&](CUstream st) { return ip::forward(&cu::Driver::NAME, ARGS); });   \
  }
#define XS_ARGS(...) __VA_ARGS__

extern "C" {

XS_FLUSHED(cuMemPrefetchAsync_v2, (CUdeviceptr p, size_t n, CUmemLocation loc, unsigned flags, CUstream s), s,
           XS_ARGS(p, n, loc, flags, st))
XS_FLUSHED(cuMemcpyBatchAsync_v2,
           (CUdeviceptr * d, CUdeviceptr* src, size_t* sizes, size_t n, CUmemcpyAttributes* attrs, size_t* idx,
            size_t nattrs, CUstream s),
           s, XS_ARGS(d, src, sizes, n, attrs, idx, nattrs, st))
XS_FLUSHED(cuMemcpy3DBatchAsync_v2, (size_t n, CUDA_MEMCPY3D_BATCH_OP* ops, unsigned long long flags, CUstream s), s,
           XS_ARGS(n, ops, flags, st))
XS_FLUSHED(cuMemcpy3DPeerAsync, (const CUDA_MEMCPY3D_PEER* p, CUstream s), s, XS_ARGS(p, st))
XS_FLUSHED(cuMemcpyHtoAAsync_v2, (CUarray a, size_t off, const void* h, size_t n, CUstream s), s,
           XS_ARGS(a, off, h, n, st))
XS_FLUSHED(cuMemcpyAtoHAsync_v2, (void* h, CUarray a, size_t off, size_t n, CUstream s), s, XS_ARGS(h, a, off, n, st))
XS_FLUSHED(cuSignalExternalSemaphoresAsync,
           (const CUexternalSemaphore* sems, const CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS* p, unsigned n, CUstream s), s,
           XS_ARGS(sems, p, n, st))
XS_FLUSHED(cuWaitExternalSemaphoresAsync,
           (const CUexternalSemaphore* sems, const CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS* p, unsigned n, CUstream s), s,
           XS_ARGS(sems, p, n, st))
XS_FLUSHED(cuStreamAttachMemAsync, (CUstream s, CUdeviceptr p, size_t n, unsigned flags), s, XS_ARGS(st, p, n, flags))
XS_FLUSHED(cuGraphUpload, (CUgraphExec g, CUstream s), s, XS_ARGS(g, st))
XS_FLUSHED(cuMemMapArrayAsync, (CUarrayMapInfo * info, unsigned n, CUstream s), s, XS_ARGS(info, n, st))
XS_FLUSHED(cuGraphicsMapResources, (unsigned n, CUgraphicsResource* r, CUstream s), s, XS_ARGS(n, r, st))
XS_FLUSHED(cuGraphicsUnmapResources, (unsigned n, CUgraphicsResource* r, CUstream s), s, XS_ARGS(n, r, st))
XS_FLUSHED(cuMemPrefetchBatchAsync,
           (CUdeviceptr * p, size_t* sizes, size_t n, CUmemLocation* locs, size_t* idx, size_t nlocs,
            unsigned long long flags, CUstream s),
           s, XS_ARGS(p, sizes, n, locs, idx, nlocs, flags, st))
XS_FLUSHED(cuMemDiscardBatchAsync, (CUdeviceptr * p, size_t* sizes, size_t n, unsigned long long flags, CUstream s), s,
           XS_ARGS(p, sizes, n, flags, st))
XS_FLUSHED(cuMemDiscardAndPrefetchBatchAsync,
           (CUdeviceptr * p, size_t* sizes, size_t n, CUmemLocation* locs, size_t* idx, size_t nlocs,
            unsigned long long flags, CUstream s),
           s, XS_ARGS(p, sizes, n, locs, idx, nlocs, flags, st))

// A context-wide wait on an event: its record, if outstanding, goes first
// and runs until done (priority inheritance, as for cuStreamWaitEvent).
XS_CUDA_EXPORT CUresult cuCtxWaitEvent(CUcontext ctx, CUevent e) {
  const ip::PendingRecord rec = ip::pending_record(e);
  if (rec.queue != nullptr) rec.queue->xq->expedite(rec.seq);
  const CUresult r = ip::forward(&cu::Driver::cuCtxWaitEvent, ctx, e);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "ctx=%p event=%p", static_cast<void*>(ctx), static_cast<void*>(e));
  return r;
}

}  // extern "C"

#undef XS_FLUSHED
#undef XS_ARGS

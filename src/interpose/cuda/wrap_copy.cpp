// Copies, fills, stream-ordered frees and memory-word operations. The Async
// forms are commands on the stream's queue; the synchronous forms run on the
// default stream once what they must follow has been launched.
#include "interpose/cuda/export.h"
#include "interpose/cuda/forward.h"
#include "interpose/cuda/implicit_order.h"
#include "interpose/cuda/stream_registry.h"
#include "interpose/cuda/submit.h"
#include "interpose/common/trace.h"

namespace xsched::interpose {
namespace {

// A copy's ends as cuda::Memcpy keeps them: a host end is a pointer as a number.
CUdeviceptr as_devptr(CUdeviceptr p) { return p; }
CUdeviceptr as_devptr(const void* p) { return reinterpret_cast<CUdeviceptr>(p); }

// A 2-D or 3-D copy without a descriptor goes to the driver, which refuses it.
template <class Desc>
CUresult copy_nd(const char* api, StreamKind zero_is, cuda::Op op, const Desc* desc, CUstream s) {
  const cuda::Call c = cuda::Call::of(op, cuda::MemcpyND{desc});
  if (desc == nullptr) return submit_to(nullptr, s, zero_is, c).result;
  return submit_call(api, s, zero_is, c);
}

// A synchronous operation ordered on the default stream: what it must come
// after is launched first (for the per-thread stream, which we run on a
// stream of our own, also completed), then the driver does the rest.
template <class Fn>
CUresult default_stream_sync(const char* api, StreamKind zero_is, Fn&& fn) {
  auto sq = stream_queue(nullptr, zero_is);
  if (sq != nullptr && !sq->capturing()) {
    launch_everything_before(*sq);
    if (sq->kind == StreamKind::kPerThread) sq->xq->wait_all(-1);
  }
  const CUresult r = fn();
  if (trace_enabled()) trace_call(api, r, "stream=%s", zero_is == StreamKind::kPerThread ? "per-thread" : "legacy");
  return r;
}

}  // namespace
}  // namespace xsched::interpose

using xsched::interpose::StreamKind;
namespace ip = xsched::interpose;
namespace cu = xsched::cuda;
using cu::Call;
using cu::Op;

extern "C" {

// ---- asynchronous copies ----

// NAME and NAME_ptsz(DST_T dst, SRC_T src, size_t bytes, CUstream s).
#define XS_COPY_ASYNC(NAME, OP, DST_T, SRC_T)                                                                  \
  XS_CUDA_EXPORT CUresult NAME(DST_T dst, SRC_T src, size_t bytes, CUstream s) {                               \
    const Call c = Call::of(OP, cu::Memcpy{ip::as_devptr(dst), ip::as_devptr(src), bytes, nullptr, nullptr});     \
    return ip::submit_call(#NAME, s, StreamKind::kLegacy, c);                                                  \
  }                                                                                                            \
  XS_CUDA_EXPORT CUresult NAME##_ptsz(DST_T dst, SRC_T src, size_t bytes, CUstream s) {                        \
    const Call c = Call::of(OP, cu::Memcpy{ip::as_devptr(dst), ip::as_devptr(src), bytes, nullptr, nullptr});     \
    return ip::submit_call(#NAME "_ptsz", s, StreamKind::kPerThread, c);                                       \
  }
XS_COPY_ASYNC(cuMemcpyAsync, Op::kMemcpy, CUdeviceptr, CUdeviceptr)
XS_COPY_ASYNC(cuMemcpyHtoDAsync_v2, Op::kMemcpyHtoD, CUdeviceptr, const void*)
XS_COPY_ASYNC(cuMemcpyDtoHAsync_v2, Op::kMemcpyDtoH, void*, CUdeviceptr)
XS_COPY_ASYNC(cuMemcpyDtoDAsync_v2, Op::kMemcpyDtoD, CUdeviceptr, CUdeviceptr)
#undef XS_COPY_ASYNC

XS_CUDA_EXPORT CUresult cuMemcpyPeerAsync(CUdeviceptr dst, CUcontext dc, CUdeviceptr src, CUcontext sc, size_t n, CUstream s) {
  return ip::submit_call(__func__, s, StreamKind::kLegacy, Call::of(Op::kMemcpyPeer, cu::Memcpy{dst, src, n, dc, sc}));
}
XS_CUDA_EXPORT CUresult cuMemcpyPeerAsync_ptsz(CUdeviceptr dst, CUcontext dc, CUdeviceptr src, CUcontext sc, size_t n,
                                               CUstream s) {
  return ip::submit_call(__func__, s, StreamKind::kPerThread, Call::of(Op::kMemcpyPeer, cu::Memcpy{dst, src, n, dc, sc}));
}

XS_CUDA_EXPORT CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D* d, CUstream s) {
  return ip::copy_nd(__func__, StreamKind::kLegacy, Op::kMemcpy2D, d, s);
}
XS_CUDA_EXPORT CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D* d, CUstream s) {
  return ip::copy_nd(__func__, StreamKind::kPerThread, Op::kMemcpy2D, d, s);
}
XS_CUDA_EXPORT CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D* d, CUstream s) {
  return ip::copy_nd(__func__, StreamKind::kLegacy, Op::kMemcpy3D, d, s);
}
XS_CUDA_EXPORT CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D* d, CUstream s) {
  return ip::copy_nd(__func__, StreamKind::kPerThread, Op::kMemcpy3D, d, s);
}

// ---- asynchronous fills ----

// NAME and NAME_ptsz(CUdeviceptr dst, T value, size_t n, CUstream s).
#define XS_MEMSET_ASYNC(NAME, T)                                                                  \
  XS_CUDA_EXPORT CUresult NAME(CUdeviceptr dst, T value, size_t n, CUstream s) {                  \
    const Call c = Call::of(Op::kMemset, cu::Memset{dst, 0, n, 1, value, sizeof(T)});             \
    return ip::submit_call(#NAME, s, StreamKind::kLegacy, c);                                     \
  }                                                                                               \
  XS_CUDA_EXPORT CUresult NAME##_ptsz(CUdeviceptr dst, T value, size_t n, CUstream s) {           \
    const Call c = Call::of(Op::kMemset, cu::Memset{dst, 0, n, 1, value, sizeof(T)});             \
    return ip::submit_call(#NAME "_ptsz", s, StreamKind::kPerThread, c);                          \
  }
XS_MEMSET_ASYNC(cuMemsetD8Async, unsigned char)
XS_MEMSET_ASYNC(cuMemsetD16Async, unsigned short)
XS_MEMSET_ASYNC(cuMemsetD32Async, unsigned int)
#undef XS_MEMSET_ASYNC

// NAME and NAME_ptsz(CUdeviceptr dst, size_t pitch, T value, size_t w, size_t h, CUstream s).
#define XS_MEMSET2D_ASYNC(NAME, T)                                                                        \
  XS_CUDA_EXPORT CUresult NAME(CUdeviceptr dst, size_t pitch, T value, size_t w, size_t h, CUstream s) {  \
    const Call c = Call::of(Op::kMemset2D, cu::Memset{dst, pitch, w, h, value, sizeof(T)});               \
    return ip::submit_call(#NAME, s, StreamKind::kLegacy, c);                                             \
  }                                                                                                       \
  XS_CUDA_EXPORT CUresult NAME##_ptsz(CUdeviceptr dst, size_t pitch, T value, size_t w, size_t h, CUstream s) { \
    const Call c = Call::of(Op::kMemset2D, cu::Memset{dst, pitch, w, h, value, sizeof(T)});               \
    return ip::submit_call(#NAME "_ptsz", s, StreamKind::kPerThread, c);                                  \
  }
XS_MEMSET2D_ASYNC(cuMemsetD2D8Async, unsigned char)
XS_MEMSET2D_ASYNC(cuMemsetD2D16Async, unsigned short)
XS_MEMSET2D_ASYNC(cuMemsetD2D32Async, unsigned int)
#undef XS_MEMSET2D_ASYNC

// ---- stream-ordered free and memory-word operations ----

XS_CUDA_EXPORT CUresult cuMemFreeAsync(CUdeviceptr p, CUstream s) {
  return ip::submit_call(__func__, s, StreamKind::kLegacy, Call::of(Op::kMemFree, cu::MemFree{p}));
}
XS_CUDA_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr p, CUstream s) {
  return ip::submit_call(__func__, s, StreamKind::kPerThread, Call::of(Op::kMemFree, cu::MemFree{p}));
}

// NAME and NAME_ptsz(CUstream s, CUdeviceptr addr, T value, unsigned flags).
#define XS_VALUE_OP(NAME, OP, T)                                                                \
  XS_CUDA_EXPORT CUresult NAME(CUstream s, CUdeviceptr addr, T value, unsigned flags) {         \
    return ip::submit_call(#NAME, s, StreamKind::kLegacy, Call::of(OP, cu::ValueOp{addr, value, flags})); \
  }                                                                                             \
  XS_CUDA_EXPORT CUresult NAME##_ptsz(CUstream s, CUdeviceptr addr, T value, unsigned flags) {  \
    return ip::submit_call(#NAME "_ptsz", s, StreamKind::kPerThread, Call::of(OP, cu::ValueOp{addr, value, flags})); \
  }
XS_VALUE_OP(cuStreamWaitValue32_v2, Op::kWaitValue32, cuuint32_t)
XS_VALUE_OP(cuStreamWaitValue64_v2, Op::kWaitValue64, cuuint64_t)
XS_VALUE_OP(cuStreamWriteValue32_v2, Op::kWriteValue32, cuuint32_t)
XS_VALUE_OP(cuStreamWriteValue64_v2, Op::kWriteValue64, cuuint64_t)
#undef XS_VALUE_OP

XS_CUDA_EXPORT CUresult cuStreamBatchMemOp_v2(CUstream s, unsigned count, CUstreamBatchMemOpParams* ops, unsigned flags) {
  return ip::submit_call(__func__, s, StreamKind::kLegacy, Call::of(Op::kBatchMemOp, cu::BatchMemOp{ops, count, flags}));
}
XS_CUDA_EXPORT CUresult cuStreamBatchMemOp_v2_ptsz(CUstream s, unsigned count, CUstreamBatchMemOpParams* ops,
                                                   unsigned flags) {
  return ip::submit_call(__func__, s, StreamKind::kPerThread, Call::of(Op::kBatchMemOp, cu::BatchMemOp{ops, count, flags}));
}

// ---- synchronous copies and fills (ordered on the default stream) ----

// NAME (legacy) and NAME_ptds (per-thread), both forwarded as made.
#define XS_SYNC_OP(NAME, PARAMS, ARGS)                                                                           \
  XS_CUDA_EXPORT CUresult NAME PARAMS {                                                                          \
    return ip::default_stream_sync(#NAME, StreamKind::kLegacy, [&] { return ip::forward(&cu::Driver::NAME, ARGS); }); \
  }                                                                                                              \
  XS_CUDA_EXPORT CUresult NAME##_ptds PARAMS {                                                                   \
    return ip::default_stream_sync(#NAME "_ptds", StreamKind::kPerThread,                                        \
                                   [&] { return ip::forward(&cu::Driver::NAME##_ptds, ARGS); });                 \
  }
#define XS_ARGS(...) __VA_ARGS__
XS_SYNC_OP(cuMemcpy, (CUdeviceptr d, CUdeviceptr s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpyHtoD_v2, (CUdeviceptr d, const void* s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpyDtoH_v2, (void* d, CUdeviceptr s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpyDtoD_v2, (CUdeviceptr d, CUdeviceptr s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpy2D_v2, (const CUDA_MEMCPY2D* p), XS_ARGS(p))
XS_SYNC_OP(cuMemcpy2DUnaligned_v2, (const CUDA_MEMCPY2D* p), XS_ARGS(p))
XS_SYNC_OP(cuMemcpy3D_v2, (const CUDA_MEMCPY3D* p), XS_ARGS(p))
XS_SYNC_OP(cuMemcpyPeer, (CUdeviceptr d, CUcontext dc, CUdeviceptr s, CUcontext sc, size_t n), XS_ARGS(d, dc, s, sc, n))
XS_SYNC_OP(cuMemsetD8_v2, (CUdeviceptr d, unsigned char v, size_t n), XS_ARGS(d, v, n))
XS_SYNC_OP(cuMemsetD16_v2, (CUdeviceptr d, unsigned short v, size_t n), XS_ARGS(d, v, n))
XS_SYNC_OP(cuMemsetD32_v2, (CUdeviceptr d, unsigned int v, size_t n), XS_ARGS(d, v, n))
XS_SYNC_OP(cuMemsetD2D8_v2, (CUdeviceptr d, size_t p, unsigned char v, size_t w, size_t h), XS_ARGS(d, p, v, w, h))
XS_SYNC_OP(cuMemsetD2D16_v2, (CUdeviceptr d, size_t p, unsigned short v, size_t w, size_t h), XS_ARGS(d, p, v, w, h))
XS_SYNC_OP(cuMemsetD2D32_v2, (CUdeviceptr d, size_t p, unsigned int v, size_t w, size_t h), XS_ARGS(d, p, v, w, h))
#undef XS_SYNC_OP
#undef XS_ARGS

}  // extern "C"

// Copies, fills, stream-ordered frees and memory-word operations. The Async
// forms are commands on the stream's queue; the synchronous forms run on the
// default stream once what they must follow has been launched.
#include "interpose/cuda/call_helpers.h"

namespace xsched::interpose {
namespace {

template <class Direct>
CUresult copy_op(const char* api, Flavor fl, cuda::Op op, CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s,
                 Direct&& direct) {
  cuda::Call c{};
  c.op = op;
  c.memcpy = cuda::Memcpy{dst, src, bytes, nullptr, nullptr};
  const StreamOpResult r = run_stream_op(s, fl, XS_CMD_COPY, c, direct);
  if (trace_enabled()) {
    trace_call(api, r.result, "dst=%p src=%p bytes=%zu stream=%p queue=%llu", as_ptr(dst), as_ptr(src), bytes,
               static_cast<void*>(s), queue_id(r));
  }
  return r.result;
}

template <class Desc, class Direct>
CUresult copy_nd_op(const char* api, Flavor fl, cuda::Op op, const Desc* desc, CUstream s, Direct&& direct) {
  if (desc == nullptr) return direct(spelled_out(s, fl));
  cuda::Call c{};
  c.op = op;
  c.memcpy_nd = cuda::MemcpyND{desc};
  const StreamOpResult r = run_stream_op(s, fl, XS_CMD_COPY, c, direct);
  if (trace_enabled()) {
    trace_call(api, r.result, "width=%zu height=%zu stream=%p queue=%llu", desc->WidthInBytes, desc->Height,
               static_cast<void*>(s), queue_id(r));
  }
  return r.result;
}

template <class Direct>
CUresult memset_op(const char* api, Flavor fl, CUdeviceptr dst, size_t pitch, uint32_t value, uint8_t element_bytes,
                   size_t width, size_t height, CUstream s, Direct&& direct) {
  cuda::Call c{};
  c.op = cuda::Op::kMemset;
  c.memset = cuda::Memset{dst, pitch, width, height, value, element_bytes};
  const StreamOpResult r = run_stream_op(s, fl, XS_CMD_MEMSET, c, direct);
  if (trace_enabled()) {
    trace_call(api, r.result, "dst=%p value=%u width=%zu height=%zu stream=%p queue=%llu", as_ptr(dst), value, width,
               height, static_cast<void*>(s), queue_id(r));
  }
  return r.result;
}

template <class Direct>
CUresult value_op(const char* api, Flavor fl, cuda::Op op, CUstream s, CUdeviceptr addr, uint64_t value, unsigned flags,
                  Direct&& direct) {
  cuda::Call c{};
  c.op = op;
  c.value = cuda::ValueOp{addr, value, flags};
  const StreamOpResult r = run_stream_op(s, fl, XS_CMD_MEM_OP, c, direct);
  if (trace_enabled()) {
    trace_call(api, r.result, "addr=%p value=%llu flags=%u stream=%p queue=%llu", as_ptr(addr),
               static_cast<unsigned long long>(value), flags, static_cast<void*>(s), queue_id(r));
  }
  return r.result;
}

// A synchronous operation ordered on the default stream: what it must come
// after is launched first (for the per-thread stream, which we run on a
// stream of our own, also completed), then the driver does the rest.
template <class Fn>
CUresult default_stream_sync(const char* api, Flavor fl, Fn&& fn) {
  auto sq = stream_queue(nullptr, fl);
  if (sq != nullptr && !sq->capturing()) {
    launch_everything_before(*sq);
    if (sq->kind == StreamKind::kPerThread) sq->xq->wait_all(-1);
  }
  const CUresult r = fn();
  if (trace_enabled()) trace_call(api, r, "stream=%s", fl == Flavor::kPerThread ? "per-thread" : "legacy");
  return r;
}

}  // namespace
}  // namespace xsched::interpose

using xsched::interpose::Flavor;
namespace ip = xsched::interpose;
namespace cu = xsched::cuda;

extern "C" {

// ---- asynchronous copies ----

#define XS_COPY_ASYNC(NAME, FLAVOR, OP, REAL, DST_T, SRC_T, DST, SRC)                                              \
  XS_CUDA_EXPORT CUresult NAME(DST_T dst, SRC_T src, size_t bytes, CUstream s) {                                  \
    return ip::copy_op(#NAME, FLAVOR, OP, DST, SRC, bytes, s,                                                     \
                       [&](CUstream st) { return ip::call_real(XS_REAL(REAL), dst, src, bytes, st); });           \
  }
XS_COPY_ASYNC(cuMemcpyAsync, Flavor::kLegacy, cu::Op::kMemcpy, cuMemcpyAsync, CUdeviceptr, CUdeviceptr, dst, src)
XS_COPY_ASYNC(cuMemcpyAsync_ptsz, Flavor::kPerThread, cu::Op::kMemcpy, cuMemcpyAsync, CUdeviceptr, CUdeviceptr, dst, src)
XS_COPY_ASYNC(cuMemcpyHtoDAsync_v2, Flavor::kLegacy, cu::Op::kMemcpyHtoD, cuMemcpyHtoDAsync_v2, CUdeviceptr, const void*,
              dst, reinterpret_cast<CUdeviceptr>(src))
XS_COPY_ASYNC(cuMemcpyHtoDAsync_v2_ptsz, Flavor::kPerThread, cu::Op::kMemcpyHtoD, cuMemcpyHtoDAsync_v2, CUdeviceptr,
              const void*, dst, reinterpret_cast<CUdeviceptr>(src))
XS_COPY_ASYNC(cuMemcpyDtoHAsync_v2, Flavor::kLegacy, cu::Op::kMemcpyDtoH, cuMemcpyDtoHAsync_v2, void*, CUdeviceptr,
              reinterpret_cast<CUdeviceptr>(dst), src)
XS_COPY_ASYNC(cuMemcpyDtoHAsync_v2_ptsz, Flavor::kPerThread, cu::Op::kMemcpyDtoH, cuMemcpyDtoHAsync_v2, void*,
              CUdeviceptr, reinterpret_cast<CUdeviceptr>(dst), src)
XS_COPY_ASYNC(cuMemcpyDtoDAsync_v2, Flavor::kLegacy, cu::Op::kMemcpyDtoD, cuMemcpyDtoDAsync_v2, CUdeviceptr, CUdeviceptr,
              dst, src)
XS_COPY_ASYNC(cuMemcpyDtoDAsync_v2_ptsz, Flavor::kPerThread, cu::Op::kMemcpyDtoD, cuMemcpyDtoDAsync_v2, CUdeviceptr,
              CUdeviceptr, dst, src)
#undef XS_COPY_ASYNC

static CUresult peer_copy(const char* api, Flavor fl, CUdeviceptr dst, CUcontext dst_ctx, CUdeviceptr src,
                          CUcontext src_ctx, size_t bytes, CUstream s) {
  cu::Call c{};
  c.op = cu::Op::kMemcpyPeer;
  c.memcpy = cu::Memcpy{dst, src, bytes, dst_ctx, src_ctx};
  const ip::StreamOpResult r = ip::run_stream_op(s, fl, XS_CMD_COPY, c, [&](CUstream st) {
    return ip::call_real(XS_REAL(cuMemcpyPeerAsync), dst, dst_ctx, src, src_ctx, bytes, st);
  });
  if (ip::trace_enabled()) {
    ip::trace_call(api, r.result, "dst=%p src=%p bytes=%zu stream=%p queue=%llu", ip::as_ptr(dst), ip::as_ptr(src), bytes,
                   static_cast<void*>(s), ip::queue_id(r));
  }
  return r.result;
}
XS_CUDA_EXPORT CUresult cuMemcpyPeerAsync(CUdeviceptr dst, CUcontext dc, CUdeviceptr src, CUcontext sc, size_t n, CUstream s) {
  return peer_copy(__func__, Flavor::kLegacy, dst, dc, src, sc, n, s);
}
XS_CUDA_EXPORT CUresult cuMemcpyPeerAsync_ptsz(CUdeviceptr dst, CUcontext dc, CUdeviceptr src, CUcontext sc, size_t n,
                                               CUstream s) {
  return peer_copy(__func__, Flavor::kPerThread, dst, dc, src, sc, n, s);
}

XS_CUDA_EXPORT CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D* d, CUstream s) {
  return ip::copy_nd_op(__func__, Flavor::kLegacy, cu::Op::kMemcpy2D, d, s,
                        [&](CUstream st) { return ip::call_real(XS_REAL(cuMemcpy2DAsync_v2), d, st); });
}
XS_CUDA_EXPORT CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D* d, CUstream s) {
  return ip::copy_nd_op(__func__, Flavor::kPerThread, cu::Op::kMemcpy2D, d, s,
                        [&](CUstream st) { return ip::call_real(XS_REAL(cuMemcpy2DAsync_v2), d, st); });
}
XS_CUDA_EXPORT CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D* d, CUstream s) {
  return ip::copy_nd_op(__func__, Flavor::kLegacy, cu::Op::kMemcpy3D, d, s,
                        [&](CUstream st) { return ip::call_real(XS_REAL(cuMemcpy3DAsync_v2), d, st); });
}
XS_CUDA_EXPORT CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D* d, CUstream s) {
  return ip::copy_nd_op(__func__, Flavor::kPerThread, cu::Op::kMemcpy3D, d, s,
                        [&](CUstream st) { return ip::call_real(XS_REAL(cuMemcpy3DAsync_v2), d, st); });
}

// ---- asynchronous fills ----

#define XS_MEMSET_ASYNC(NAME, FLAVOR, REAL, T, BYTES)                                                  \
  XS_CUDA_EXPORT CUresult NAME(CUdeviceptr dst, T value, size_t n, CUstream s) {                       \
    return ip::memset_op(#NAME, FLAVOR, dst, 0, value, BYTES, n, 1, s,                                 \
                         [&](CUstream st) { return ip::call_real(XS_REAL(REAL), dst, value, n, st); }); \
  }
XS_MEMSET_ASYNC(cuMemsetD8Async, Flavor::kLegacy, cuMemsetD8Async, unsigned char, 1)
XS_MEMSET_ASYNC(cuMemsetD8Async_ptsz, Flavor::kPerThread, cuMemsetD8Async, unsigned char, 1)
XS_MEMSET_ASYNC(cuMemsetD16Async, Flavor::kLegacy, cuMemsetD16Async, unsigned short, 2)
XS_MEMSET_ASYNC(cuMemsetD16Async_ptsz, Flavor::kPerThread, cuMemsetD16Async, unsigned short, 2)
XS_MEMSET_ASYNC(cuMemsetD32Async, Flavor::kLegacy, cuMemsetD32Async, unsigned int, 4)
XS_MEMSET_ASYNC(cuMemsetD32Async_ptsz, Flavor::kPerThread, cuMemsetD32Async, unsigned int, 4)
#undef XS_MEMSET_ASYNC

#define XS_MEMSET2D_ASYNC(NAME, FLAVOR, REAL, T, BYTES)                                                         \
  XS_CUDA_EXPORT CUresult NAME(CUdeviceptr dst, size_t pitch, T value, size_t w, size_t h, CUstream s) {       \
    return ip::memset_op(#NAME, FLAVOR, dst, pitch, value, BYTES, w, h, s,                                     \
                         [&](CUstream st) { return ip::call_real(XS_REAL(REAL), dst, pitch, value, w, h, st); }); \
  }
XS_MEMSET2D_ASYNC(cuMemsetD2D8Async, Flavor::kLegacy, cuMemsetD2D8Async, unsigned char, 1)
XS_MEMSET2D_ASYNC(cuMemsetD2D8Async_ptsz, Flavor::kPerThread, cuMemsetD2D8Async, unsigned char, 1)
XS_MEMSET2D_ASYNC(cuMemsetD2D16Async, Flavor::kLegacy, cuMemsetD2D16Async, unsigned short, 2)
XS_MEMSET2D_ASYNC(cuMemsetD2D16Async_ptsz, Flavor::kPerThread, cuMemsetD2D16Async, unsigned short, 2)
XS_MEMSET2D_ASYNC(cuMemsetD2D32Async, Flavor::kLegacy, cuMemsetD2D32Async, unsigned int, 4)
XS_MEMSET2D_ASYNC(cuMemsetD2D32Async_ptsz, Flavor::kPerThread, cuMemsetD2D32Async, unsigned int, 4)
#undef XS_MEMSET2D_ASYNC

// ---- stream-ordered free and memory-word operations ----

static CUresult free_async(const char* api, Flavor fl, CUdeviceptr p, CUstream s) {
  cu::Call c{};
  c.op = cu::Op::kMemFree;
  c.mem_free = cu::MemFree{p};
  const ip::StreamOpResult r = ip::run_stream_op(
      s, fl, XS_CMD_MEM_OP, c, [&](CUstream st) { return ip::call_real(XS_REAL(cuMemFreeAsync), p, st); });
  if (ip::trace_enabled()) {
    ip::trace_call(api, r.result, "ptr=%p stream=%p queue=%llu", ip::as_ptr(p), static_cast<void*>(s), ip::queue_id(r));
  }
  return r.result;
}
XS_CUDA_EXPORT CUresult cuMemFreeAsync(CUdeviceptr p, CUstream s) { return free_async(__func__, Flavor::kLegacy, p, s); }
XS_CUDA_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr p, CUstream s) {
  return free_async(__func__, Flavor::kPerThread, p, s);
}

#define XS_VALUE_OP(NAME, FLAVOR, OP, REAL, T)                                                             \
  XS_CUDA_EXPORT CUresult NAME(CUstream s, CUdeviceptr addr, T value, unsigned flags) {                     \
    return ip::value_op(#NAME, FLAVOR, OP, s, addr, value, flags,                                           \
                        [&](CUstream st) { return ip::call_real(XS_REAL(REAL), st, addr, value, flags); }); \
  }
XS_VALUE_OP(cuStreamWaitValue32_v2, Flavor::kLegacy, cu::Op::kWaitValue32, cuStreamWaitValue32_v2, cuuint32_t)
XS_VALUE_OP(cuStreamWaitValue32_v2_ptsz, Flavor::kPerThread, cu::Op::kWaitValue32, cuStreamWaitValue32_v2, cuuint32_t)
XS_VALUE_OP(cuStreamWaitValue64_v2, Flavor::kLegacy, cu::Op::kWaitValue64, cuStreamWaitValue64_v2, cuuint64_t)
XS_VALUE_OP(cuStreamWaitValue64_v2_ptsz, Flavor::kPerThread, cu::Op::kWaitValue64, cuStreamWaitValue64_v2, cuuint64_t)
XS_VALUE_OP(cuStreamWriteValue32_v2, Flavor::kLegacy, cu::Op::kWriteValue32, cuStreamWriteValue32_v2, cuuint32_t)
XS_VALUE_OP(cuStreamWriteValue32_v2_ptsz, Flavor::kPerThread, cu::Op::kWriteValue32, cuStreamWriteValue32_v2, cuuint32_t)
XS_VALUE_OP(cuStreamWriteValue64_v2, Flavor::kLegacy, cu::Op::kWriteValue64, cuStreamWriteValue64_v2, cuuint64_t)
XS_VALUE_OP(cuStreamWriteValue64_v2_ptsz, Flavor::kPerThread, cu::Op::kWriteValue64, cuStreamWriteValue64_v2, cuuint64_t)
#undef XS_VALUE_OP

static CUresult batch_mem_op(const char* api, Flavor fl, CUstream s, unsigned count, CUstreamBatchMemOpParams* ops,
                             unsigned flags) {
  cu::Call c{};
  c.op = cu::Op::kBatchMemOp;
  c.batch = cu::BatchMemOp{ops, count, flags};
  const ip::StreamOpResult r = ip::run_stream_op(s, fl, XS_CMD_MEM_OP, c, [&](CUstream st) {
    return ip::call_real(XS_REAL(cuStreamBatchMemOp_v2), st, count, ops, flags);
  });
  if (ip::trace_enabled()) {
    ip::trace_call(api, r.result, "count=%u stream=%p queue=%llu", count, static_cast<void*>(s), ip::queue_id(r));
  }
  return r.result;
}
XS_CUDA_EXPORT CUresult cuStreamBatchMemOp_v2(CUstream s, unsigned count, CUstreamBatchMemOpParams* ops, unsigned flags) {
  return batch_mem_op(__func__, Flavor::kLegacy, s, count, ops, flags);
}
XS_CUDA_EXPORT CUresult cuStreamBatchMemOp_v2_ptsz(CUstream s, unsigned count, CUstreamBatchMemOpParams* ops,
                                                   unsigned flags) {
  return batch_mem_op(__func__, Flavor::kPerThread, s, count, ops, flags);
}

// ---- synchronous copies and fills (ordered on the default stream) ----

#define XS_SYNC_OP(NAME, FLAVOR, PARAMS, ARGS) \
  XS_CUDA_EXPORT CUresult NAME PARAMS {        \
    return ip::default_stream_sync(#NAME, FLAVOR, [&] { return ip::call_real(XS_REAL(NAME), ARGS); }); \
  }
#define XS_ARGS(...) __VA_ARGS__
XS_SYNC_OP(cuMemcpy, Flavor::kLegacy, (CUdeviceptr d, CUdeviceptr s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpy_ptds, Flavor::kPerThread, (CUdeviceptr d, CUdeviceptr s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpyHtoD_v2, Flavor::kLegacy, (CUdeviceptr d, const void* s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpyHtoD_v2_ptds, Flavor::kPerThread, (CUdeviceptr d, const void* s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpyDtoH_v2, Flavor::kLegacy, (void* d, CUdeviceptr s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpyDtoH_v2_ptds, Flavor::kPerThread, (void* d, CUdeviceptr s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpyDtoD_v2, Flavor::kLegacy, (CUdeviceptr d, CUdeviceptr s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpyDtoD_v2_ptds, Flavor::kPerThread, (CUdeviceptr d, CUdeviceptr s, size_t n), XS_ARGS(d, s, n))
XS_SYNC_OP(cuMemcpy2D_v2, Flavor::kLegacy, (const CUDA_MEMCPY2D* p), XS_ARGS(p))
XS_SYNC_OP(cuMemcpy2D_v2_ptds, Flavor::kPerThread, (const CUDA_MEMCPY2D* p), XS_ARGS(p))
XS_SYNC_OP(cuMemcpy2DUnaligned_v2, Flavor::kLegacy, (const CUDA_MEMCPY2D* p), XS_ARGS(p))
XS_SYNC_OP(cuMemcpy2DUnaligned_v2_ptds, Flavor::kPerThread, (const CUDA_MEMCPY2D* p), XS_ARGS(p))
XS_SYNC_OP(cuMemcpy3D_v2, Flavor::kLegacy, (const CUDA_MEMCPY3D* p), XS_ARGS(p))
XS_SYNC_OP(cuMemcpy3D_v2_ptds, Flavor::kPerThread, (const CUDA_MEMCPY3D* p), XS_ARGS(p))
XS_SYNC_OP(cuMemcpyPeer, Flavor::kLegacy, (CUdeviceptr d, CUcontext dc, CUdeviceptr s, CUcontext sc, size_t n),
           XS_ARGS(d, dc, s, sc, n))
XS_SYNC_OP(cuMemcpyPeer_ptds, Flavor::kPerThread, (CUdeviceptr d, CUcontext dc, CUdeviceptr s, CUcontext sc, size_t n),
           XS_ARGS(d, dc, s, sc, n))
XS_SYNC_OP(cuMemsetD8_v2, Flavor::kLegacy, (CUdeviceptr d, unsigned char v, size_t n), XS_ARGS(d, v, n))
XS_SYNC_OP(cuMemsetD8_v2_ptds, Flavor::kPerThread, (CUdeviceptr d, unsigned char v, size_t n), XS_ARGS(d, v, n))
XS_SYNC_OP(cuMemsetD16_v2, Flavor::kLegacy, (CUdeviceptr d, unsigned short v, size_t n), XS_ARGS(d, v, n))
XS_SYNC_OP(cuMemsetD16_v2_ptds, Flavor::kPerThread, (CUdeviceptr d, unsigned short v, size_t n), XS_ARGS(d, v, n))
XS_SYNC_OP(cuMemsetD32_v2, Flavor::kLegacy, (CUdeviceptr d, unsigned int v, size_t n), XS_ARGS(d, v, n))
XS_SYNC_OP(cuMemsetD32_v2_ptds, Flavor::kPerThread, (CUdeviceptr d, unsigned int v, size_t n), XS_ARGS(d, v, n))
XS_SYNC_OP(cuMemsetD2D8_v2, Flavor::kLegacy, (CUdeviceptr d, size_t p, unsigned char v, size_t w, size_t h),
           XS_ARGS(d, p, v, w, h))
XS_SYNC_OP(cuMemsetD2D8_v2_ptds, Flavor::kPerThread, (CUdeviceptr d, size_t p, unsigned char v, size_t w, size_t h),
           XS_ARGS(d, p, v, w, h))
XS_SYNC_OP(cuMemsetD2D16_v2, Flavor::kLegacy, (CUdeviceptr d, size_t p, unsigned short v, size_t w, size_t h),
           XS_ARGS(d, p, v, w, h))
XS_SYNC_OP(cuMemsetD2D16_v2_ptds, Flavor::kPerThread, (CUdeviceptr d, size_t p, unsigned short v, size_t w, size_t h),
           XS_ARGS(d, p, v, w, h))
XS_SYNC_OP(cuMemsetD2D32_v2, Flavor::kLegacy, (CUdeviceptr d, size_t p, unsigned int v, size_t w, size_t h),
           XS_ARGS(d, p, v, w, h))
XS_SYNC_OP(cuMemsetD2D32_v2_ptds, Flavor::kPerThread, (CUdeviceptr d, size_t p, unsigned int v, size_t w, size_t h),
           XS_ARGS(d, p, v, w, h))
#undef XS_SYNC_OP
#undef XS_ARGS

}  // extern "C"

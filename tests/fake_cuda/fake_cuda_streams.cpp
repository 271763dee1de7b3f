// Streams: creation, queries, capture status (never capturing), and the
// operations that are neither copies, kernels nor events: host functions,
// callbacks, and the stream memory operations (wait / write value).

#include "fake_cuda_internal.h"

#include <algorithm>
#include <type_traits>

namespace fake_cuda {

CUstream add_user_stream(Context* c, unsigned flags, int priority) {
  reap();
  priority = std::clamp(priority, kGreatestPriority, kLeastPriority);
  auto s = make_stream(c, Kind::User, flags, priority);
  {
    std::lock_guard lk(c->m);
    prune(*c);
    c->streams.push_back(s);
  }
  const auto h = reinterpret_cast<CUstream>(s.get());
  Registry& r = reg();
  std::lock_guard lk(r.m);
  r.streams[h] = s;
  return h;
}

namespace {

CUresult stream_create(CUstream* ph, unsigned flags, int priority) {
  if (ph == nullptr || (flags & ~static_cast<unsigned>(CU_STREAM_NON_BLOCKING)) != 0) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  *ph = add_user_stream(c, flags, priority);
  return CUDA_SUCCESS;
}

CUresult host_func(CUstream h, CUhostFn fn, void* data, bool ptsz) {
  if (fn == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_HOST_FUNC;
  op.name = "host_func";
  op.run = [fn, data] { fn(data); };
  return enqueue(s, std::move(op));
}

CUresult add_callback(CUstream h, CUstreamCallback cb, void* data, unsigned flags, bool ptsz) {
  if (cb == nullptr || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_HOST_FUNC;
  op.name = "callback";
  op.run = [cb, h, data] { cb(h, CUDA_SUCCESS, data); };
  return enqueue(s, std::move(op));
}

template <class T>
bool wait_satisfied(T cur, T value, unsigned cond) {
  using S = std::make_signed_t<T>;
  switch (cond) {
    case CU_STREAM_WAIT_VALUE_GEQ:
      return static_cast<S>(cur - value) >= 0;
    case CU_STREAM_WAIT_VALUE_EQ:
      return cur == value;
    case CU_STREAM_WAIT_VALUE_AND:
      return (cur & value) != 0;
    default:  // NOR
      return static_cast<T>(~(cur | value)) != 0;
  }
}

template <class T>
CUresult wait_value(CUstream h, CUdeviceptr addr, T value, unsigned flags, bool ptsz) {
  if ((flags & ~(0x3u | CU_STREAM_WAIT_VALUE_FLUSH)) != 0) return CUDA_ERROR_INVALID_VALUE;
  if (addr % sizeof(T) != 0 || !valid_dptr(addr, sizeof(T))) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_WAIT_VALUE;
  op.name = sizeof(T) == 4 ? "wait_value32" : "wait_value64";
  op.value = static_cast<long long>(value);
  op.bytes = sizeof(T);
  T* p = reinterpret_cast<T*>(addr);
  const unsigned cond = flags & 0x3u;
  op.run = [p, value, cond] {
    std::atomic_ref<T> word(*p);
    for (unsigned spins = 0; !g_shutdown.load(); ++spins) {
      if (wait_satisfied<T>(word.load(std::memory_order_acquire), value, cond)) return;
      if (spins < 200)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  };
  return enqueue(s, std::move(op));
}

template <class T>
CUresult write_value(CUstream h, CUdeviceptr addr, T value, unsigned flags, bool ptsz) {
  if ((flags & ~static_cast<unsigned>(CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER)) != 0) return CUDA_ERROR_INVALID_VALUE;
  if (addr % sizeof(T) != 0 || !valid_dptr(addr, sizeof(T))) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_WRITE_VALUE;
  op.name = sizeof(T) == 4 ? "write_value32" : "write_value64";
  op.value = static_cast<long long>(value);
  op.bytes = sizeof(T);
  T* p = reinterpret_cast<T*>(addr);
  op.run = [p, value] { std::atomic_ref<T>(*p).store(value, std::memory_order_release); };
  return enqueue(s, std::move(op));
}

CUresult stream_query(CUstream h, bool ptsz) {
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  std::lock_guard lk(s->m);
  return s->completed == s->submitted ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult stream_sync(CUstream h, bool ptsz) {
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  u64 seq = 0;
  {
    std::lock_guard lk(s->m);
    seq = s->submitted;
  }
  wait_seq(*s, seq);
  return CUDA_SUCCESS;
}

CUresult get_ctx(CUstream h, CUcontext* pctx, bool ptsz) {
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream& s) { *pctx = reinterpret_cast<CUcontext>(s.ctx); });
}

// A green context's stream reports the primary context and the green context.
CUresult get_ctx_v2(CUstream h, CUcontext* pctx, CUgreenCtx* pgreen, bool ptsz) {
  if (pctx == nullptr || pgreen == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (h == CU_STREAM_PER_THREAD || (h == nullptr && ptsz)) {
    const Context* cur = current_ctx();
    if (cur != nullptr && cur->green != nullptr) return CUDA_ERROR_INVALID_HANDLE;  // as cuda.h says
  }
  return with_stream(h, ptsz, [&](Stream& s) {
    *pctx = reinterpret_cast<CUcontext>(s.ctx->green != nullptr ? s.ctx->root : s.ctx);
    *pgreen = reinterpret_cast<CUgreenCtx>(s.ctx->green);
  });
}

CUresult get_flags(CUstream h, unsigned* flags, bool ptsz) {
  if (flags == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream& s) { *flags = s.flags; });
}

CUresult get_priority(CUstream h, int* priority, bool ptsz) {
  if (priority == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream& s) { *priority = s.priority; });
}

CUresult get_id(CUstream h, unsigned long long* id, bool ptsz) {
  if (id == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream& s) { *id = s.id; });
}

CUresult get_device(CUstream h, CUdevice* dev, bool ptsz) {
  if (dev == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream& s) { *dev = s.ctx->dev; });
}

CUresult is_capturing(CUstream h, CUstreamCaptureStatus* status, bool ptsz) {
  if (status == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream&) { *status = CU_STREAM_CAPTURE_STATUS_NONE; });
}

// No stream is ever capturing: every version reports NONE and empty outputs.
CUresult capture_info(CUstream h, CUstreamCaptureStatus* status, cuuint64_t* id, CUgraph* graph,
                      const CUgraphNode** deps, const CUgraphEdgeData** edges, size_t* num, bool ptsz) {
  if (status == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream&) {
    *status = CU_STREAM_CAPTURE_STATUS_NONE;
    if (id != nullptr) *id = 0;
    if (graph != nullptr) *graph = nullptr;
    if (deps != nullptr) *deps = nullptr;
    if (edges != nullptr) *edges = nullptr;
    if (num != nullptr) *num = 0;
  });
}

}  // namespace

}  // namespace fake_cuda

using namespace fake_cuda;  // the driver's internals, for the entry points below

FAKE_EXPORT CUresult CUDAAPI cuStreamCreate(CUstream* phStream, unsigned int Flags) {
  FAKE_BODY(stream_create(phStream, Flags, kLeastPriority))
}

FAKE_EXPORT CUresult CUDAAPI cuStreamCreateWithPriority(CUstream* phStream, unsigned int flags, int priority) {
  FAKE_BODY(stream_create(phStream, flags, priority))
}

FAKE_EXPORT CUresult CUDAAPI cuStreamDestroy_v2(CUstream hStream) {
  FAKE_ENTRY_INIT();
  if (hStream == nullptr || hStream == CU_STREAM_LEGACY || hStream == CU_STREAM_PER_THREAD)
    return CUDA_ERROR_INVALID_HANDLE;
  std::shared_ptr<Stream> s;
  {
    Registry& r = reg();
    std::lock_guard lk(r.m);
    auto it = r.streams.find(hStream);
    if (it == r.streams.end()) return CUDA_ERROR_INVALID_HANDLE;
    if (!it->second->ctx->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;  // of a destroyed green context
    s = std::move(it->second);
    r.streams.erase(it);
  }
  mark_destroyed(*s);  // returns at once; queued work still runs
  reap();
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuStreamQuery(CUstream hStream) FAKE_BODY(stream_query(hStream, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamQuery_ptsz(CUstream hStream) FAKE_BODY(stream_query(hStream, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamSynchronize(CUstream hStream) FAKE_BODY(stream_sync(hStream, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamSynchronize_ptsz(CUstream hStream) FAKE_BODY(stream_sync(hStream, true))

FAKE_EXPORT CUresult CUDAAPI cuStreamGetCtx(CUstream hStream, CUcontext* pctx) FAKE_BODY(get_ctx(hStream, pctx, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCtx_ptsz(CUstream hStream, CUcontext* pctx)
    FAKE_BODY(get_ctx(hStream, pctx, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCtx_v2(CUstream hStream, CUcontext* pCtx, CUgreenCtx* pGreenCtx)
    FAKE_BODY(get_ctx_v2(hStream, pCtx, pGreenCtx, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCtx_v2_ptsz(CUstream hStream, CUcontext* pCtx, CUgreenCtx* pGreenCtx)
    FAKE_BODY(get_ctx_v2(hStream, pCtx, pGreenCtx, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetFlags(CUstream hStream, unsigned int* flags)
    FAKE_BODY(get_flags(hStream, flags, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetFlags_ptsz(CUstream hStream, unsigned int* flags)
    FAKE_BODY(get_flags(hStream, flags, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetPriority(CUstream hStream, int* priority)
    FAKE_BODY(get_priority(hStream, priority, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetPriority_ptsz(CUstream hStream, int* priority)
    FAKE_BODY(get_priority(hStream, priority, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetId(CUstream hStream, unsigned long long* streamId)
    FAKE_BODY(get_id(hStream, streamId, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetId_ptsz(CUstream hStream, unsigned long long* streamId)
    FAKE_BODY(get_id(hStream, streamId, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetDevice(CUstream hStream, CUdevice* device)
    FAKE_BODY(get_device(hStream, device, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetDevice_ptsz(CUstream hStream, CUdevice* device)
    FAKE_BODY(get_device(hStream, device, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus* captureStatus)
    FAKE_BODY(is_capturing(hStream, captureStatus, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus)
    FAKE_BODY(is_capturing(hStream, captureStatus, true))

FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                    cuuint64_t* id_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, nullptr, nullptr, nullptr, nullptr, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                         cuuint64_t* id_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, nullptr, nullptr, nullptr, nullptr, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                       cuuint64_t* id_out, CUgraph* graph_out,
                                                       const CUgraphNode** dependencies_out,
                                                       size_t* numDependencies_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, nullptr,
                           numDependencies_out, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                            cuuint64_t* id_out, CUgraph* graph_out,
                                                            const CUgraphNode** dependencies_out,
                                                            size_t* numDependencies_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, nullptr,
                           numDependencies_out, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                       cuuint64_t* id_out, CUgraph* graph_out,
                                                       const CUgraphNode** dependencies_out,
                                                       const CUgraphEdgeData** edgeData_out,
                                                       size_t* numDependencies_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out,
                           numDependencies_out, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                            cuuint64_t* id_out, CUgraph* graph_out,
                                                            const CUgraphNode** dependencies_out,
                                                            const CUgraphEdgeData** edgeData_out,
                                                            size_t* numDependencies_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out,
                           numDependencies_out, true))

FAKE_EXPORT CUresult CUDAAPI cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode* mode) {
  FAKE_ENTRY_INIT();
  if (mode == nullptr || *mode < CU_STREAM_CAPTURE_MODE_GLOBAL || *mode > CU_STREAM_CAPTURE_MODE_RELAXED)
    return CUDA_ERROR_INVALID_VALUE;
  std::swap(*mode, t_state.capture_mode);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void* userData,
                                                 unsigned int flags)
    FAKE_BODY(add_callback(hStream, callback, userData, flags, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamAddCallback_ptsz(CUstream hStream, CUstreamCallback callback, void* userData,
                                                      unsigned int flags)
    FAKE_BODY(add_callback(hStream, callback, userData, flags, true))
FAKE_EXPORT CUresult CUDAAPI cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void* userData)
    FAKE_BODY(host_func(hStream, fn, userData, false))
FAKE_EXPORT CUresult CUDAAPI cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void* userData)
    FAKE_BODY(host_func(hStream, fn, userData, true))

// Stream memory operations: v1 and v2 behave the same here.
#define FAKE_MEMOP(name, impl, T)                                                                  \
  FAKE_EXPORT CUresult CUDAAPI name(CUstream stream, CUdeviceptr addr, T value, unsigned int flags) \
      FAKE_BODY(impl<T>(stream, addr, value, flags, false))                                        \
  FAKE_EXPORT CUresult CUDAAPI name##_ptsz(CUstream stream, CUdeviceptr addr, T value, unsigned int flags) \
      FAKE_BODY(impl<T>(stream, addr, value, flags, true))

FAKE_MEMOP(cuStreamWaitValue32, wait_value, cuuint32_t)
FAKE_MEMOP(cuStreamWaitValue32_v2, wait_value, cuuint32_t)
FAKE_MEMOP(cuStreamWriteValue32, write_value, cuuint32_t)
FAKE_MEMOP(cuStreamWriteValue32_v2, write_value, cuuint32_t)
FAKE_MEMOP(cuStreamWaitValue64, wait_value, cuuint64_t)
FAKE_MEMOP(cuStreamWaitValue64_v2, wait_value, cuuint64_t)
FAKE_MEMOP(cuStreamWriteValue64, write_value, cuuint64_t)
FAKE_MEMOP(cuStreamWriteValue64_v2, write_value, cuuint64_t)
#undef FAKE_MEMOP

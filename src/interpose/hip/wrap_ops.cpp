// The HIP interposer's wrappers of operations on streams other than kernel
// launches (wrap_launch.cpp), each with its _spt flavour (wrap_common.h):
// copies, fills and host functions become commands of the stream's queue;
// event records and waits on events go to the runtime after what the stream
// holds. A copy that names pageable memory cannot wait: what the stream
// holds is launched first, then the copy goes as made.
#include "interpose/common/trace.h"
#include "interpose/hip/wrap_common.h"

namespace xsched::interpose::hip {
namespace {

using xsched::hip::HipCall;
using xsched::hip::HipOp;

template <class Real>
hipError_t memcpy_async(const char* api, Real real, void* dst, const void* src, size_t bytes, hipMemcpyKind kind,
                        hipStream_t stream, Zero zero) {
  auto direct = [&] { return real != nullptr ? real(dst, src, bytes, kind, stream) : hipErrorNotInitialized; };
  const Target t = target(stream, zero);
  HipCall c{};
  c.op = HipOp::kMemcpy;
  c.memcpy = {dst, src, bytes, kind};
  const hipError_t r = submit_or_direct(t, c, direct);
  if (trace_enabled()) {
    trace_call(api, r, "dst=%p src=%p bytes=%zu stream=%p queue=%llu", dst, src, bytes, static_cast<void*>(stream),
               queue_id(t));
  }
  return r;
}

template <class Real>
hipError_t memset_async(const char* api, Real real, void* dst, int value, size_t bytes, hipStream_t stream, Zero zero) {
  auto direct = [&] { return real != nullptr ? real(dst, value, bytes, stream) : hipErrorNotInitialized; };
  const Target t = target(stream, zero);
  HipCall c{};
  c.op = HipOp::kMemset;
  c.memset = {dst, value, bytes};
  const hipError_t r = submit_or_direct(t, c, direct);
  if (trace_enabled()) {
    trace_call(api, r, "dst=%p value=%d bytes=%zu stream=%p queue=%llu", dst, value, bytes,
               static_cast<void*>(stream), queue_id(t));
  }
  return r;
}

template <class Real>
hipError_t launch_host_func(const char* api, Real real, hipStream_t stream, hipHostFn_t fn, void* data, Zero zero) {
  auto direct = [&] { return real != nullptr ? real(stream, fn, data) : hipErrorNotSupported; };
  const Target t = target(stream, zero);
  hipError_t r;
  if (t.sq != nullptr && real != nullptr) {
    HipCall c{};
    c.op = HipOp::kHostFunc;
    c.host_fn = {fn, data};
    r = submit(*t.sq, c, direct);
  } else {
    r = after_flushing(t, direct);
  }
  if (trace_enabled()) trace_call(api, r, "stream=%p queue=%llu", static_cast<void*>(stream), queue_id(t));
  return r;
}

template <class Real>
hipError_t event_record(const char* api, Real real, hipEvent_t e, hipStream_t stream, Zero zero) {
  const Target t = target(stream, zero);
  const hipError_t r = after_flushing(t, [&] { return real != nullptr ? real(e, stream) : hipErrorNotInitialized; });
  if (trace_enabled()) {
    trace_call(api, r, "event=%p stream=%p queue=%llu", static_cast<void*>(e), static_cast<void*>(stream), queue_id(t));
  }
  return r;
}

template <class Real>
hipError_t stream_wait_event(const char* api, Real real, hipStream_t stream, hipEvent_t e, unsigned flags, Zero zero) {
  const Target t = target(stream, zero);
  const hipError_t r =
      after_flushing(t, [&] { return real != nullptr ? real(stream, e, flags) : hipErrorNotInitialized; });
  if (trace_enabled()) {
    trace_call(api, r, "stream=%p event=%p queue=%llu", static_cast<void*>(stream), static_cast<void*>(e), queue_id(t));
  }
  return r;
}

}  // namespace
}  // namespace xsched::interpose::hip

namespace ih = xsched::interpose::hip;
using ih::Zero;

// The _spt flavours: some ROCm headers lack them (5.2 declares neither
// hipMemsetAsync_spt nor hipEventRecord_spt) or give them C++ linkage, so
// they are defined under the runtime's exported names (asm labels) with the
// runtime's types, whatever the headers say.
using MemcpyAsyncFn = hipError_t (*)(void*, const void*, size_t, hipMemcpyKind, hipStream_t);
using MemsetAsyncFn = hipError_t (*)(void*, int, size_t, hipStream_t);
using HostFuncFn = hipError_t (*)(hipStream_t, hipHostFn_t, void*);
using EventRecordFn = hipError_t (*)(hipEvent_t, hipStream_t);
using WaitEventFn = hipError_t (*)(hipStream_t, hipEvent_t, unsigned);
XS_HIP_EXPORT hipError_t xs_hipMemcpyAsync_spt(void*, const void*, size_t, hipMemcpyKind, hipStream_t) __asm__(
    "hipMemcpyAsync_spt");
XS_HIP_EXPORT hipError_t xs_hipMemsetAsync_spt(void*, int, size_t, hipStream_t) __asm__("hipMemsetAsync_spt");
XS_HIP_EXPORT hipError_t xs_hipLaunchHostFunc_spt(hipStream_t, hipHostFn_t, void*) __asm__("hipLaunchHostFunc_spt");
XS_HIP_EXPORT hipError_t xs_hipEventRecord_spt(hipEvent_t, hipStream_t) __asm__("hipEventRecord_spt");
XS_HIP_EXPORT hipError_t xs_hipStreamWaitEvent_spt(hipStream_t, hipEvent_t, unsigned) __asm__("hipStreamWaitEvent_spt");

XS_HIP_EXPORT hipError_t hipMemcpyAsync(void* dst, const void* src, size_t bytes, hipMemcpyKind kind,
                                        hipStream_t stream) {
  return ih::memcpy_async("hipMemcpyAsync", XS_REAL(hipMemcpyAsync), dst, src, bytes, kind, stream, Zero::kNullStream);
}

XS_HIP_EXPORT hipError_t xs_hipMemcpyAsync_spt(void* dst, const void* src, size_t bytes, hipMemcpyKind kind,
                                               hipStream_t stream) {
  static const auto real = ih::real<MemcpyAsyncFn>("hipMemcpyAsync_spt");
  return ih::memcpy_async("hipMemcpyAsync_spt", real, dst, src, bytes, kind, stream, Zero::kPerThread);
}

XS_HIP_EXPORT hipError_t hipMemsetAsync(void* dst, int value, size_t bytes, hipStream_t stream) {
  return ih::memset_async("hipMemsetAsync", XS_REAL(hipMemsetAsync), dst, value, bytes, stream, Zero::kNullStream);
}

XS_HIP_EXPORT hipError_t xs_hipMemsetAsync_spt(void* dst, int value, size_t bytes, hipStream_t stream) {
  static const auto real = ih::real<MemsetAsyncFn>("hipMemsetAsync_spt");
  return ih::memset_async("hipMemsetAsync_spt", real, dst, value, bytes, stream, Zero::kPerThread);
}

XS_HIP_EXPORT hipError_t hipLaunchHostFunc(hipStream_t stream, hipHostFn_t fn, void* data) {
  return ih::launch_host_func("hipLaunchHostFunc", XS_REAL(hipLaunchHostFunc), stream, fn, data, Zero::kNullStream);
}

XS_HIP_EXPORT hipError_t xs_hipLaunchHostFunc_spt(hipStream_t stream, hipHostFn_t fn, void* data) {
  static const auto real = ih::real<HostFuncFn>("hipLaunchHostFunc_spt");
  return ih::launch_host_func("hipLaunchHostFunc_spt", real, stream, fn, data, Zero::kPerThread);
}

XS_HIP_EXPORT hipError_t hipEventRecord(hipEvent_t e, hipStream_t stream) {
  return ih::event_record("hipEventRecord", XS_REAL(hipEventRecord), e, stream, Zero::kNullStream);
}

XS_HIP_EXPORT hipError_t xs_hipEventRecord_spt(hipEvent_t e, hipStream_t stream) {
  static const auto real = ih::real<EventRecordFn>("hipEventRecord_spt");
  return ih::event_record("hipEventRecord_spt", real, e, stream, Zero::kPerThread);
}

XS_HIP_EXPORT hipError_t hipStreamWaitEvent(hipStream_t stream, hipEvent_t e, unsigned flags) {
  return ih::stream_wait_event("hipStreamWaitEvent", XS_REAL(hipStreamWaitEvent), stream, e, flags, Zero::kNullStream);
}

XS_HIP_EXPORT hipError_t xs_hipStreamWaitEvent_spt(hipStream_t stream, hipEvent_t e, unsigned flags) {
  static const auto real = ih::real<WaitEventFn>("hipStreamWaitEvent_spt");
  return ih::stream_wait_event("hipStreamWaitEvent_spt", real, stream, e, flags, Zero::kPerThread);
}

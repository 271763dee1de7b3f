// The HIP interposer's wrappers of stream lifetime, synchronisation and
// memory (libxsched_hip.so, by LD_PRELOAD in front of libamdhip64.so); the
// operations on streams are wrap_ops.cpp's and wrap_launch.cpp's, the entry
// points through hipGetProcAddress proc_address.cpp's. Synchronisation waits
// for the queues; frees keep every gate open while the runtime waits for the
// device. Every call is traced under XSCHED_TRACE=1.
#include <cstdint>

#include "gates/gate_words.h"
#include "interpose/common/trace.h"
#include "interpose/hip/wrap_common.h"

const int xsched_hip_interposer_abi = 1;

namespace xsched::interpose::hip {
namespace {

// hipStreamSynchronize and its _spt flavour: the stream's queue first, then the runtime.
template <class Real>
hipError_t synchronize(const char* api, Real real, hipStream_t stream, Zero zero) {
  const Target t = target(stream, zero);
  if (t.sq != nullptr) t.sq->xq->wait_all(XS_WAIT_FOREVER);
  const hipError_t r = real != nullptr ? real(stream) : hipErrorNotInitialized;
  if (trace_enabled()) trace_call(api, r, "stream=%p queue=%llu", static_cast<void*>(stream), queue_id(t));
  return r;
}

// hipStreamQuery and its _spt flavour: not ready while the stream's queue holds work.
template <class Real>
hipError_t query(const char* api, Real real, hipStream_t stream, Zero zero) {
  const Target t = target(stream, zero);
  hipError_t r;
  if (t.sq != nullptr && t.sq->xq->completed() < t.sq->xq->submitted()) {
    r = hipErrorNotReady;
  } else {
    r = real != nullptr ? real(stream) : hipErrorNotInitialized;
  }
  if (trace_enabled()) trace_call(api, r, "stream=%p queue=%llu", static_cast<void*>(stream), queue_id(t));
  return r;
}

}  // namespace
}  // namespace xsched::interpose::hip

namespace ih = xsched::interpose::hip;
using xsched::interpose::trace_call;
using xsched::interpose::trace_enabled;

using StreamFn = hipError_t (*)(hipStream_t);
// Entry points some ROCm headers lack or declare with C++ linkage: defined
// under the runtime's exported names (wrap_common.h).
XS_HIP_EXPORT hipError_t xs_hipStreamSynchronize_spt(hipStream_t) __asm__("hipStreamSynchronize_spt");
XS_HIP_EXPORT hipError_t xs_hipStreamQuery_spt(hipStream_t) __asm__("hipStreamQuery_spt");

// ---- streams ----

XS_HIP_EXPORT hipError_t hipStreamCreateWithPriority(hipStream_t* s, unsigned flags, int priority) {
  const auto fn = XS_REAL(hipStreamCreateWithPriority);
  const hipError_t r = fn != nullptr ? fn(s, flags, priority) : hipErrorNotInitialized;
  if (r == hipSuccess) ih::note_stream(*s, ih::current_device(), flags, priority);
  if (trace_enabled()) trace_call("hipStreamCreateWithPriority", r, "stream=%p priority=%d", s ? static_cast<void*>(*s) : nullptr, priority);
  return r;
}

XS_HIP_EXPORT hipError_t hipStreamCreateWithFlags(hipStream_t* s, unsigned flags) {
  const auto fn = XS_REAL(hipStreamCreateWithFlags);
  const hipError_t r = fn != nullptr ? fn(s, flags) : hipErrorNotInitialized;
  if (r == hipSuccess) ih::note_stream(*s, ih::current_device(), flags, 0);
  if (trace_enabled()) trace_call("hipStreamCreateWithFlags", r, "stream=%p", s ? static_cast<void*>(*s) : nullptr);
  return r;
}

XS_HIP_EXPORT hipError_t hipStreamCreate(hipStream_t* s) {
  const auto fn = XS_REAL(hipStreamCreate);
  const hipError_t r = fn != nullptr ? fn(s) : hipErrorNotInitialized;
  if (r == hipSuccess) ih::note_stream(*s, ih::current_device(), hipStreamDefault, 0);
  if (trace_enabled()) trace_call("hipStreamCreate", r, "stream=%p", s ? static_cast<void*>(*s) : nullptr);
  return r;
}

XS_HIP_EXPORT hipError_t hipStreamDestroy(hipStream_t s) {
  if (auto sq = ih::forget_stream(s); sq != nullptr) {
    sq->xq->close();
    sq->xq->wait_all(XS_WAIT_FOREVER);
  }
  const auto fn = XS_REAL(hipStreamDestroy);
  const hipError_t r = fn != nullptr ? fn(s) : hipErrorNotInitialized;
  if (trace_enabled()) trace_call("hipStreamDestroy", r, "stream=%p", static_cast<void*>(s));
  return r;
}

// ---- synchronisation ----

XS_HIP_EXPORT hipError_t hipStreamSynchronize(hipStream_t stream) {
  return ih::synchronize("hipStreamSynchronize", XS_REAL(hipStreamSynchronize), stream, ih::Zero::kNullStream);
}

XS_HIP_EXPORT hipError_t xs_hipStreamSynchronize_spt(hipStream_t stream) {
  static const auto real = ih::real<StreamFn>("hipStreamSynchronize_spt");
  return ih::synchronize("hipStreamSynchronize_spt", real, stream, ih::Zero::kPerThread);
}

XS_HIP_EXPORT hipError_t hipStreamQuery(hipStream_t stream) {
  return ih::query("hipStreamQuery", XS_REAL(hipStreamQuery), stream, ih::Zero::kNullStream);
}

XS_HIP_EXPORT hipError_t xs_hipStreamQuery_spt(hipStream_t stream) {
  static const auto real = ih::real<StreamFn>("hipStreamQuery_spt");
  return ih::query("hipStreamQuery_spt", real, stream, ih::Zero::kPerThread);
}

XS_HIP_EXPORT hipError_t hipDeviceSynchronize() {
  for (const auto& sq : ih::device_queues(ih::current_device())) sq->xq->wait_all(XS_WAIT_FOREVER);
  const auto fn = XS_REAL(hipDeviceSynchronize);
  const hipError_t r = fn != nullptr ? fn() : hipErrorNotInitialized;
  if (trace_enabled()) trace_call("hipDeviceSynchronize", r, nullptr);
  return r;
}

// ---- memory: traced as the field report traced it; frees with the gates open ----

XS_HIP_EXPORT hipError_t hipMalloc(void** p, size_t size) {
  // hipMalloc has C++ overloads in the header: the C entry point's type, spelled out.
  static const auto fn = ih::real<hipError_t (*)(void**, size_t)>("hipMalloc");
  const hipError_t r = fn != nullptr ? fn(p, size) : hipErrorNotInitialized;
  if (trace_enabled()) trace_call("hipMalloc", r, "size=%zu ptr=%p", size, p != nullptr ? *p : nullptr);
  return r;
}

// The runtime waits for the device before it frees: held gates would make it
// wait for the scheduler, which may wait for this thread.
XS_HIP_EXPORT hipError_t hipFree(void* p) {
  const xsched::gates::ForcedOpen open;
  const auto fn = XS_REAL(hipFree);
  const hipError_t r = fn != nullptr ? fn(p) : hipErrorNotInitialized;
  if (trace_enabled()) trace_call("hipFree", r, "ptr=%p", p);
  return r;
}

XS_HIP_EXPORT hipError_t hipHostFree(void* p) {
  const xsched::gates::ForcedOpen open;
  const auto fn = XS_REAL(hipHostFree);
  const hipError_t r = fn != nullptr ? fn(p) : hipErrorNotInitialized;
  if (trace_enabled()) trace_call("hipHostFree", r, "ptr=%p", p);
  return r;
}

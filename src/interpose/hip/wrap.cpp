// The HIP interposer's wrappers (libxsched_hip.so, by LD_PRELOAD in front of
// libamdhip64.so). Stream operations xsched can hold become commands of the
// stream's queue: kernels given as one packed argument buffer
// (hipModuleLaunchKernel's `extra`), copies, fills, host functions. Calls
// that must come after what a stream has queued (event records, waits on
// events, launches whose arguments xsched cannot size, a copy from pageable
// memory) first launch what the stream holds, then go to the runtime as made.
// Synchronisation waits for the queues; frees keep every gate open while the
// runtime waits for the device. Every call is traced under XSCHED_TRACE=1.
#include <cstdint>

#include "core/thread_priority.h"
#include "gates/gate_words.h"
#include "hal/hip/hip_call.h"
#include "interpose/common/trace.h"
#include "interpose/hip/hip_export.h"
#include "interpose/hip/hip_streams.h"
#include "interpose/hip/runtime.h"

const int xsched_hip_interposer_abi = 1;

namespace xsched::interpose::hip {
namespace {

using xsched::hip::HipCall;
using xsched::hip::HipOp;

// The runtime's own `name`, looked up once per wrapper.
#define XS_REAL(name)                                                                         \
  ([]() {                                                                                     \
    static const auto real_fn = ::xsched::interpose::hip::real<decltype(&::name)>(#name);    \
    return real_fn;                                                                           \
  }())

unsigned long long queue_id(const std::shared_ptr<StreamQueue>& sq) {
  return sq != nullptr ? static_cast<unsigned long long>(sq->xq->id()) : 0ULL;
}

// Runs direct() after launching everything s's queue holds, so that the
// runtime orders the call after it.
// A priority scope of the calling thread (xs_hip_thread_priority_push) gives
// the stream's queue its priority before the command arrives. Unused, this
// is one relaxed load.
void apply_scope(const StreamQueue& sq) {
  if (thread_priority_scopes_in_use()) apply_thread_priority(sq.xq);
}

template <class Direct>
hipError_t after_flushing(const std::shared_ptr<StreamQueue>& sq, Direct&& direct) {
  if (sq != nullptr) {
    apply_scope(*sq);
    order_implicitly(*sq);
    sq->xq->flush();
  }
  return direct();
}

// Submits call to sq's queue; a call the queue cannot keep (XS_ERR_UNSUPPORTED:
// it cannot wait) goes to the runtime as made, after the queue's commands.
template <class Direct>
hipError_t submit(StreamQueue& sq, const HipCall& call, Direct&& direct) {
  apply_scope(sq);
  order_implicitly(sq);
  hipError_t native = hipSuccess;
  const xs_result_t r = sq.xq->submit(xsched::hip::make_command(call, &native), nullptr);
  if (r == XS_OK) {
    note_persisted(sq);
    return native;
  }
  if (r == XS_ERR_UNSUPPORTED) {
    sq.xq->flush();
    return direct();
  }
  return native != hipSuccess ? native : hipErrorLaunchFailure;
}

// The packed argument buffer of an `extra` list, if that is its form.
bool packed_args(void** extra, const void** args, size_t* bytes) {
  if (extra == nullptr) {
    *args = nullptr;
    *bytes = 0;
    return true;
  }
  const void* buffer = nullptr;
  const size_t* size = nullptr;
  for (int i = 0; i < 16 && extra[i] != HIP_LAUNCH_PARAM_END; i += 2) {
    if (extra[i] == HIP_LAUNCH_PARAM_BUFFER_POINTER) buffer = extra[i + 1];
    else if (extra[i] == HIP_LAUNCH_PARAM_BUFFER_SIZE) size = static_cast<const size_t*>(extra[i + 1]);
    else return false;
  }
  if (buffer == nullptr || size == nullptr || *size > xsched::hip::kMaxArgsBytes) return false;
  *args = buffer;
  *bytes = *size;
  return true;
}

int current_device() {
  int d = 0;
  const auto get = XS_REAL(hipGetDevice);
  return get != nullptr && get(&d) == hipSuccess ? d : 0;
}

}  // namespace
}  // namespace xsched::interpose::hip

namespace ih = xsched::interpose::hip;
using xsched::interpose::trace_call;
using xsched::interpose::trace_enabled;

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

// ---- commands ----

XS_HIP_EXPORT hipError_t hipModuleLaunchKernel(hipFunction_t f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                               unsigned by, unsigned bz, unsigned shared, hipStream_t stream,
                                               void** params, void** extra) {
  const auto fn = XS_REAL(hipModuleLaunchKernel);
  auto direct = [&] { return fn != nullptr ? fn(f, gx, gy, gz, bx, by, bz, shared, stream, params, extra) : hipErrorNotInitialized; };
  auto sq = ih::stream_queue(stream);
  const void* args = nullptr;
  size_t bytes = 0;
  hipError_t r;
  if (sq != nullptr && f != nullptr && params == nullptr && ih::packed_args(extra, &args, &bytes)) {
    xsched::hip::HipCall c{};
    c.op = xsched::hip::HipOp::kLaunch;
    c.launch = {f, {gx, gy, gz}, {bx, by, bz}, shared, args, bytes};
    r = ih::submit(*sq, c, direct);
  } else {
    // kernelParams: the arguments' sizes are not known here, so the launch cannot wait.
    r = ih::after_flushing(sq, direct);
  }
  if (trace_enabled()) {
    trace_call("hipModuleLaunchKernel", r, "function=%p stream=%p grid=%ux%ux%u block=%ux%ux%u queue=%llu",
               static_cast<void*>(f), static_cast<void*>(stream), gx, gy, gz, bx, by, bz, ih::queue_id(sq));
  }
  return r;
}

XS_HIP_EXPORT hipError_t hipLaunchKernel(const void* host_fn, dim3 grid, dim3 block, void** args, size_t shared,
                                         hipStream_t stream) {
  const auto fn = XS_REAL(hipLaunchKernel);
  auto sq = ih::stream_queue(stream);
  const hipError_t r = ih::after_flushing(
      sq, [&] { return fn != nullptr ? fn(host_fn, grid, block, args, shared, stream) : hipErrorNotInitialized; });
  if (trace_enabled()) {
    trace_call("hipLaunchKernel", r, "function=%p stream=%p queue=%llu", host_fn, static_cast<void*>(stream),
               ih::queue_id(sq));
  }
  return r;
}

XS_HIP_EXPORT hipError_t hipMemcpyAsync(void* dst, const void* src, size_t bytes, hipMemcpyKind kind, hipStream_t stream) {
  const auto fn = XS_REAL(hipMemcpyAsync);
  auto direct = [&] { return fn != nullptr ? fn(dst, src, bytes, kind, stream) : hipErrorNotInitialized; };
  auto sq = ih::stream_queue(stream);
  hipError_t r;
  if (sq != nullptr) {
    xsched::hip::HipCall c{};
    c.op = xsched::hip::HipOp::kMemcpy;
    c.memcpy = {dst, src, bytes, kind};
    r = ih::submit(*sq, c, direct);
  } else {
    r = direct();
  }
  if (trace_enabled()) {
    trace_call("hipMemcpyAsync", r, "dst=%p src=%p bytes=%zu stream=%p queue=%llu", dst, src, bytes,
               static_cast<void*>(stream), ih::queue_id(sq));
  }
  return r;
}

XS_HIP_EXPORT hipError_t hipMemsetAsync(void* dst, int value, size_t bytes, hipStream_t stream) {
  const auto fn = XS_REAL(hipMemsetAsync);
  auto direct = [&] { return fn != nullptr ? fn(dst, value, bytes, stream) : hipErrorNotInitialized; };
  auto sq = ih::stream_queue(stream);
  hipError_t r;
  if (sq != nullptr) {
    xsched::hip::HipCall c{};
    c.op = xsched::hip::HipOp::kMemset;
    c.memset = {dst, value, bytes};
    r = ih::submit(*sq, c, direct);
  } else {
    r = direct();
  }
  if (trace_enabled()) {
    trace_call("hipMemsetAsync", r, "dst=%p value=%d bytes=%zu stream=%p queue=%llu", dst, value, bytes,
               static_cast<void*>(stream), ih::queue_id(sq));
  }
  return r;
}

XS_HIP_EXPORT hipError_t hipLaunchHostFunc(hipStream_t stream, hipHostFn_t host_fn, void* data) {
  const auto fn = XS_REAL(hipLaunchHostFunc);
  auto direct = [&] { return fn != nullptr ? fn(stream, host_fn, data) : hipErrorNotSupported; };
  auto sq = ih::stream_queue(stream);
  hipError_t r;
  if (sq != nullptr && fn != nullptr) {
    xsched::hip::HipCall c{};
    c.op = xsched::hip::HipOp::kHostFunc;
    c.host_fn = {host_fn, data};
    r = ih::submit(*sq, c, direct);
  } else {
    r = ih::after_flushing(sq, direct);
  }
  if (trace_enabled()) trace_call("hipLaunchHostFunc", r, "stream=%p queue=%llu", static_cast<void*>(stream), ih::queue_id(sq));
  return r;
}

// ---- ordering and synchronisation ----

XS_HIP_EXPORT hipError_t hipEventRecord(hipEvent_t e, hipStream_t stream) {
  const auto fn = XS_REAL(hipEventRecord);
  auto sq = ih::stream_queue(stream);
  const hipError_t r = ih::after_flushing(sq, [&] { return fn != nullptr ? fn(e, stream) : hipErrorNotInitialized; });
  if (trace_enabled()) trace_call("hipEventRecord", r, "event=%p stream=%p queue=%llu", static_cast<void*>(e), static_cast<void*>(stream), ih::queue_id(sq));
  return r;
}

XS_HIP_EXPORT hipError_t hipStreamWaitEvent(hipStream_t stream, hipEvent_t e, unsigned flags) {
  const auto fn = XS_REAL(hipStreamWaitEvent);
  auto sq = ih::stream_queue(stream);
  const hipError_t r = ih::after_flushing(sq, [&] { return fn != nullptr ? fn(stream, e, flags) : hipErrorNotInitialized; });
  if (trace_enabled()) trace_call("hipStreamWaitEvent", r, "stream=%p event=%p queue=%llu", static_cast<void*>(stream), static_cast<void*>(e), ih::queue_id(sq));
  return r;
}

XS_HIP_EXPORT hipError_t hipStreamSynchronize(hipStream_t stream) {
  auto sq = ih::stream_queue(stream);
  if (sq != nullptr) sq->xq->wait_all(XS_WAIT_FOREVER);
  const auto fn = XS_REAL(hipStreamSynchronize);
  const hipError_t r = fn != nullptr ? fn(stream) : hipErrorNotInitialized;
  if (trace_enabled()) trace_call("hipStreamSynchronize", r, "stream=%p queue=%llu", static_cast<void*>(stream), ih::queue_id(sq));
  return r;
}

XS_HIP_EXPORT hipError_t hipStreamQuery(hipStream_t stream) {
  auto sq = ih::stream_queue(stream);
  hipError_t r;
  if (sq != nullptr && sq->xq->completed() < sq->xq->submitted()) {
    r = hipErrorNotReady;
  } else {
    const auto fn = XS_REAL(hipStreamQuery);
    r = fn != nullptr ? fn(stream) : hipErrorNotInitialized;
  }
  if (trace_enabled()) trace_call("hipStreamQuery", r, "stream=%p queue=%llu", static_cast<void*>(stream), ih::queue_id(sq));
  return r;
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

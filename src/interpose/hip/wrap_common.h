// What the HIP interposer's wrappers share (wrap*.cpp): the runtime's own
// function of a wrapper, which stream an entry point names, and the two ways
// a stream operation goes: as a command of the stream's queue (submit), or
// to the runtime as made after what the stream holds (after_flushing).
//
// Entry points come in two flavours that differ only in what stream 0 means:
// the null stream (hipLaunchKernel) or the calling thread's per-thread
// default stream (hipLaunchKernel_spt, what hipcc's
// -fgpu-default-stream=per-thread and HIP_API_PER_THREAD_DEFAULT_STREAM
// builds call). The per-thread stream is not scheduled: its calls go to the
// runtime as made, after what the null stream holds (the runtime orders the
// per-thread stream with the null stream, as a blocking stream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/thread_priority.h"
#include "hal/hip/hip_call.h"
#include "interpose/hip/hip_export.h"
#include "interpose/hip/hip_streams.h"
#include "interpose/hip/runtime.h"

// The runtime's own `name`, looked up once per wrapper, typed as the header declares it.
#define XS_REAL(name)                                                                      \
  ([]() {                                                                                  \
    static const auto real_fn = ::xsched::interpose::hip::real<decltype(&::name)>(#name); \
    return real_fn;                                                                        \
  }())

namespace xsched::interpose::hip {

// What an entry point's stream 0 means.
enum class Zero : uint8_t { kNullStream, kPerThread };

// Where an operation on a stream goes: its queue (sq), or the runtime as made.
struct Target {
  std::shared_ptr<StreamQueue> sq;  // null: not scheduled
  bool per_thread = false;          // the calling thread's per-thread default stream
};

inline Target target(hipStream_t s, Zero zero) {
  if (s == hipStreamPerThread || (s == nullptr && zero == Zero::kPerThread)) return Target{nullptr, true};
  return Target{stream_queue(s), false};
}

inline unsigned long long queue_id(const Target& t) {
  return t.sq != nullptr ? static_cast<unsigned long long>(t.sq->xq->id()) : 0ULL;
}

// A priority scope of the calling thread (xs_hip_thread_priority_push) gives
// the stream's queue its priority before the command arrives. Unused, this
// is one relaxed load.
inline void apply_scope(const StreamQueue& sq) {
  if (thread_priority_scopes_in_use()) apply_thread_priority(sq.xq);
}

// Runs direct() after launching everything t's queue holds (and, for the
// per-thread stream, what the null stream holds), so that the runtime orders
// the call after it.
template <class Direct>
hipError_t after_flushing(const Target& t, Direct&& direct) {
  if (t.sq != nullptr) {
    apply_scope(*t.sq);
    order_implicitly(*t.sq);
    t.sq->xq->flush();
  } else if (t.per_thread) {
    order_per_thread();
  }
  return direct();
}

// Submits call to sq's queue; a call the queue cannot keep (XS_ERR_UNSUPPORTED:
// it cannot wait) goes to the runtime as made, after the queue's commands.
template <class Direct>
hipError_t submit(StreamQueue& sq, const xsched::hip::HipCall& call, Direct&& direct) {
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

// submit() where t has a queue, else after_flushing().
template <class Direct>
hipError_t submit_or_direct(const Target& t, const xsched::hip::HipCall& call, Direct&& direct) {
  return t.sq != nullptr ? submit(*t.sq, call, direct) : after_flushing(t, direct);
}

// The packed argument buffer of an `extra` list, if that is its form.
bool packed_args(void** extra, const void** args, size_t* bytes);

// The calling thread's current device (0 if the runtime cannot say).
int current_device();

}  // namespace xsched::interpose::hip

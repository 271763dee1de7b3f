// What the call wrappers share: the real entry points, and the one path by
// which a stream operation becomes a command on its stream's queue.
#pragma once

#include <cstdio>
#include <memory>

#include "core/thread_priority.h"
#include "hal/cuda/cuda_command.h"
#include "hal/cuda/gates.h"
#include "interpose/cuda/export.h"
#include "interpose/cuda/real_driver.h"
#include "interpose/cuda/state.h"
#include "interpose/cuda/trace.h"

// The real driver's entry point `name`, typed as cuda.h declares it; null if
// the driver lacks it. Resolved once per call site.
#define XS_REAL(name)                                                                                  \
  ([]() {                                                                                              \
    static const auto real_fn_ = reinterpret_cast<decltype(&::name)>(::xsched::interpose::real_symbol(#name)); \
    return real_fn_;                                                                                   \
  }())

namespace xsched::interpose {

// Calls fn, or answers CUDA_ERROR_NOT_INITIALIZED when the driver lacks it.
template <class Fn, class... Args>
CUresult call_real(Fn fn, Args... args) {
  return fn != nullptr ? fn(args...) : CUDA_ERROR_NOT_INITIALIZED;
}

inline void* as_ptr(CUdeviceptr p) { return reinterpret_cast<void*>(p); }

struct StreamOpResult {
  CUresult result = CUDA_SUCCESS;
  std::shared_ptr<StreamQueue> queue;  // null: the call went straight through
  uint64_t seq = 0;                    // its command, 0 if none
};

// Runs a stream operation: as a command on its stream's queue (launched at
// once or held back, never blocking on a suspended queue), or by
// direct(stream) when no queue takes it (streams being captured, no
// context, unknown handles), with stream the handle to give the driver.
template <class Direct>
StreamOpResult run_stream_op(CUstream s, Flavor f, xs_command_kind_t kind, const cuda::Call& call, Direct&& direct) {
  StreamOpResult out;
  out.queue = stream_queue(s, f);
  StreamQueue* sq = out.queue.get();
  if (sq == nullptr) {
    out.result = direct(spelled_out(s, f));
    return out;
  }
  if (sq->capturing()) {
    out.result = direct(sq->stream);
    return out;
  }
  // A priority scope of the calling thread (xs_cuda_thread_priority_push)
  // gives the queue its priority before the command arrives. Unused, this
  // is one relaxed load.
  if (thread_priority_scopes_in_use()) apply_thread_priority(sq->xq);
  order_after_implicit_dependencies(*sq);
  xs_result_t r = sq->xq->submit(cuda::make_command(kind, call), &out.seq);
  if (r == XS_ERR_UNSUPPORTED) {
    // The call cannot be held back (its data cannot be copied, or the driver
    // runs it synchronously): everything before it goes first, then it.
    out.seq = 0;
    r = sq->xq->flush();
    out.result = r == XS_OK ? direct(sq->stream) : to_cuda(r, sq);
    lend_urgency_for_implicit_order(*sq);
    return out;
  }
  lend_urgency_for_implicit_order(*sq);
  if (r == XS_OK && sq->blocking && sq->kind != StreamKind::kLegacy && sq->xq->has_unlaunched()) {
    sq->context->blocking_held.store(true, std::memory_order_release);
  }
  out.result = to_cuda(r, sq);
  return out;
}

// Runs fn (a call that loads code or releases memory) with every gate open:
// the driver waits for every stream of the context then, and a gate kept
// closed while the caller's own work runs would stall it for good. Loading
// may also leave a barrier on the GPU behind the work launched so far, so
// every queue runs that work before it is held again (also a queue held
// only later: the caller's next launch may be why).
template <class Fn>
CUresult with_gates_open(Fn&& fn) {
  CUresult r;
  {
    cuda::GatesOpen open;
    r = fn();
  }
  expedite_launched_everywhere();
  return r;
}

// The queue id for trace lines (0: none).
inline unsigned long long queue_id(const StreamOpResult& r) {
  return r.queue != nullptr ? static_cast<unsigned long long>(r.queue->xq->id()) : 0ULL;
}

}  // namespace xsched::interpose

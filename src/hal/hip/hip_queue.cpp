// The HIP hardware queue (hip_queue.h): how commands reach one stream, how
// their completion is waited for, and Level 2's gates.
#include "hal/hip/hip_queue.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <vector>

#include "core/log.h"
#include "hal/hip/hip_call.h"
#include "hal/hip/hip_gates.h"

namespace xsched::hip {
namespace {

// Sync points wait by blocking, not spinning: a worker thread per queue must not burn a core.
constexpr unsigned kSyncEventFlags = hipEventDisableTiming | hipEventBlockingSync;

// ROCm 5 names the pointer's memory type `memoryType`, ROCm 6 `type`.
template <class A>
auto memory_type(const A& a, int) -> decltype(a.type) {
  return a.type;
}
template <class A>
auto memory_type(const A& a, long) -> decltype(a.memoryType) {
  return a.memoryType;
}

// Memory the runtime vouches for after the call returns: device memory, or
// host memory it allocated or registered. Pageable memory may be reused by
// the caller as soon as a copy returns, so such a copy cannot wait.
bool accessible_later(const Runtime& rt, const void* p) {
  if (p == nullptr || rt.hipPointerGetAttributes == nullptr) return false;
  hipPointerAttribute_t a{};
  if (rt.hipPointerGetAttributes(&a, p) != hipSuccess) return false;
  const auto t = memory_type(a, 0);
  return t == hipMemoryTypeDevice || t == hipMemoryTypeHost || t == hipMemoryTypeArray || t == hipMemoryTypeUnified;
}

struct Queue {
  explicit Queue(const QueueSpec& spec) : rt(spec.runtime), device(spec.device), stream(spec.stream) {}

  const Runtime* rt;
  int device;
  hipStream_t stream;

  // Blocks of kMaxArgsBytes for persisted kernels' arguments, reused; under the XQueue's lock.
  std::vector<std::unique_ptr<std::byte[]>> free_args;
  // Sync events: launch takes them, sync gives them back (under a lock of their own: different threads).
  std::mutex events_mu;
  std::vector<hipEvent_t> free_events;
  hipEvent_t tail_event = nullptr;  // sync(nullptr); the worker thread's alone

  std::atomic<hipError_t> sticky_error{hipSuccess};

  Gate gate;          // valid: the queue is gated
  bool gate_used = false;
  bool gate_failed = false;  // the runtime refused a gate: launches go ungated

  void note_failure(hipError_t r) {
    hipError_t none = hipSuccess;
    sticky_error.compare_exchange_strong(none, r);
  }

  hipEvent_t take_event() {
    {
      std::lock_guard lk(events_mu);
      if (!free_events.empty()) {
        hipEvent_t e = free_events.back();
        free_events.pop_back();
        return e;
      }
    }
    hipEvent_t e = nullptr;
    return rt->hipEventCreateWithFlags(&e, kSyncEventFlags) == hipSuccess ? e : nullptr;
  }
  void give_back(hipEvent_t e) {
    std::lock_guard lk(events_mu);
    try {
      free_events.push_back(e);
    } catch (const std::bad_alloc&) {
      (void)rt->hipEventDestroy(e);
    }
  }
};

Queue* self(void* ctx) { return static_cast<Queue*>(ctx); }

// The null stream (stream 0) is the current device's, and a command is
// launched by whichever thread launches it (the submitter, the queue's
// worker, a thread that flushes or resumes it): around the calls that name
// a null stream, its queue's device is made current, and the thread's given
// back after. An explicit stream carries its device: nothing is done.
class NullStreamDevice {
 public:
  explicit NullStreamDevice(const Queue& q) : rt_(*q.rt) {
    if (q.stream != nullptr || rt_.hipGetDevice(&previous_) != hipSuccess || previous_ == q.device) return;
    switched_ = rt_.hipSetDevice(q.device) == hipSuccess;
  }
  ~NullStreamDevice() {
    if (switched_) (void)rt_.hipSetDevice(previous_);
  }
  NullStreamDevice(const NullStreamDevice&) = delete;
  NullStreamDevice& operator=(const NullStreamDevice&) = delete;

 private:
  const Runtime& rt_;
  int previous_ = 0;
  bool switched_ = false;
};

hipError_t issue(const Runtime& rt, const HipCall& c, hipStream_t s) {
  switch (c.op) {
    case HipOp::kLaunch: {
      const HipLaunch& l = c.launch;
      size_t bytes = l.args_bytes;
      void* extra[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, const_cast<void*>(l.args), HIP_LAUNCH_PARAM_BUFFER_SIZE, &bytes,
                       HIP_LAUNCH_PARAM_END};
      if (l.work_items) {
        if (rt.hipExtModuleLaunchKernel == nullptr) return hipErrorNotSupported;
        return rt.hipExtModuleLaunchKernel(l.f, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2],
                                           l.shared_bytes, s, nullptr, extra, nullptr, nullptr, 0);
      }
      return rt.hipModuleLaunchKernel(l.f, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2],
                                      l.shared_bytes, s, nullptr, extra);
    }
    case HipOp::kMemcpy:
      return rt.hipMemcpyAsync(c.memcpy.dst, c.memcpy.src, c.memcpy.bytes, c.memcpy.kind, s);
    case HipOp::kMemset:
      return rt.hipMemsetAsync(c.memset.dst, c.memset.value, c.memset.bytes, s);
    case HipOp::kHostFunc:
      return rt.hipLaunchHostFunc != nullptr ? rt.hipLaunchHostFunc(s, c.host_fn.fn, c.host_fn.data)
                                             : hipErrorNotSupported;
    case HipOp::kCount:
      break;
  }
  return hipErrorInvalidValue;
}

// ---- persist and discard ----

xs_result_t op_persist(void* ctx, Command* cmd) {
  Queue& q = *self(ctx);
  HipCall& c = call_of(*cmd);
  cmd->platform_slot = 0;  // the submitter's error slot is good only during submit
  if (c.op == HipOp::kMemcpy) {
    if (!accessible_later(*q.rt, c.memcpy.dst) || !accessible_later(*q.rt, c.memcpy.src)) return XS_ERR_UNSUPPORTED;
  } else if (c.op == HipOp::kLaunch && c.launch.args_bytes > 0) {
    std::unique_ptr<std::byte[]> block;
    if (!q.free_args.empty()) {
      block = std::move(q.free_args.back());
      q.free_args.pop_back();
    } else {
      block.reset(new (std::nothrow) std::byte[kMaxArgsBytes]);
      if (block == nullptr) return XS_ERR_NO_MEMORY;
    }
    std::memcpy(block.get(), c.launch.args, c.launch.args_bytes);
    c.launch.args = block.release();
  }
  c.persisted = true;
  return XS_OK;
}

void give_back_args(Queue& q, HipCall& c) {
  if (!c.persisted || c.op != HipOp::kLaunch || c.launch.args_bytes == 0) return;
  std::unique_ptr<std::byte[]> block(static_cast<std::byte*>(const_cast<void*>(c.launch.args)));
  try {
    q.free_args.push_back(std::move(block));
  } catch (const std::bad_alloc&) {
    // The block goes: the pool only saves allocations.
  }
}

void op_discard(void* ctx, Command* cmd) {
  HipCall& c = call_of(*cmd);
  give_back_args(*self(ctx), c);
  c.persisted = false;
}

// ---- launch ----

void gate_before(Queue& q, bool preemptible) {
  if (!preemptible || !q.gate.valid() || q.gate_failed) return;
  if (!q.gate_used) {
    q.gate_used = true;
    gates::note_used(q.gate.word);
  }
  const hipError_t g = q.rt->hipStreamWaitValue32(q.stream, q.gate.device, gates::kOpenFrom, hipStreamWaitValueGte,
                                                  0xffffffffu);
  if (g == hipSuccess) return;
  q.gate_failed = true;
  char buf[32];
  log(LogLevel::kWarn, "HIP stream %p: the runtime refused a gate (%s): its launches go ungated",
      static_cast<void*>(q.stream), q.rt->error_name(g, buf));
}

xs_result_t op_launch(void* ctx, Command* cmd) {
  Queue& q = *self(ctx);
  HipCall& c = call_of(*cmd);
  const NullStreamDevice on_device(q);
  gate_before(q, cmd->preemptible);
  const hipError_t r = issue(*q.rt, c, q.stream);
  const bool persisted = c.persisted;
  give_back_args(q, c);
  c.persisted = false;
  auto* error = persisted ? nullptr : reinterpret_cast<hipError_t*>(cmd->platform_slot);
  cmd->platform_slot = 0;
  if (r != hipSuccess) {
    if (error != nullptr) *error = r;
    if (persisted) {
      q.note_failure(r);
      char buf[32];
      log(LogLevel::kWarn, "HIP stream %p: a persisted operation failed at launch: %s", static_cast<void*>(q.stream),
          q.rt->error_name(r, buf));
    }
    return XS_ERR_PLATFORM;
  }
  if (cmd->sync_point) {
    hipEvent_t e = q.take_event();
    if (e != nullptr && q.rt->hipEventRecord(e, q.stream) == hipSuccess) {
      cmd->platform_slot = reinterpret_cast<uintptr_t>(e);
    } else if (e != nullptr) {
      q.give_back(e);
    }
  }
  return XS_OK;
}

// ---- sync ----

xs_result_t op_sync(void* ctx, Command* cmd) {
  Queue& q = *self(ctx);
  hipError_t r = hipSuccess;
  auto e = cmd != nullptr ? reinterpret_cast<hipEvent_t>(cmd->platform_slot) : nullptr;
  if (e != nullptr) {
    r = q.rt->hipEventSynchronize(e);
    q.give_back(e);
  } else {
    // Everything launched so far: an event recorded now comes after it.
    const NullStreamDevice on_device(q);
    if (q.tail_event == nullptr) r = q.rt->hipEventCreateWithFlags(&q.tail_event, kSyncEventFlags);
    if (r == hipSuccess) r = q.rt->hipEventRecord(q.tail_event, q.stream);
    if (r == hipSuccess) r = q.rt->hipEventSynchronize(q.tail_event);
  }
  if (r != hipSuccess) {
    q.note_failure(r);
    return XS_ERR_PLATFORM;
  }
  return XS_OK;
}

// ---- Level 2 ----

xs_result_t op_deactivate(void* ctx) {
  gates::hold(self(ctx)->gate.word);
  return XS_OK;
}

xs_result_t op_reactivate(void* ctx) {
  gates::let_go(self(ctx)->gate.word);
  return XS_OK;
}

ExternalHold* op_external_hold(void* ctx) {
  Queue& q = *self(ctx);
  return q.gate.valid() ? &q.gate.word : nullptr;
}

void op_release(void* ctx) {
  Queue* q = self(ctx);
  release_gate(q->gate);
  for (hipEvent_t e : q->free_events) (void)q->rt->hipEventDestroy(e);
  if (q->tail_event != nullptr) (void)q->rt->hipEventDestroy(q->tail_event);
  delete q;
}

const HwQueueOps kHipOps = {
    .platform = "hip",
    .prepare = nullptr,
    .launch = op_launch,
    .persist = op_persist,
    .discard = op_discard,
    .sync = op_sync,
    .caught_up = nullptr,
    .deactivate = nullptr,
    .reactivate = nullptr,
    .external_hold = nullptr,
    .interrupt = nullptr,
    .restore = nullptr,
    .confine = nullptr,
    .release = op_release,
};

const HwQueueOps kHipGatedOps = [] {
  HwQueueOps ops = kHipOps;
  ops.deactivate = op_deactivate;
  ops.reactivate = op_reactivate;
  ops.external_hold = op_external_hold;
  return ops;
}();

bool is_hip_queue(const HwQueue& hw) { return hw.ops == &kHipOps || hw.ops == &kHipGatedOps; }

}  // namespace

xs_result_t make_hw_queue(const QueueSpec& spec, HwQueue* out) {
  if (spec.runtime == nullptr || out == nullptr) return XS_ERR_INVALID_ARG;
  Queue* q = new (std::nothrow) Queue(spec);
  if (q == nullptr) return XS_ERR_NO_MEMORY;
  const bool gated = spec.gate && acquire_gate(*spec.runtime, spec.device, &q->gate);
  *out = HwQueue{gated ? &kHipGatedOps : &kHipOps, q};
  return XS_OK;
}

hipError_t sticky_error(const HwQueue& hw) {
  return is_hip_queue(hw) ? self(hw.ctx)->sticky_error.load(std::memory_order_acquire) : hipSuccess;
}

}  // namespace xsched::hip

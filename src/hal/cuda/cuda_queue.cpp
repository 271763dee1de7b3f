#include "hal/cuda/cuda_queue.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "core/log.h"
#include "hal/cuda/byte_blocks.h"
#include "hal/cuda/context_scope.h"
#include "hal/cuda/confinement.h"
#include "hal/cuda/cuda_command.h"
#include "hal/cuda/gates.h"
#include "hal/cuda/issue_call.h"
#include "hal/cuda/param_layout.h"
#include "hal/cuda/pinned_memory.h"

namespace xsched::cuda {
namespace {

thread_local CUresult t_last_error = CUDA_SUCCESS;

xs_result_t fail(CUresult r) {
  t_last_error = r;
  return XS_ERR_PLATFORM;
}

// Sync points wait by blocking, not spinning: a worker thread per queue must
// not burn a core. A gated queue times them, to size its gate groups.
constexpr unsigned kSyncEventFlags = CU_EVENT_DISABLE_TIMING | CU_EVENT_BLOCKING_SYNC;
constexpr unsigned kTimedSyncEventFlags = CU_EVENT_BLOCKING_SYNC;
// Most commands behind one gate, however short they are.
constexpr uint32_t kMaxGateGroup = 64;

struct Queue {
  explicit Queue(const QueueSpec& spec)
      : d(spec.driver),
        ctx(spec.ctx),
        stream(spec.stream),
        owns_stream(spec.owns_stream),
        confinement(*spec.driver, spec.ctx, spec.stream, spec.reserve_sms) {}

  const Driver* d;
  CUcontext ctx;
  CUstream stream;
  bool owns_stream;

  ByteBlocks blocks;                   // persisted data; under the XQueue's lock
  std::vector<CUevent> free_snapshots;  // event-wait snapshots; under the XQueue's lock
  CUstream companion = nullptr;        // takes event-wait snapshots; under the XQueue's lock

  std::mutex events_mu;  // sync() returns events while launch() takes them
  std::vector<CUevent> free_sync_events;
  std::vector<CUevent> all_events;

  CUevent tail_event = nullptr;  // sync(nullptr); the worker thread's alone

  std::atomic<CUresult> deferred_error{CUDA_SUCCESS};

  Confinement confinement;  // kernels on a partition while more urgent work may come

  // ---- Level 2 ----
  Gate gate;  // valid: the queue is gated
  // Commands launched since the last gate; under the XQueue's lock.
  uint32_t since_gate = UINT32_MAX;
  // Commands per gate, from measured durations (written by sync, read by launch).
  std::atomic<uint32_t> group{1};
  // Deactivations so far: a duration measured across one is not the commands'.
  std::atomic<uint64_t> hold_epoch{0};
  bool gate_failed = false;  // the driver refused a gate: launches go ungated
  // The last timed sync point (the worker thread's alone).
  CUevent timed_prev = nullptr;
  uint64_t timed_prev_seq = 0;
  uint64_t timed_prev_epoch = 0;
  double avg_command_ns = 0;

  unsigned sync_event_flags() const { return gate.valid() ? kTimedSyncEventFlags : kSyncEventFlags; }

  void note_deferred(CUresult r) {
    CUresult none = CUDA_SUCCESS;
    deferred_error.compare_exchange_strong(none, r);
  }
};

Queue* self(void* ctx) { return static_cast<Queue*>(ctx); }

// ---- persist: copy what a held-back command borrows ----

// Kernel arguments: either kernelParams (one pointer per parameter) or an
// `extra` buffer. Returns the copy's kernelParams/extra in *params/*extra,
// allocated at *cursor in a block already sized by args_bytes().
struct ArgsPlan {
  const ParamLayout* layout = nullptr;
  const void* buffer = nullptr;  // extra's CU_LAUNCH_PARAM_BUFFER_POINTER
  std::size_t buffer_bytes = 0;
  bool ok = true;
};

ArgsPlan plan_args(const Driver& d, CUfunction f, void** params, void** extra) {
  ArgsPlan plan;
  if (params != nullptr) {
    plan.layout = param_layout(d, f);
    // No parameters reported for a launch that passes some: the driver
    // cannot describe this kernel, so its arguments cannot be copied.
    plan.ok = plan.layout != nullptr && !plan.layout->sizes.empty();
    return plan;
  }
  if (extra == nullptr) return plan;
  for (void** e = extra; *e != CU_LAUNCH_PARAM_END; e += 2) {
    if (*e == CU_LAUNCH_PARAM_BUFFER_POINTER) {
      plan.buffer = e[1];
    } else if (*e == CU_LAUNCH_PARAM_BUFFER_SIZE) {
      plan.buffer_bytes = *static_cast<const std::size_t*>(e[1]);
    } else {
      plan.ok = false;  // an extra option this version does not know how to copy
      return plan;
    }
  }
  return plan;
}

constexpr std::size_t align16(std::size_t n) { return (n + 15) & ~std::size_t{15}; }

std::size_t args_bytes(const ArgsPlan& plan) {
  if (plan.layout != nullptr) {
    std::size_t n = align16(plan.layout->sizes.size() * sizeof(void*));
    for (std::size_t s : plan.layout->sizes) n += align16(s);
    return n;
  }
  if (plan.buffer != nullptr) return align16(5 * sizeof(void*)) + align16(sizeof(std::size_t)) + align16(plan.buffer_bytes);
  return 0;
}

void copy_args(const ArgsPlan& plan, void** params, unsigned char* out, void*** new_params, void*** new_extra) {
  if (plan.layout != nullptr) {
    void** array = reinterpret_cast<void**>(out);
    unsigned char* data = out + align16(plan.layout->sizes.size() * sizeof(void*));
    for (std::size_t i = 0; i < plan.layout->sizes.size(); ++i) {
      std::memcpy(data, params[i], plan.layout->sizes[i]);
      array[i] = data;
      data += align16(plan.layout->sizes[i]);
    }
    *new_params = array;
    *new_extra = nullptr;
  } else if (plan.buffer != nullptr) {
    void** extra = reinterpret_cast<void**>(out);
    auto* size = reinterpret_cast<std::size_t*>(out + align16(5 * sizeof(void*)));
    unsigned char* data = reinterpret_cast<unsigned char*>(size) + align16(sizeof(std::size_t));
    std::memcpy(data, plan.buffer, plan.buffer_bytes);
    *size = plan.buffer_bytes;
    extra[0] = CU_LAUNCH_PARAM_BUFFER_POINTER;
    extra[1] = data;
    extra[2] = CU_LAUNCH_PARAM_BUFFER_SIZE;
    extra[3] = size;
    extra[4] = CU_LAUNCH_PARAM_END;
    *new_params = nullptr;
    *new_extra = extra;
  } else {
    *new_params = nullptr;
    *new_extra = nullptr;
  }
}

// The block that a persisted call owns (its first pointer), or nullptr.
void* owned_block(const Call& c) {
  if (!c.owned) return nullptr;
  switch (c.op) {
    case Op::kLaunch:
    case Op::kLaunchCooperative:
      return c.launch.params != nullptr ? static_cast<void*>(c.launch.params) : static_cast<void*>(c.launch.extra);
    case Op::kLaunchEx: return const_cast<CUlaunchConfig*>(c.launch_ex.config);
    case Op::kMemcpy2D:
    case Op::kMemcpy3D: return const_cast<void*>(c.memcpy_nd.desc);
    case Op::kBatchMemOp: return c.batch.ops;
    default: return nullptr;
  }
}

xs_result_t persist_launch(Queue& q, Launch& l) {
  const ArgsPlan plan = plan_args(*q.d, l.f, l.params, l.extra);
  if (!plan.ok) return XS_ERR_UNSUPPORTED;
  const std::size_t bytes = args_bytes(plan);
  if (bytes == 0) {
    l.params = nullptr;
    l.extra = nullptr;
    return XS_OK;
  }
  auto* block = static_cast<unsigned char*>(q.blocks.acquire(bytes));
  if (block == nullptr) return XS_ERR_NO_MEMORY;
  copy_args(plan, l.params, block, &l.params, &l.extra);
  return XS_OK;
}

xs_result_t persist_launch_ex(Queue& q, LaunchEx& l) {
  const ArgsPlan plan = plan_args(*q.d, l.f, l.params, l.extra);
  if (!plan.ok) return XS_ERR_UNSUPPORTED;
  const CUlaunchConfig& cfg = *l.config;
  const std::size_t attrs_bytes = align16(sizeof(CUlaunchAttribute) * cfg.numAttrs);
  const std::size_t head = align16(sizeof(CUlaunchConfig));
  auto* block = static_cast<unsigned char*>(q.blocks.acquire(head + attrs_bytes + args_bytes(plan)));
  if (block == nullptr) return XS_ERR_NO_MEMORY;
  auto* copy = reinterpret_cast<CUlaunchConfig*>(block);
  *copy = cfg;
  if (cfg.numAttrs > 0) {
    auto* attrs = reinterpret_cast<CUlaunchAttribute*>(block + head);
    std::memcpy(attrs, cfg.attrs, sizeof(CUlaunchAttribute) * cfg.numAttrs);
    copy->attrs = attrs;
  }
  copy_args(plan, l.params, block + head + attrs_bytes, &l.params, &l.extra);
  l.config = copy;
  return XS_OK;
}

template <class Desc>
xs_result_t persist_desc(Queue& q, MemcpyND& m) {
  auto* copy = static_cast<Desc*>(q.blocks.acquire(sizeof(Desc)));
  if (copy == nullptr) return XS_ERR_NO_MEMORY;
  std::memcpy(copy, m.desc, sizeof(Desc));
  m.desc = copy;
  return XS_OK;
}

// A copy from or to pageable memory is synchronous with respect to the host
// in the driver (or stages its source before returning): the caller may
// reuse the buffer at once, so such a copy cannot be held back; the caller
// launches it at once instead (XS_ERR_UNSUPPORTED).
template <class Desc>
bool may_defer_nd(const Driver& d, const Desc& desc) {
  auto side_ok = [&](CUmemorytype type, const void* host, CUdeviceptr dev) {
    if (type == CU_MEMORYTYPE_HOST) return may_defer_access(d, host, 1);
    if (type == CU_MEMORYTYPE_UNIFIED) return may_defer_access(d, reinterpret_cast<const void*>(dev), 1);
    return true;  // device memory or arrays
  };
  return side_ok(desc.srcMemoryType, desc.srcHost, desc.srcDevice) && side_ok(desc.dstMemoryType, desc.dstHost, desc.dstDevice);
}

CUevent take_snapshot_event(Queue& q) {
  if (!q.free_snapshots.empty()) {
    CUevent e = q.free_snapshots.back();
    q.free_snapshots.pop_back();
    return e;
  }
  CUevent e = nullptr;
  if (q.d->cuEventCreate(&e, CU_EVENT_DISABLE_TIMING) != CUDA_SUCCESS) return nullptr;
  return e;
}

// A wait uses the event's latest record at the time of the call. Launched
// later, it would see a record made in between, so the queue fixes the
// record now: a private stream waits for it and records a private event,
// which the deferred launch waits for instead.
xs_result_t persist_event_wait(Queue& q, EventOp& e) {
  ContextScope scope(*q.d, q.ctx);
  if (q.companion == nullptr) {
    const CUresult r = q.d->cuStreamCreate(&q.companion, CU_STREAM_NON_BLOCKING);
    if (r != CUDA_SUCCESS) return fail(r);
  }
  CUevent snapshot = take_snapshot_event(q);
  if (snapshot == nullptr) return fail(CUDA_ERROR_OUT_OF_MEMORY);
  CUresult r = q.d->cuStreamWaitEvent(q.companion, e.event, 0);
  if (r == CUDA_SUCCESS) r = q.d->cuEventRecord(snapshot, q.companion);
  if (r != CUDA_SUCCESS) {
    q.free_snapshots.push_back(snapshot);
    return fail(r);
  }
  e.event = snapshot;
  return XS_OK;
}

xs_result_t op_persist(void* ctx, Command* cmd) {
  Queue& q = *self(ctx);
  Call& c = call_of(*cmd);
  xs_result_t r = XS_OK;
  switch (c.op) {
    case Op::kLaunch:
    case Op::kLaunchCooperative: r = persist_launch(q, c.launch); break;
    case Op::kLaunchEx: r = persist_launch_ex(q, c.launch_ex); break;
    case Op::kMemcpyHtoD:
    case Op::kMemcpyDtoH:
    case Op::kMemcpy: {
      const Memcpy& m = c.memcpy;
      if (!may_defer_access(*q.d, reinterpret_cast<const void*>(m.src), m.bytes) ||
          !may_defer_access(*q.d, reinterpret_cast<const void*>(m.dst), m.bytes))
        r = XS_ERR_UNSUPPORTED;
      break;
    }
    case Op::kMemcpy2D:
      r = may_defer_nd(*q.d, *static_cast<const CUDA_MEMCPY2D*>(c.memcpy_nd.desc)) ? persist_desc<CUDA_MEMCPY2D>(q, c.memcpy_nd)
                                                                                   : XS_ERR_UNSUPPORTED;
      break;
    case Op::kMemcpy3D:
      r = may_defer_nd(*q.d, *static_cast<const CUDA_MEMCPY3D*>(c.memcpy_nd.desc)) ? persist_desc<CUDA_MEMCPY3D>(q, c.memcpy_nd)
                                                                                   : XS_ERR_UNSUPPORTED;
      break;
    case Op::kEventWait: r = persist_event_wait(q, c.event); break;
    case Op::kBatchMemOp: {
      auto* copy = static_cast<CUstreamBatchMemOpParams*>(q.blocks.acquire(sizeof(CUstreamBatchMemOpParams) * c.batch.count));
      if (copy == nullptr) return XS_ERR_NO_MEMORY;
      std::memcpy(copy, c.batch.ops, sizeof(CUstreamBatchMemOpParams) * c.batch.count);
      c.batch.ops = copy;
      break;
    }
    default: break;  // operands are values
  }
  if (r == XS_OK) c.owned = true;
  return r;
}

// ---- launch ----

CUevent take_sync_event(Queue& q) {
  std::lock_guard lk(q.events_mu);
  if (!q.free_sync_events.empty()) {
    CUevent e = q.free_sync_events.back();
    q.free_sync_events.pop_back();
    return e;
  }
  CUevent e = nullptr;
  if (q.d->cuEventCreate(&e, q.sync_event_flags()) != CUDA_SUCCESS) return nullptr;
  try {
    q.all_events.push_back(e);
    q.free_sync_events.reserve(q.all_events.size());  // returning an event never allocates
  } catch (const std::bad_alloc&) {
    q.d->cuEventDestroy_v2(e);
    return nullptr;
  }
  return e;
}

void give_back_sync_event(Queue& q, CUevent e) {
  std::lock_guard lk(q.events_mu);
  q.free_sync_events.push_back(e);
}

// The command, behind a gate when its group is full (or the queue was held
// since the last gate: what is launched while held must wait behind it).
// A command that nothing could preempt when it was launched goes ungated.
CUresult issue_gated(Queue& q, const Call& c, bool preemptible) {
  if (!q.gate.used && q.gate.valid()) note_gate_used(q.gate);
  if (!preemptible) q.since_gate = UINT32_MAX;  // the next preemptible one gets a gate
  if (preemptible && q.gate.valid() && !q.gate_failed && q.since_gate >= q.group.load(std::memory_order_relaxed)) {
    const CUresult g = q.d->cuStreamWaitValue32_v2(q.stream, q.gate.device, gates::kOpenFrom, CU_STREAM_WAIT_VALUE_GEQ);
    if (g == CUDA_SUCCESS) {
      q.since_gate = 0;
    } else {
      q.gate_failed = true;
      char buf[32];
      log(LogLevel::kWarn, "stream %p: the driver refused a gate (%s): its launches go ungated, preemption waits for them",
          static_cast<void*>(q.stream), q.d->error_name(g, buf));
    }
  }
  CUresult r = CUDA_SUCCESS;
  if (!runs_kernels(c.op) || !q.confinement.try_issue(c, &r)) r = issue_call(*q.d, c, q.stream);
  if (r == CUDA_SUCCESS && q.since_gate != UINT32_MAX) ++q.since_gate;
  return r;
}

// The caller's own call goes through as the caller made it; a deferred one
// runs in the stream's context.
CUresult issue_in_context(Queue& q, const Call& c, bool preemptible) {
  if (!c.owned) return issue_gated(q, c, preemptible);
  ContextScope scope(*q.d, q.ctx);
  return issue_gated(q, c, preemptible);
}

xs_result_t op_launch(void* ctx, Command* cmd) {
  Queue& q = *self(ctx);
  Call& c = call_of(*cmd);
  const bool deferred = c.owned;
  const CUresult r = issue_in_context(q, c, cmd->preemptible);
  q.blocks.release(owned_block(c));
  if (c.op == Op::kEventWait && deferred) q.free_snapshots.push_back(c.event.event);  // the wait has read it
  c.owned = false;
  if (r != CUDA_SUCCESS) {
    if (deferred) {
      q.note_deferred(r);
      char buf[32];
      const char* kernel = "";
      if ((c.op == Op::kLaunch || c.op == Op::kLaunchCooperative) && q.d->cuFuncGetName != nullptr) {
        q.d->cuFuncGetName(&kernel, c.launch.f);
      }
      log(LogLevel::kWarn, "stream %p: held-back operation %s %s failed at launch: %s", static_cast<void*>(q.stream),
          op_name(c.op), kernel != nullptr ? kernel : "", q.d->error_name(r, buf));
    }
    return fail(r);
  }
  cmd->platform_slot = 0;
  if (cmd->sync_point) {
    // Without an event the sync falls back to the whole stream: slower, still right.
    CUevent e = take_sync_event(q);
    if (e != nullptr && q.d->cuEventRecord(e, q.stream) == CUDA_SUCCESS) {
      cmd->platform_slot = reinterpret_cast<uintptr_t>(e);
    } else if (e != nullptr) {
      give_back_sync_event(q, e);
    }
  }
  return XS_OK;
}

// A persisted command that will never launch: its copies go back.
void op_discard(void* ctx, Command* cmd) {
  Queue& q = *self(ctx);
  Call& c = call_of(*cmd);
  if (!c.owned) return;
  q.blocks.release(owned_block(c));
  if (c.op == Op::kEventWait) q.free_snapshots.push_back(c.event.event);
  c.owned = false;
}

// ---- sync ----

// Our worker threads wait on events while the application may be capturing
// a graph in another thread in global mode: relaxed mode keeps those waits
// from invalidating the capture.
void relax_capture_mode_once(const Driver& d) {
  thread_local bool relaxed = false;
  if (relaxed || d.cuThreadExchangeStreamCaptureMode == nullptr) return;
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
  d.cuThreadExchangeStreamCaptureMode(&mode);
  relaxed = true;
}

// A gated queue's sync point completed: the device time since the previous
// one, over the commands in between, sizes the gate groups. Idle gaps count
// as command time, which only makes groups smaller; an interval with a hold
// in it is skipped. Keeps e as the next interval's start.
void measure_commands(Queue& q, CUevent e, uint64_t seq) {
  const uint64_t epoch = q.hold_epoch.load(std::memory_order_relaxed);
  if (q.timed_prev != nullptr) {
    float ms = 0;
    if (epoch == q.timed_prev_epoch && seq > q.timed_prev_seq && q.d->cuEventElapsedTime_v2 != nullptr &&
        q.d->cuEventElapsedTime_v2(&ms, q.timed_prev, e) == CUDA_SUCCESS) {
      const double per_command = static_cast<double>(ms) * 1e6 / static_cast<double>(seq - q.timed_prev_seq);
      q.avg_command_ns = q.avg_command_ns == 0 ? per_command : 0.75 * q.avg_command_ns + 0.25 * per_command;
      const double fit = static_cast<double>(kGateGroupNs) / std::max(q.avg_command_ns, 1.0);
      q.group.store(static_cast<uint32_t>(std::clamp(fit, 1.0, static_cast<double>(kMaxGateGroup))),
                    std::memory_order_relaxed);
    }
    give_back_sync_event(q, q.timed_prev);
  }
  q.timed_prev = e;
  q.timed_prev_seq = seq;
  q.timed_prev_epoch = epoch;
}

xs_result_t op_sync(void* ctx, Command* cmd) {
  Queue& q = *self(ctx);
  relax_capture_mode_once(*q.d);
  CUresult r = CUDA_SUCCESS;
  CUevent e = cmd != nullptr ? reinterpret_cast<CUevent>(cmd->platform_slot) : nullptr;
  if (e != nullptr) {
    r = q.d->cuEventSynchronize(e);
    if (r == CUDA_SUCCESS && q.gate.valid()) {
      measure_commands(q, e, cmd->seq);
    } else {
      give_back_sync_event(q, e);
    }
  } else {
    // Everything launched so far: an event recorded now comes after it.
    ContextScope scope(*q.d, q.ctx);
    if (q.tail_event == nullptr) r = q.d->cuEventCreate(&q.tail_event, kSyncEventFlags);
    if (r == CUDA_SUCCESS) r = q.d->cuEventRecord(q.tail_event, q.stream);
    if (r == CUDA_SUCCESS) r = q.d->cuEventSynchronize(q.tail_event);
  }
  if (r != CUDA_SUCCESS) {
    q.note_deferred(r);
    return fail(r);
  }
  return XS_OK;
}

// ---- Level 2 ----

// Over the context's limit of held gates (gates.h) the queue is held as at
// Level 1: its XQueue launches nothing more, and what is launched runs.
xs_result_t op_deactivate(void* ctx) {
  Queue& q = *self(ctx);
  hold_gate(q.gate);
  q.hold_epoch.fetch_add(1, std::memory_order_relaxed);
  q.since_gate = UINT32_MAX;  // what is launched while held goes behind a gate
  return XS_OK;
}

xs_result_t op_reactivate(void* ctx) {
  let_go_gate(self(ctx)->gate);
  return XS_OK;
}

gates::Word* op_gate_word(void* ctx) {
  Queue& q = *self(ctx);
  return q.gate.valid() ? &q.gate.word : nullptr;
}

void op_confine(void* ctx, int64_t until_ns) { self(ctx)->confinement.set_until(until_ns); }

void op_release(void* ctx) {
  Queue* q = self(ctx);
  release_gate(q->gate);
  q->confinement.release();
  {
    ContextScope scope(*q->d, q->ctx);
    for (CUevent e : q->all_events) q->d->cuEventDestroy_v2(e);
    for (CUevent e : q->free_snapshots) q->d->cuEventDestroy_v2(e);
    if (q->tail_event != nullptr) q->d->cuEventDestroy_v2(q->tail_event);
    if (q->companion != nullptr) q->d->cuStreamDestroy_v2(q->companion);
    if (q->owns_stream) q->d->cuStreamDestroy_v2(q->stream);
  }
  delete q;
}

const HwQueueOps kCudaOps = {
    .platform = "cuda",
    .prepare = nullptr,
    .launch = op_launch,
    .persist = op_persist,
    .discard = op_discard,
    .sync = op_sync,
    .deactivate = nullptr,
    .reactivate = nullptr,
    .gate_word = nullptr,
    .interrupt = nullptr,
    .restore = nullptr,
    .confine = nullptr,
    .release = op_release,
};

// Level 2: the same, with gates.
const HwQueueOps kCudaGatedOps = [] {
  HwQueueOps ops = kCudaOps;
  ops.deactivate = op_deactivate;
  ops.reactivate = op_reactivate;
  ops.gate_word = op_gate_word;
  return ops;
}();

// Each of them with spatial reservation.
constexpr HwQueueOps confining(HwQueueOps ops) {
  ops.confine = op_confine;
  return ops;
}
const HwQueueOps kCudaConfinedOps = confining(kCudaOps);
const HwQueueOps kCudaGatedConfinedOps = confining(kCudaGatedOps);

bool is_cuda_queue(const HwQueue& hw) {
  return hw.ops == &kCudaOps || hw.ops == &kCudaGatedOps || hw.ops == &kCudaConfinedOps || hw.ops == &kCudaGatedConfinedOps;
}

}  // namespace

xs_result_t make_hw_queue(const QueueSpec& spec, HwQueue* out) {
  if (spec.driver == nullptr || out == nullptr) return XS_ERR_INVALID_ARG;
  Queue* q = new (std::nothrow) Queue(spec);
  if (q == nullptr) return XS_ERR_NO_MEMORY;
  const bool gated = spec.gate && acquire_gate(*spec.driver, spec.ctx, &q->gate);
  const bool confines = q->confinement.possible();
  const HwQueueOps* ops = gated ? (confines ? &kCudaGatedConfinedOps : &kCudaGatedOps) : (confines ? &kCudaConfinedOps : &kCudaOps);
  *out = HwQueue{ops, q};
  return XS_OK;
}

CUresult last_error_in_thread() { return t_last_error; }

uint64_t confined_launches(const HwQueue& hw) {
  return is_cuda_queue(hw) ? self(hw.ctx)->confinement.confined_launches() : 0;
}

CUresult deferred_error(const HwQueue& hw) {
  if (!is_cuda_queue(hw)) return CUDA_SUCCESS;
  return self(hw.ctx)->deferred_error.load(std::memory_order_acquire);
}

}  // namespace xsched::cuda

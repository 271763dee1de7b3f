// The CUDA hardware queue (cuda_queue.h): how commands reach one stream, how
// their completion is waited for, and Level 2's gates. What each call is and
// how it is issued or persisted is the operation table's (op_table.h).
#include "hal/cuda/cuda_queue.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>

#include "core/log.h"
#include "hal/cuda/call.h"
#include "hal/cuda/confinement.h"
#include "hal/cuda/context_scope.h"
#include "hal/cuda/gates.h"
#include "hal/cuda/op_table.h"
#include "hal/cuda/persist_space.h"
#include "hal/cuda/sync_events.h"

namespace xsched::cuda {
namespace {

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
        space(*spec.driver, spec.ctx),
        sync_events(*spec.driver),
        confinement(*spec.driver, spec.ctx, spec.stream, spec.reserve_sms) {}

  const Driver* d;
  CUcontext ctx;
  CUstream stream;
  bool owns_stream;

  PersistSpace space;      // what persisted calls keep; under the XQueue's lock
  SyncEvents sync_events;  // launch takes them, sync gives them back
  // sync(nullptr) records tail_event on the program's stream. Recorded after
  // a synchronisation of the program's, it would make the program's query
  // just after that say "not ready" (PyTorch asserts s.query() after
  // s.synchronize()). tail_mu orders it with op_caught_up: a tail no longer
  // needed is not recorded, and one recorded behind work the program waited
  // for is waited for too (microseconds) before the synchronisation returns.
  std::mutex tail_mu;
  CUevent tail_event = nullptr;   // under tail_mu
  bool tail_outstanding = false;  // recorded, not yet synchronised; under tail_mu
  uint64_t tail_covers = 0;       // the last command's seq before it; under tail_mu
  uint64_t caught_up = 0;         // seq the program has seen complete; under tail_mu
  std::atomic<uint64_t> last_seq{0};  // the last command issued on the stream

  std::atomic<CUresult> sticky_error{CUDA_SUCCESS};

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

  void note_failure(CUresult r) {
    CUresult none = CUDA_SUCCESS;
    sticky_error.compare_exchange_strong(none, r);
  }
};

Queue* self(void* ctx) { return static_cast<Queue*>(ctx); }

// ---- persist and discard ----

xs_result_t op_persist(void* ctx, Command* cmd) {
  Queue& q = *self(ctx);
  Call& c = call_of(*cmd);
  const OpRow& row = op_row(c.op);
  // The submitter's error slot (make_command) is good only during submit.
  auto* error = reinterpret_cast<CUresult*>(cmd->platform_slot);
  cmd->platform_slot = 0;
  const xs_result_t r = row.persist != nullptr ? row.persist(q.space, c, error) : XS_OK;
  if (r == XS_OK) c.persisted = true;
  return r;
}

// A persisted command that will never launch: its copies go back.
void op_discard(void* ctx, Command* cmd) {
  Queue& q = *self(ctx);
  Call& c = call_of(*cmd);
  if (!c.persisted) return;
  if (const OpRow& row = op_row(c.op); row.release != nullptr) row.release(q.space, c);
  c.persisted = false;
}

// ---- launch ----

// Puts a gate on the stream before the next preemptible command when its
// group is full (or the queue was held since the last gate: what is
// launched while held must wait behind it).
void gate_if_due(Queue& q, bool preemptible) {
  if (!q.gate.used && q.gate.valid()) note_gate_used(q.gate);
  if (!preemptible) q.since_gate = UINT32_MAX;  // the next preemptible one gets a gate
  if (!preemptible || !q.gate.valid() || q.gate_failed || q.since_gate < q.group.load(std::memory_order_relaxed)) return;
  const CUresult g = q.d->cuStreamWaitValue32_v2(q.stream, q.gate.device, gates::kOpenFrom, CU_STREAM_WAIT_VALUE_GEQ);
  if (g == CUDA_SUCCESS) {
    q.since_gate = 0;
    return;
  }
  q.gate_failed = true;
  char buf[32];
  log(LogLevel::kWarn, "stream %p: the driver refused a gate (%s): its launches go ungated, preemption waits for them",
      static_cast<void*>(q.stream), q.d->error_name(g, buf));
}

// The command, behind a gate where one is due; a kernel goes to the
// partition while the queue is confined. A command that nothing could
// preempt when it was launched goes ungated.
CUresult issue_gated(Queue& q, const Call& c, const OpRow& row, bool preemptible) {
  gate_if_due(q, preemptible);
  CUresult r = CUDA_SUCCESS;
  if (row.kernel == nullptr || !q.confinement.try_issue(c, &r)) r = row.issue(*q.d, c, q.stream);
  if (r == CUDA_SUCCESS && q.since_gate != UINT32_MAX) ++q.since_gate;
  return r;
}

// The caller's own call goes through as the caller made it; a persisted one
// runs in the stream's context.
CUresult issue_in_context(Queue& q, const Call& c, const OpRow& row, bool preemptible) {
  if (!c.persisted) return issue_gated(q, c, row, preemptible);
  ContextScope scope(*q.d, q.ctx);
  return issue_gated(q, c, row, preemptible);
}

void warn_persisted_failure(const Queue& q, const Call& c, const OpRow& row, CUresult r) {
  const char* kernel = "";
  if (row.kernel != nullptr && q.d->cuFuncGetName != nullptr) q.d->cuFuncGetName(&kernel, row.kernel(c));
  char buf[32];
  log(LogLevel::kWarn, "stream %p: persisted operation %s %s failed at launch: %s", static_cast<void*>(q.stream), row.name,
      kernel != nullptr ? kernel : "", q.d->error_name(r, buf));
}

// Records a sync event behind cmd. Without one, the sync falls back to the
// whole stream: slower, still right.
void mark_sync_point(Queue& q, Command* cmd) {
  CUevent e = q.sync_events.take(q.sync_event_flags());
  if (e == nullptr) return;
  if (q.d->cuEventRecord(e, q.stream) == CUDA_SUCCESS) {
    cmd->platform_slot = reinterpret_cast<uintptr_t>(e);
  } else {
    q.sync_events.give_back(e);
  }
}

xs_result_t op_launch(void* ctx, Command* cmd) {
  Queue& q = *self(ctx);
  Call& c = call_of(*cmd);
  const OpRow& row = op_row(c.op);
  const bool persisted = c.persisted;
  // A call launched at submit carries the submitter's error slot
  // (make_command); from here on the slot holds the sync event.
  auto* error = persisted ? nullptr : reinterpret_cast<CUresult*>(cmd->platform_slot);
  cmd->platform_slot = 0;
  const CUresult r = issue_in_context(q, c, row, cmd->preemptible);
  q.last_seq.store(cmd->seq, std::memory_order_release);
  if (persisted) {
    if (row.release != nullptr) row.release(q.space, c);  // the driver has read the copies
    c.persisted = false;
  }
  if (r != CUDA_SUCCESS) {
    if (persisted) {
      q.note_failure(r);
      warn_persisted_failure(q, c, row, r);
    } else if (error != nullptr) {
      *error = r;
    }
    return XS_ERR_PLATFORM;
  }
  if (cmd->sync_point) mark_sync_point(q, cmd);
  return XS_OK;
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
    q.sync_events.give_back(q.timed_prev);
  }
  q.timed_prev = e;
  q.timed_prev_seq = seq;
  q.timed_prev_epoch = epoch;
}

// Everything launched so far: an event recorded now comes after it. Not
// recorded when the program has seen all of it complete (op_caught_up).
CUresult sync_everything(Queue& q) {
  const uint64_t launched = q.last_seq.load(std::memory_order_acquire);
  CUevent tail = nullptr;
  {
    std::lock_guard<std::mutex> lock(q.tail_mu);
    if (q.caught_up >= launched) return CUDA_SUCCESS;
    ContextScope scope(*q.d, q.ctx);
    CUresult r = CUDA_SUCCESS;
    if (q.tail_event == nullptr) r = q.d->cuEventCreate(&q.tail_event, kSyncEventFlags);
    if (r == CUDA_SUCCESS) r = q.d->cuEventRecord(q.tail_event, q.stream);
    if (r != CUDA_SUCCESS) return r;
    q.tail_outstanding = true;
    q.tail_covers = launched;
    tail = q.tail_event;
  }
  const CUresult r = q.d->cuEventSynchronize(tail);
  std::lock_guard<std::mutex> lock(q.tail_mu);
  q.tail_outstanding = false;
  return r;
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
      q.sync_events.give_back(e);
    }
  } else {
    r = sync_everything(q);
  }
  if (r != CUDA_SUCCESS) {
    q.note_failure(r);
    return XS_ERR_PLATFORM;
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

ExternalHold* op_external_hold(void* ctx) {
  Queue& q = *self(ctx);
  return q.gate.valid() ? &q.gate.word : nullptr;
}

void op_confine(void* ctx, int64_t until_ns) { self(ctx)->confinement.set_until(until_ns); }

void op_release(void* ctx) {
  Queue* q = self(ctx);
  release_gate(q->gate);
  q->confinement.release();
  q->space.destroy();
  {
    ContextScope scope(*q->d, q->ctx);
    q->sync_events.destroy();
    if (q->tail_event != nullptr) q->d->cuEventDestroy_v2(q->tail_event);
    if (q->owns_stream) q->d->cuStreamDestroy_v2(q->stream);
  }
  delete q;
}

void op_caught_up(void* ctx, uint64_t through) {
  Queue& q = *self(ctx);
  std::lock_guard<std::mutex> lock(q.tail_mu);
  // A tail behind nothing newer than what the program saw complete is done in
  // microseconds; one behind newer work is the program's own "not ready".
  if (q.tail_outstanding && q.tail_covers <= through) q.d->cuEventSynchronize(q.tail_event);
  q.caught_up = std::max(q.caught_up, through);
}

const HwQueueOps kCudaOps = {
    .platform = "cuda",
    .prepare = nullptr,
    .launch = op_launch,
    .persist = op_persist,
    .discard = op_discard,
    .sync = op_sync,
    .caught_up = op_caught_up,
    .deactivate = nullptr,
    .reactivate = nullptr,
    .external_hold = nullptr,
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
  ops.external_hold = op_external_hold;
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

uint64_t confined_launches(const HwQueue& hw) {
  return is_cuda_queue(hw) ? self(hw.ctx)->confinement.confined_launches() : 0;
}

CUresult sticky_error(const HwQueue& hw) {
  if (!is_cuda_queue(hw)) return CUDA_SUCCESS;
  return self(hw.ctx)->sticky_error.load(std::memory_order_acquire);
}

}  // namespace xsched::cuda

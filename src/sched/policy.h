// A policy decides which queues run, from their readiness and hints. Like a
// Linux scheduling class it is a handful of hooks over queue state and knows
// nothing of how queues run, of CUDA, or of processes: the same policy serves
// the in-process scheduler and the daemon.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <type_traits>

#include "sched/window_rule.h"
#include "xsched/xsched.h"

namespace xsched {

// Per-queue state that belongs to the policy, kept in the queue's view as
// Linux keeps a task's sched_entity in the task: a policy finds it without a
// search or a side table, and it goes when the queue does. The engine zeroes
// it when the queue joins and when the policy changes, so all-zero bytes
// must mean "a queue this policy has not seen yet".
struct PolicySlot {
  static constexpr std::size_t kBytes = 48;
  alignas(8) std::array<std::byte, kBytes> bytes{};
};

// One queue as a policy sees it. `id` is unique within one engine.
struct QueueView {
  uint64_t id = 0;
  bool ready = false;  // has commands pending or in flight
  xs_hints_t hints{0, 1, 0, 0};
  bool run = true;     // the decision: written by decide()
  PolicySlot slot{};   // the policy's own (policy_state)
};

// A policy's state of a queue, read and written whole: any trivially
// copyable struct that fits the slot (copies of a few words; a decision
// reads each queue's once and writes it back once).
template <class State>
State policy_state(const QueueView& q) {
  static_assert(std::is_trivially_copyable_v<State> && sizeof(State) <= PolicySlot::kBytes);
  State s;
  std::memcpy(&s, q.slot.bytes.data(), sizeof s);
  return s;
}
template <class State>
void set_policy_state(QueueView& q, const State& s) {
  static_assert(std::is_trivially_copyable_v<State> && sizeof(State) <= PolicySlot::kBytes);
  std::memcpy(q.slot.bytes.data(), &s, sizeof s);
}

// A policy owns its rules, as a Linux sched_class owns wakeup_preempt: what
// it decides (decide), and which queues it could hold at all (window_bounded,
// confines_by_priority), which the schedulers need before any decision.
// Policies are made through the registry (sched/policy_registry.h).

class Policy {
 public:
  virtual ~Policy() = default;
  virtual xs_policy_t kind() const = 0;

  // A queue joined / left (optional). A policy's per-queue state lives in
  // QueueView::slot, which decide() finds zeroed for a queue just added.
  virtual void added(const QueueView& /*q*/, int64_t /*now_ns*/) {}
  virtual void removed(uint64_t /*id*/) {}

  // Sets `run` on every queue. Returns when it wants to decide again even if
  // nothing changes (steady-clock ns), or 0 for never. A timer never decides
  // sooner than kMinDecisionIntervalNs after its previous decision, even for
  // a time that has already passed.
  virtual int64_t decide(std::span<QueueView> queues, int64_t now_ns) = 0;

  // Whether a queue needs its in-flight window (and, at Level 2, gates):
  // only if some other queue that has had work could make this policy hold
  // it (window_rule.h says why only those count). The default suits any
  // policy that may hold a queue for any other one: time, deadlines, shares.
  virtual bool window_bounded(const WindowContext& c, int32_t /*priority*/, bool used) const {
    return another_queue_used(c, used);
  }
  // Whether less urgent queues are confined to part of the device while a
  // queue of higher priority is ready (sched/reserve_rule.h): only for a
  // policy that ranks by priority alone.
  virtual bool confines_by_priority() const { return false; }
};

// The least time a scheduler's timer lets pass between two of its
// decisions: well below the shortest timeslice or deadline a hint may give
// (core/hint_limits.h), so policies keep their times, yet a policy that asks
// for "now" over and over cannot keep a scheduler deciding in a loop.
constexpr int64_t kMinDecisionIntervalNs = 50'000;

// A queue's timeslice: its hint, or the scheduler's default where it gives none.
constexpr int64_t timeslice_of(const QueueView& q, int64_t default_ns) {
  return q.hints.timeslice_ns > 0 ? q.hints.timeslice_ns : default_ns;
}

// How long the queue holding a turn (or a slice) may stay idle before another
// queue is let run in its place, in policies that take turns: a job that
// synchronises between iterations is idle for tens of µs each time, and
// handing the device over and back for such a gap costs two switches, each
// waiting for a running kernel (hundreds of µs for a batch-32 ResNet-50).
// A quarter of the turn, at most 1 ms.
constexpr int64_t fill_in_delay_ns(int64_t turn_ns) { return std::min<int64_t>(turn_ns / 4, 1'000'000); }

// When a timer that has just decided at now_ns runs the next decision that
// a policy asked for at next_ns (0: never).
constexpr int64_t timer_due_ns(int64_t next_ns, int64_t now_ns) {
  return next_ns == 0 ? 0 : std::max(next_ns, now_ns + kMinDecisionIntervalNs);
}

// The policy of a kind (the registry's factory); nullptr for an unknown kind.
std::unique_ptr<Policy> make_policy(xs_policy_t kind, int64_t default_timeslice_ns);

}  // namespace xsched

// A policy decides which queues run, from their readiness and hints. Like a
// Linux scheduling class it is a handful of hooks over queue state and knows
// nothing of how queues run, of CUDA, or of processes: the same policy serves
// the in-process scheduler and the daemon.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "sched/window_rule.h"
#include "xsched/xsched.h"

namespace xsched {

// One queue as a policy sees it. `id` is unique within one engine.
struct QueueView {
  uint64_t id = 0;
  bool ready = false;  // has commands pending or in flight
  xs_hints_t hints{0, 1, 0, 0};
  bool run = true;     // the decision: written by decide()
};

// A policy owns its rules, as a Linux sched_class owns wakeup_preempt: what
// it decides (decide), and which queues it could hold at all (window_bounded,
// confines_by_priority), which the schedulers need before any decision.
// Policies are made through the registry (sched/policy_registry.h).

class Policy {
 public:
  virtual ~Policy() = default;
  virtual xs_policy_t kind() const = 0;

  // A queue joined / left (optional).
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

// When a timer that has just decided at now_ns runs the next decision that
// a policy asked for at next_ns (0: never).
constexpr int64_t timer_due_ns(int64_t next_ns, int64_t now_ns) {
  return next_ns == 0 ? 0 : std::max(next_ns, now_ns + kMinDecisionIntervalNs);
}

// A policy's state for queue `id` (State has a member `id`), or nullptr.
// Policies add states in the order the engine adds queues and remove them as
// it does, so the state of the queue at position `hint` of a decision's span
// is usually at `hint` too: one comparison instead of a search, which keeps a
// decision over N queues O(N) (the daemon decides for hundreds).
template <class State>
State* find_state(std::vector<State>& states, uint64_t id, std::size_t hint) {
  if (hint < states.size() && states[hint].id == id) return &states[hint];
  for (State& s : states) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

// The policy of a kind (the registry's factory); nullptr for an unknown kind.
std::unique_ptr<Policy> make_policy(xs_policy_t kind, int64_t default_timeslice_ns);

}  // namespace xsched

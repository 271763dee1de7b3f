#include "sched/policy_deadline.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "sched/policy_registry.h"

namespace xsched {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t due_after(int64_t start_ns, int64_t deadline_ns) {
  if (deadline_ns <= 0) return kNever;
  return start_ns > kNever - deadline_ns ? kNever : start_ns + deadline_ns;
}

}  // namespace

int64_t DeadlinePolicy::decide(std::span<QueueView> queues, int64_t now_ns) {
  // Earliest due first; among equal deadlines, the higher priority.
  using Key = std::pair<int64_t, int64_t>;
  Key best{kNever, std::numeric_limits<int64_t>::max()};
  bool any_ready = false;
  int64_t next = 0;
  for (QueueView& q : queues) {
    State s = policy_state<State>(q);
    // A queue new to the policy starts its period now if it is ready.
    if (!s.seen) {
      s = State{true, q.ready, q.ready ? due_after(now_ns, q.hints.deadline_ns) : kNever, q.hints.deadline_ns};
    }
    // q.run is still the last decision: only a queue that had the device
    // starts a new period when overdue; a held one keeps its early due time.
    const bool renew = !s.was_ready || s.deadline_ns != q.hints.deadline_ns || (s.due_ns <= now_ns && q.run);
    if (q.ready && renew) s.due_ns = due_after(now_ns, q.hints.deadline_ns);
    if (!q.ready) s.due_ns = kNever;
    s.was_ready = q.ready;
    s.deadline_ns = q.hints.deadline_ns;
    set_policy_state(q, s);
    // Decide again when a ready queue's period ends.
    if (q.ready && s.due_ns != kNever && (next == 0 || s.due_ns < next)) next = s.due_ns;
    if (!q.ready) continue;
    any_ready = true;
    best = std::min(best, Key{s.due_ns, -static_cast<int64_t>(q.hints.priority)});
  }
  for (QueueView& q : queues) {
    const State s = policy_state<State>(q);
    q.run = !any_ready || (q.ready && Key{s.due_ns, -static_cast<int64_t>(q.hints.priority)} == best);
  }
  return next;
}

std::unique_ptr<Policy> make_deadline_policy(int64_t) { return std::make_unique<DeadlinePolicy>(); }

}  // namespace xsched

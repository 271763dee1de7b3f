#include "sched/policy_laxity.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "sched/policy_registry.h"

namespace xsched {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t due_after(int64_t start_ns, int64_t deadline_ns) {
  if (deadline_ns <= 0) return kNever;
  return start_ns > kNever - deadline_ns ? kNever : start_ns + deadline_ns;
}

int64_t earliest(int64_t a, int64_t b) { return a == 0 ? b : std::min(a, b); }

// Less is more urgent: the laxity, then the higher priority.
using Key = std::pair<int64_t, int64_t>;
Key key_of(const QueueView& q, int64_t laxity) { return {laxity, -static_cast<int64_t>(q.hints.priority)}; }

}  // namespace

int64_t LaxityPolicy::laxity(const State& s, int64_t now_ns) {
  if (s.due_ns == kNever) return kNever;
  // Both terms are bounded: a due time lies at most an hour (the longest
  // deadline hint) past some decision, and work is measured time.
  return s.due_ns - now_ns - std::max<int64_t>(0, s.work_ns - s.ran_ns);
}

int64_t LaxityPolicy::update(QueueView& q, int64_t elapsed_ns, int64_t now_ns) {
  State s = policy_state<State>(q);
  if (!s.seen) s = State{true, false, false, kNever, q.hints.deadline_ns, 0, 0};
  // q.run is still the last decision, in force since then, as was readiness.
  if (s.was_ready && q.run) s.ran_ns += elapsed_ns;
  if (s.was_ready && !q.ready) {  // its work is done: one period's worth
    s.work_ns = s.has_work_estimate ? s.work_ns + (s.ran_ns - s.work_ns) / 4 : s.ran_ns;
    s.has_work_estimate = true;
    s.ran_ns = 0;
  }
  // Periods as under the deadline policy: only a queue that had the device
  // starts a new one when overdue; a held one keeps its early due time.
  const bool renew = !s.was_ready || s.deadline_ns != q.hints.deadline_ns || (s.due_ns <= now_ns && q.run);
  if (q.ready && renew) s.due_ns = due_after(now_ns, q.hints.deadline_ns);
  if (!q.ready) s.due_ns = kNever;
  s.was_ready = q.ready;
  s.deadline_ns = q.hints.deadline_ns;
  set_policy_state(q, s);
  return laxity(s, now_ns);
}

int64_t LaxityPolicy::decide(std::span<QueueView> queues, int64_t now_ns) {
  const int64_t elapsed = last_ns_ < 0 ? 0 : std::max<int64_t>(0, now_ns - last_ns_);
  last_ns_ = now_ns;
  std::optional<Key> best;    // the least among ready queues
  std::optional<Key> runner;  // the least among ready queues that ran until now
  int64_t runner_slice = default_timeslice_ns_;
  int64_t next = 0;
  for (QueueView& q : queues) {
    const Key k = key_of(q, update(q, elapsed, now_ns));
    if (!q.ready) continue;
    const int64_t due = policy_state<State>(q).due_ns;
    if (due != kNever) next = earliest(next, due);  // its period ends
    if (!best || k < *best) best = k;
    if (q.run && (!runner || k < *runner)) {
      runner = k;
      runner_slice = timeslice_of(q, default_timeslice_ns_);
    }
  }
  if (!best) {  // nothing ready: let whoever submits start at once
    for (QueueView& q : queues) q.run = true;
    return 0;
  }
  // The runner keeps the device while no laxity is half a timeslice below its own.
  const int64_t margin = runner_slice / 2;
  const Key chosen = runner && runner->first != kNever && runner->first - best->first <= margin ? *runner : *best;
  for (QueueView& q : queues) {
    const int64_t lax = laxity(policy_state<State>(q), now_ns);
    q.run = q.ready && key_of(q, lax) == chosen;
    // A held queue's laxity shrinks as time passes: decide again when it
    // falls `margin` below the chosen one's.
    if (q.ready && !q.run && lax != kNever && chosen.first != kNever) {
      next = earliest(next, now_ns + (lax - chosen.first) + margin + 1);
    }
  }
  return next;
}

std::unique_ptr<Policy> make_laxity_policy(int64_t default_timeslice_ns) {
  return std::make_unique<LaxityPolicy>(default_timeslice_ns);
}

}  // namespace xsched

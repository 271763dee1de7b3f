#include "sched/policy_fair.h"

#include <algorithm>
#include <limits>

#include "sched/policy_registry.h"

namespace xsched {

void FairPolicy::removed(uint64_t id) {
  if (running_ == id) running_ = 0;
}

void FairPolicy::account(std::span<QueueView> queues, int64_t now_ns) {
  double least = std::numeric_limits<double>::infinity();
  for (QueueView& q : queues) {
    State s = policy_state<State>(q);
    if (!s.seen) continue;
    // As the bandwidth policy does: the queue let run pays for the time
    // since the last decision (it was ready throughout: turning idle makes
    // the engine decide at once).
    if (q.id == running_) s.vruntime += static_cast<double>(now_ns - last_ns_) / q.hints.share;
    set_policy_state(q, s);
    if (q.ready && s.was_ready) least = std::min(least, s.vruntime);
  }
  if (least != std::numeric_limits<double>::infinity()) min_vruntime_ = std::max(min_vruntime_, least);
  last_ns_ = now_ns;
}

int64_t FairPolicy::decide(std::span<QueueView> queues, int64_t now_ns) {
  account(queues, now_ns);
  constexpr double kNone = std::numeric_limits<double>::infinity();
  const QueueView* current = nullptr;
  const QueueView* idle_runner = nullptr;  // the slice's queue, idle since idle_runner_since
  int64_t idle_runner_since = 0;
  const QueueView* least = nullptr;
  double current_vruntime = kNone, least_vruntime = kNone;
  double waker_bound = kNone;  // least over queues that just turned ready: vruntime + wakeup granularity
  for (QueueView& q : queues) {
    State s = policy_state<State>(q);
    if (!s.seen) s = State{true, false, min_vruntime_, now_ns};  // joins level with the others
    const bool woke = q.ready && !s.was_ready;
    const int64_t slice = timeslice_of(q, default_timeslice_ns_);
    // Back from a pause: no lower than min_vruntime (no banking).
    if (woke && now_ns - s.idle_since_ns >= slice) s.vruntime = std::max(s.vruntime, min_vruntime_);
    if (!q.ready && s.was_ready) s.idle_since_ns = now_ns;
    s.was_ready = q.ready;
    set_policy_state(q, s);
    if (!q.ready) {
      if (q.id == running_) {
        idle_runner = &q;
        idle_runner_since = s.idle_since_ns;
      }
      continue;
    }
    if (q.id == running_) {
      current = &q;
      current_vruntime = s.vruntime;
    }
    if (s.vruntime < least_vruntime) {
      least_vruntime = s.vruntime;
      least = &q;
    }
    // Half a timeslice of the waker's device time, in its virtual time.
    if (woke) waker_bound = std::min(waker_bound, s.vruntime + 0.5 * static_cast<double>(slice) / q.hints.share);
  }
  if (least == nullptr) {  // nothing ready: let whoever submits start at once
    running_ = 0;
    for (QueueView& q : queues) q.run = true;
    return 0;
  }
  // The slice's queue keeps it through an idle gap shorter than a switch is
  // worth (fill_in_delay_ns): the next queue starts only after that.
  if (current == nullptr && idle_runner != nullptr && now_ns < slice_end_ns_) {
    const int64_t fill_at =
        idle_runner_since + fill_in_delay_ns(timeslice_of(*idle_runner, default_timeslice_ns_));
    if (now_ns < fill_at) {
      for (QueueView& q : queues) q.run = q.id == running_;
      return std::min(slice_end_ns_, fill_at);
    }
  }
  // A slice is kept to its end while its queue stays ready, unless a queue
  // that wakes up is owed more than half a timeslice (CFS's wakeup
  // preemption: without it, a job that idles between iterations would find
  // the device taken each time it comes back, and lose its share).
  const bool preempt = current != nullptr && waker_bound < current_vruntime;
  if (current == nullptr || now_ns >= slice_end_ns_ || preempt) {
    running_ = least->id;
    slice_end_ns_ = now_ns + timeslice_of(*least, default_timeslice_ns_);
  }
  for (QueueView& q : queues) q.run = q.id == running_;
  return slice_end_ns_;
}

std::unique_ptr<Policy> make_fair_policy(int64_t default_timeslice_ns) {
  return std::make_unique<FairPolicy>(default_timeslice_ns);
}

}  // namespace xsched

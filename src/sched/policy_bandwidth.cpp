#include "sched/policy_bandwidth.h"

#include <algorithm>
#include <limits>

#include "sched/policy_registry.h"

namespace xsched {

BandwidthPolicy::State BandwidthPolicy::state_of(const QueueView& q, int64_t now_ns) {
  State s = policy_state<State>(q);
  if (!s.seen) s = State{true, false, 0.0, now_ns};
  return s;
}

void BandwidthPolicy::removed(uint64_t id) {
  if (current_ == id) current_ = 0;
  if (running_ == id) running_ = 0;
}

int64_t BandwidthPolicy::decide(std::span<QueueView> queues, int64_t now_ns) {
  // Charge the queue that ran (the turn's owner, or another one filling in
  // while the owner was idle) for the time since the last decision.
  for (QueueView& q : queues) {
    if (q.id != running_) continue;
    State s = state_of(q, now_ns);
    s.vtime += static_cast<double>(now_ns - last_ns_) / q.hints.share;
    set_policy_state(q, s);
  }
  last_ns_ = now_ns;

  // A queue that comes back from a pause starts level with those already
  // ready: a pause banks no time. A gap shorter than a turn is no pause: a
  // job that synchronises between iterations is idle for microseconds each
  // time, and levelling it then would hand its share to the others.
  double floor = std::numeric_limits<double>::infinity();
  for (const QueueView& q : queues) {
    const State s = state_of(q, now_ns);
    if (q.ready && s.was_ready) floor = std::min(floor, s.vtime);
  }
  // Turns go to the most owed queue among those ready or idle for less than
  // a turn (about to submit again: a turn boundary that falls in such a gap
  // must not pass the queue over); the most owed ready one runs whenever the
  // turn's owner is idle.
  const QueueView* owner = nullptr;
  const QueueView* best = nullptr;  // for the next turn
  const QueueView* filler = nullptr;
  double best_vtime = std::numeric_limits<double>::infinity();
  double filler_vtime = std::numeric_limits<double>::infinity();
  for (QueueView& q : queues) {
    State s = state_of(q, now_ns);
    if (q.ready && !s.was_ready && now_ns - s.idle_since_ns >= timeslice_of(q, default_timeslice_ns_) &&
        floor != std::numeric_limits<double>::infinity()) {
      s.vtime = std::max(s.vtime, floor);
    }
    if (!q.ready && s.was_ready) s.idle_since_ns = now_ns;
    s.was_ready = q.ready;
    set_policy_state(q, s);
    if (q.id == current_) owner = &q;
    if (q.ready && s.vtime < filler_vtime) {
      filler_vtime = s.vtime;
      filler = &q;
    }
    if ((q.ready || now_ns - s.idle_since_ns < timeslice_of(q, default_timeslice_ns_)) && s.vtime < best_vtime) {
      best_vtime = s.vtime;
      best = &q;
    }
  }

  if (filler == nullptr) {  // nothing ready: let whoever submits start at once
    current_ = 0;
    running_ = 0;
    for (QueueView& q : queues) q.run = true;
    return 0;
  }
  if (owner == nullptr || now_ns >= turn_end_ns_) {
    owner = best != nullptr ? best : filler;
    current_ = owner->id;
    turn_end_ns_ = now_ns + timeslice_of(*owner, default_timeslice_ns_);
  }
  // The turn stays with its owner to its end. Another queue fills in only
  // once the owner has been idle for longer than a switch is worth
  // (fill_in_delay_ns).
  int64_t next_ns = turn_end_ns_;
  if (owner->ready || running_ == filler->id) {
    running_ = owner->ready ? owner->id : filler->id;
  } else {
    const int64_t fill_at = state_of(*owner, now_ns).idle_since_ns +
                          fill_in_delay_ns(timeslice_of(*owner, default_timeslice_ns_));
    if (now_ns >= fill_at) {
      running_ = filler->id;
    } else {
      running_ = owner->id;
      next_ns = std::min(next_ns, fill_at);
    }
  }
  for (QueueView& q : queues) q.run = q.id == running_;
  return next_ns;
}

std::unique_ptr<Policy> make_bandwidth_policy(int64_t default_timeslice_ns) {
  return std::make_unique<BandwidthPolicy>(default_timeslice_ns);
}

}  // namespace xsched

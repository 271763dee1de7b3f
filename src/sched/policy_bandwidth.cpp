#include "sched/policy_bandwidth.h"

#include <algorithm>
#include <limits>

namespace xsched {

BandwidthPolicy::State* BandwidthPolicy::find(uint64_t id) {
  for (State& s : states_) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

void BandwidthPolicy::added(const QueueView& q, int64_t) {
  if (find(q.id) == nullptr) states_.push_back({q.id, 0.0, false});
}

void BandwidthPolicy::removed(uint64_t id) {
  std::erase_if(states_, [id](const State& s) { return s.id == id; });
  if (current_ == id) current_ = 0;
}

int64_t BandwidthPolicy::decide(std::span<QueueView> queues, int64_t now_ns) {
  // Charge the queue whose turn it was for the time since the last decision.
  for (const QueueView& q : queues) {
    if (q.id == current_) {
      if (State* s = find(q.id)) s->vtime += static_cast<double>(now_ns - last_ns_) / q.hints.share;
    }
  }
  last_ns_ = now_ns;

  // A queue that just became ready starts level with those already ready.
  double floor = std::numeric_limits<double>::infinity();
  for (const QueueView& q : queues) {
    const State* s = find(q.id);
    if (q.ready && s != nullptr && s->was_ready) floor = std::min(floor, s->vtime);
  }
  const QueueView* keep = nullptr;
  const QueueView* best = nullptr;
  double best_vtime = std::numeric_limits<double>::infinity();
  for (const QueueView& q : queues) {
    State* s = find(q.id);
    if (s == nullptr) continue;
    if (q.ready && !s->was_ready && floor != std::numeric_limits<double>::infinity()) {
      s->vtime = std::max(s->vtime, floor);
    }
    s->was_ready = q.ready;
    if (!q.ready) continue;
    if (q.id == current_ && now_ns < turn_end_ns_) keep = &q;
    if (s->vtime < best_vtime) {
      best_vtime = s->vtime;
      best = &q;
    }
  }

  if (best == nullptr) {  // nothing ready: let whoever submits start at once
    current_ = 0;
    for (QueueView& q : queues) q.run = true;
    return 0;
  }
  if (keep == nullptr) {
    current_ = best->id;
    const int64_t slice = best->hints.timeslice_ns > 0 ? best->hints.timeslice_ns : default_timeslice_ns_;
    turn_end_ns_ = now_ns + slice;
  }
  for (QueueView& q : queues) q.run = q.id == current_;
  return turn_end_ns_;
}

}  // namespace xsched

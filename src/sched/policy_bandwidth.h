// Bandwidth partition: ready queues take turns of one timeslice each, and the
// turns go to whichever has used the least time for its share (stride
// scheduling on measured time). Over many turns each ready queue receives
// time in proportion to its share; a queue that paused for a turn or longer
// does not bank time. A turn stays with its owner while the owner is briefly
// idle (between two of its submissions); another queue fills in only when
// the owner stays idle for longer than a switch costs (a quarter of the
// turn, at most 1 ms), and pays for the time it gets.
#pragma once

#include "sched/policy.h"

namespace xsched {

class BandwidthPolicy final : public Policy {
 public:
  explicit BandwidthPolicy(int64_t default_timeslice_ns) : default_timeslice_ns_(default_timeslice_ns) {}
  xs_policy_t kind() const override { return XS_POLICY_BANDWIDTH; }
  void removed(uint64_t id) override;
  int64_t decide(std::span<QueueView> queues, int64_t now_ns) override;

 private:
  struct State {  // in the queue's PolicySlot
    bool seen;              // false: the queue is new to the policy (a zeroed slot)
    bool was_ready;
    double vtime;           // ns of device turn divided by share
    int64_t idle_since_ns;  // when it last turned idle (or joined)
  };
  // q's state, made at now_ns for a queue new to the policy.
  static State state_of(const QueueView& q, int64_t now_ns);

  const int64_t default_timeslice_ns_;
  uint64_t current_ = 0;  // the queue whose turn it is; 0 = none
  uint64_t running_ = 0;  // the queue let run at the last decision (the owner, or one filling in)
  int64_t turn_end_ns_ = 0;
  int64_t last_ns_ = 0;
};

}  // namespace xsched

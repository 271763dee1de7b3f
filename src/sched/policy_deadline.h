// Earliest deadline first: a queue's work is due `deadline_ns` after the
// queue turned ready; the ready queues due first run and the others are held.
// A queue that ran and is still ready when its work falls due starts a new
// period (due `deadline_ns` later), so a queue that never goes idle cannot
// keep the device with a deadline long past; a held queue keeps its due
// time; a changed deadline starts a new period.
// Queues without a deadline are due last, in priority order among
// themselves. Idle queues are held while any queue is ready, so their next
// work waits for a decision.
#pragma once

#include "sched/policy.h"

namespace xsched {

class DeadlinePolicy final : public Policy {
 public:
  xs_policy_t kind() const override { return XS_POLICY_DEADLINE; }
  int64_t decide(std::span<QueueView> queues, int64_t now_ns) override;

 private:
  struct State {  // in the queue's PolicySlot
    bool seen;            // false: the queue is new to the policy (a zeroed slot)
    bool was_ready;
    int64_t due_ns;       // absolute deadline of the current period; INT64_MAX: none
    int64_t deadline_ns;  // the hint the period was computed from
  };
};

}  // namespace xsched

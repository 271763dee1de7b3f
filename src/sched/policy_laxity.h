// Least laxity first. A queue's work is due `deadline_ns` after the queue
// turned ready, its period renewed as under the deadline policy; its laxity
// is the time left until then less the work it still has to do: how long it
// could still wait and finish in time. The ready queues of the least laxity
// run, the others are held, idle ones too, so their next work waits for a
// decision; queues without a deadline come last, higher priority first.
//
// The work still to do is estimated from what the policy measures, as the
// policy sees no durations (CUDA commands carry none, and xschedd sees only
// readiness): a queue's work per period is the device time it was let run
// from turning ready to turning idle, averaged over its recent periods (the
// newest weighs 1/4); what is left is that less what it has run in the
// current period. A queue with no finished period yet has no work left by
// this estimate, so until queues have history this is earliest deadline
// first; a queue that never turns idle keeps the estimate it had.
//
// A held queue's laxity shrinks while the running one's stays, so two
// queues of equal laxity would trade the device at every decision. The
// running queue keeps it until another's laxity is half a timeslice below
// its own: queues of equal urgency take turns of about a timeslice, and a
// held queue gives up at most half a timeslice of its slack to the runner.
#pragma once

#include "sched/policy.h"

namespace xsched {

class LaxityPolicy final : public Policy {
 public:
  explicit LaxityPolicy(int64_t default_timeslice_ns) : default_timeslice_ns_(default_timeslice_ns) {}
  xs_policy_t kind() const override { return XS_POLICY_LAXITY; }
  int64_t decide(std::span<QueueView> queues, int64_t now_ns) override;

 private:
  struct State {  // in the queue's PolicySlot
    bool seen;            // false: the queue is new to the policy (a zeroed slot)
    bool was_ready;
    bool has_work_estimate;
    int64_t due_ns;       // absolute deadline of the current period; INT64_MAX: none
    int64_t deadline_ns;  // the hint the period was computed from
    int64_t ran_ns;       // device time let run since it turned ready
    int64_t work_ns;      // estimated device time of one period's work
  };
  // Charges q for elapsed_ns if it ran, closes or renews its period, stores
  // its state; returns its laxity (INT64_MAX without a deadline or when idle).
  static int64_t update(QueueView& q, int64_t elapsed_ns, int64_t now_ns);
  static int64_t laxity(const State& s, int64_t now_ns);

  const int64_t default_timeslice_ns_;
  int64_t last_ns_ = -1;  // the previous decision; -1: none yet
};

}  // namespace xsched

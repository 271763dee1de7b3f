// Weighted fair share, after Linux's CFS. Each queue accumulates virtual
// time: the device time it was let run divided by its share. Every
// timeslice (the queue's hint, or the scheduler's default) the ready queue
// with the least virtual time gets the device for the next one; when the
// running queue stays idle for longer than a switch is worth
// (fill_in_delay_ns: a quarter of the slice, at most 1 ms), the next one
// starts; a shorter gap keeps the slice with it. Over many slices
// ready queues receive device time in proportion to their shares.
//
// No banking: the policy keeps min_vruntime, the least virtual time among
// queues that stayed ready, which only grows. A queue that joins starts
// there, and one that comes back from a pause of a timeslice or longer
// starts no lower, so a queue idle for an hour does not then hold the
// device for an hour. A shorter gap is no pause: a job that synchronises
// between iterations is idle for microseconds each time, and levelling it
// then would hand its share to the others.
//
// A queue that turns ready while another runs waits for the end of that
// slice, unless it is owed more than half a timeslice of its own device time
// (its virtual time is that much below the runner's): then it preempts at
// once, as CFS's wakeup preemption does. So a job that is idle for a moment
// between iterations gets its share back at once instead of losing its turn
// each time. Unlike the bandwidth policy a slice is not kept through its
// queue's longer gaps, and nobody fills in for it: the next queue starts.
// Idle queues are held while any queue is ready, so their work waits for a
// decision.
#pragma once

#include "sched/policy.h"

namespace xsched {

class FairPolicy final : public Policy {
 public:
  explicit FairPolicy(int64_t default_timeslice_ns) : default_timeslice_ns_(default_timeslice_ns) {}
  xs_policy_t kind() const override { return XS_POLICY_FAIR; }
  void removed(uint64_t id) override;
  int64_t decide(std::span<QueueView> queues, int64_t now_ns) override;

 private:
  struct State {  // in the queue's PolicySlot
    bool seen;              // false: the queue is new to the policy (a zeroed slot)
    bool was_ready;
    double vruntime;        // ns of device time let run, divided by its share
    int64_t idle_since_ns;  // when it last turned idle
  };
  // Charges the queue that ran since the last decision and raises min_vruntime.
  void account(std::span<QueueView> queues, int64_t now_ns);

  const int64_t default_timeslice_ns_;
  double min_vruntime_ = 0;  // only grows
  uint64_t running_ = 0;     // the queue let run at the last decision; 0: none (or all)
  int64_t slice_end_ns_ = 0;
  int64_t last_ns_ = 0;
};

}  // namespace xsched

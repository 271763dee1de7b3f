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

#include <vector>

#include "sched/policy.h"

namespace xsched {

class DeadlinePolicy final : public Policy {
 public:
  xs_policy_t kind() const override { return XS_POLICY_DEADLINE; }
  void added(const QueueView& q, int64_t now_ns) override;
  void removed(uint64_t id) override;
  int64_t decide(std::span<QueueView> queues, int64_t now_ns) override;

 private:
  struct State {
    uint64_t id;
    bool was_ready;
    int64_t due_ns;       // absolute deadline of the current period; INT64_MAX: none
    int64_t deadline_ns;  // the hint the period was computed from
  };
  // Made if it is missing. hint: where the state usually is (find_state).
  State& find(uint64_t id, std::size_t hint);

  std::vector<State> states_;
};

}  // namespace xsched

// Earliest deadline first: a queue's work is due `deadline_ns` after the
// queue turned ready; the ready queues due first run and the others are held.
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
    int64_t due_ns;  // absolute deadline of the current burst; INT64_MAX: none
  };
  State& find(uint64_t id);

  std::vector<State> states_;
};

}  // namespace xsched

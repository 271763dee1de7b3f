// Fixed priority: the queues of the highest priority among ready queues run;
// every queue of lower priority is held, idle ones too, so that a low queue
// that wakes up buffers its work instead of slipping it onto the device.
#pragma once

#include "sched/policy.h"

namespace xsched {

class PriorityPolicy final : public Policy {
 public:
  xs_policy_t kind() const override { return XS_POLICY_PRIORITY; }
  int64_t decide(std::span<QueueView> queues, int64_t now_ns) override;
  // Only a queue below the top priority of those that have had work can be held.
  bool window_bounded(const WindowContext& c, int32_t priority, bool) const override {
    return priority < c.top_priority;
  }
  bool confines_by_priority() const override { return true; }
};

}  // namespace xsched

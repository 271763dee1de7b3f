#include "sched/policy_priority.h"

#include <algorithm>
#include <limits>

#include "sched/policy_registry.h"

namespace xsched {

int64_t PriorityPolicy::decide(std::span<QueueView> queues, int64_t) {
  int32_t top = std::numeric_limits<int32_t>::min();
  for (const QueueView& q : queues) {
    if (q.ready) top = std::max(top, q.hints.priority);
  }
  for (QueueView& q : queues) q.run = q.hints.priority >= top;
  return 0;
}

std::unique_ptr<Policy> make_priority_policy(int64_t) { return std::make_unique<PriorityPolicy>(); }

}  // namespace xsched

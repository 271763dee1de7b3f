#include "sched/policy.h"

#include "sched/policy_bandwidth.h"
#include "sched/policy_deadline.h"
#include "sched/policy_priority.h"

namespace xsched {
namespace {

// Never holds anything: the baseline of "no scheduling".
class NonePolicy final : public Policy {
 public:
  xs_policy_t kind() const override { return XS_POLICY_NONE; }
  int64_t decide(std::span<QueueView> queues, int64_t) override {
    for (QueueView& q : queues) q.run = true;
    return 0;
  }
};

}  // namespace

std::unique_ptr<Policy> make_policy(xs_policy_t kind, int64_t default_timeslice_ns) {
  switch (kind) {
    case XS_POLICY_NONE: return std::make_unique<NonePolicy>();
    case XS_POLICY_PRIORITY: return std::make_unique<PriorityPolicy>();
    case XS_POLICY_BANDWIDTH: return std::make_unique<BandwidthPolicy>(default_timeslice_ns);
    case XS_POLICY_DEADLINE: return std::make_unique<DeadlinePolicy>();
    case XS_POLICY_MAX_ENUM: break;
  }
  return nullptr;
}

}  // namespace xsched

#include "sched/policy.h"

#include "sched/policy_registry.h"

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
  // Nothing is ever held, so no queue needs a window.
  bool window_bounded(const WindowContext&, int32_t, bool) const override { return false; }
};

}  // namespace

std::unique_ptr<Policy> make_none_policy(int64_t) { return std::make_unique<NonePolicy>(); }

}  // namespace xsched

#include "sched/policy_registry.h"

#include "core/enum_values.h"

namespace xsched {
namespace {

#define XSCHED_POLICY_CLASS(kind, name, description) PolicyClass{kind, #name, description, &make_##name##_policy},
constexpr PolicyClass kClasses[] = {XSCHED_POLICIES(XSCHED_POLICY_CLASS)};
#undef XSCHED_POLICY_CLASS
static_assert(std::size(kClasses) == kPolicyCount);

}  // namespace

std::span<const PolicyClass> policy_classes() { return kClasses; }

const PolicyClass* find_policy_class(const xs_policy_t& kind) {
  // known_policy reads the value as an integer; rows are in the enum's order.
  return known_policy(kind) ? &kClasses[static_cast<std::size_t>(kind)] : nullptr;
}

std::unique_ptr<Policy> make_policy(xs_policy_t kind, int64_t default_timeslice_ns) {
  const PolicyClass* c = find_policy_class(kind);
  return c != nullptr ? c->make(default_timeslice_ns) : nullptr;
}

}  // namespace xsched

// The scheduling policies, one row each: its xs_policy_t value, its name (an
// identifier, taken in any case by XSCHED_POLICY, xschedd's --policy,
// `xsched policy`, the C API and the Python package) and one line for help
// texts. Like Linux's kernel/sched/features.h this list is the one place a
// policy is named: sched/policy_registry.h expands it into the registry,
// with each policy's factory (make_<name>_policy, in its own file), and
// core, which cannot see sched, reads the names and lines from it here.
//
// A new policy: its sched/policy_<name>.{h,cpp}, one row here, one value in
// xs_policy_t. Rows follow the enum's values from 0 without gaps (checked
// below), so a value names a policy iff it is below kPolicyCount.
#pragma once

#include <cstddef>

#include "xsched/xsched.h"

// X(kind, name, description)
#define XSCHED_POLICIES(X)                                                                        \
  X(XS_POLICY_NONE, none, "never holds anything (no scheduling)")                                 \
  X(XS_POLICY_PRIORITY, priority, "the highest ready priority runs, lower queues are held")       \
  X(XS_POLICY_BANDWIDTH, bandwidth, "turns of one timeslice, in proportion to shares")            \
  X(XS_POLICY_DEADLINE, deadline, "earliest deadline first")                                      \
  X(XS_POLICY_LAXITY, laxity, "least laxity first: the time to the deadline less the work left")  \
  X(XS_POLICY_FAIR, fair, "weighted fair share: the least device time per share runs (CFS-like)")

namespace xsched {

struct PolicyInfo {
  xs_policy_t kind;
  const char* name;
  const char* description;
};

#define XSCHED_POLICY_INFO_ROW(kind, name, description) PolicyInfo{kind, #name, description},
inline constexpr PolicyInfo kPolicyInfo[] = {XSCHED_POLICIES(XSCHED_POLICY_INFO_ROW)};
#undef XSCHED_POLICY_INFO_ROW

inline constexpr std::size_t kPolicyCount = sizeof kPolicyInfo / sizeof kPolicyInfo[0];

// The names separated by single spaces, as one literal (for help texts
// that are constants): " none priority ...".
#define XSCHED_POLICY_SPACED_NAME(kind, name, description) " " #name
#define XSCHED_POLICY_NAMES_SPACED XSCHED_POLICIES(XSCHED_POLICY_SPACED_NAME)

constexpr bool policy_rows_follow_the_enum() {
  for (std::size_t i = 0; i < kPolicyCount; ++i) {
    if (static_cast<std::size_t>(kPolicyInfo[i].kind) != i) return false;
  }
  return true;
}
static_assert(policy_rows_follow_the_enum(), "XSCHED_POLICIES must list xs_policy_t's values in order, from 0");

}  // namespace xsched

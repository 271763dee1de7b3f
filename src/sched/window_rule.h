// Whether a queue needs its in-flight window (and, at Level 2, gates): only
// if some other queue could make the policy hold it. Only queues that have
// had work count: a program may make many queues it never uses (PyTorch
// makes 32 streams of each priority at once), and an unused one would make
// every used queue below it pay for a window and gates for nothing. The
// price: the first work of a queue finds the queues below it unbounded, and
// waits once for what they have in flight. The in-process scheduler and the
// daemon both decide by this rule.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>

#include "xsched/xsched.h"

namespace xsched {

// What the rule needs to know of all the queues, collected once.
struct WindowContext {
  xs_policy_t policy = XS_POLICY_PRIORITY;
  std::size_t used = 0;           // queues that have had work
  int32_t top_priority = INT32_MIN;  // highest priority among them
};

inline bool window_bounded(const WindowContext& c, int32_t priority, bool used) {
  switch (c.policy) {
    case XS_POLICY_NONE: return false;
    case XS_POLICY_PRIORITY: return priority < c.top_priority;
    case XS_POLICY_BANDWIDTH:
    case XS_POLICY_DEADLINE: return c.used > 1 || (c.used == 1 && !used);
    case XS_POLICY_MAX_ENUM: break;
  }
  return true;
}

}  // namespace xsched

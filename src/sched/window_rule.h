// Whether a queue needs its in-flight window (and, at Level 2, gates): only
// if some other queue could make the policy hold it. Only queues that have
// had work count: a program may make many queues it never uses (PyTorch
// makes 32 streams of each priority at once), and an unused one would make
// every used queue below it pay for a window and gates for nothing. The
// price: the first work of a queue finds the queues below it unbounded, and
// waits once for what they have in flight. The in-process scheduler and the
// daemon both decide by this rule; each policy says how it applies to it
// (Policy::window_bounded), from what this context collects.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>

namespace xsched {

// What the rule needs to know of all the queues, collected once.
struct WindowContext {
  std::size_t used = 0;              // queues that have had work
  int32_t top_priority = INT32_MIN;  // highest priority among them
};

// Whether a queue that has had work (used) or not has a peer that has: the
// rule of every policy that may hold any queue in favour of any other.
inline bool another_queue_used(const WindowContext& c, bool used) { return c.used > 1 || (c.used == 1 && !used); }

}  // namespace xsched

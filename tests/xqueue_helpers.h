// Queues for the scheduler's tests: an XQueue over a hardware queue with the
// hints and device a test needs.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include "core/device_id.h"
#include "core/xqueue.h"

namespace xsched::testing {

inline std::shared_ptr<XQueue> make_queue(HwQueue hw, int32_t priority, uint32_t share = 1,
                                          const DeviceId& device = {}) {
  XQueueOptions o;
  o.hints = {priority, share, 0, 0};
  o.device_id = device;
  std::shared_ptr<XQueue> q;
  EXPECT_EQ(XQueue::create(hw, o, &q), XS_OK);
  return q;
}

// A kernel command: what the scheduler's tests submit (the hardware queue
// decides what it does).
inline Command kernel() {
  Command c;
  c.kind = XS_CMD_KERNEL;
  return c;
}

// Whether the scheduler or the user holds q now.
inline bool suspended(const XQueue& q) {
  xs_queue_info_t i{};
  q.query(&i);
  return i.suspended != 0;
}

// Whether cond() holds within 5 s (a change that another thread reports).
template <class F>
bool eventually(F cond) {
  for (int i = 0; i < 5000 && !cond(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return cond();
}

// Whether exactly one of a and b is held, seen in a snapshot that no switch
// straddled: the scheduler changes one queue's hold at a time (the new turn's
// first), so two separate queries can see both held or both running. A read of
// a, b, a, b in which neither queue changed (its hold and its count of
// suspensions) shows one moment; this waits up to 5 s for such a moment with
// exactly one held.
inline bool eventually_exactly_one_held(const XQueue& a, const XQueue& b) {
  return eventually([&] {
    xs_queue_info_t a1{}, b1{}, a2{}, b2{};
    a.query(&a1);
    b.query(&b1);
    a.query(&a2);
    b.query(&b2);
    const bool still = a1.suspended == a2.suspended && a1.suspensions == a2.suspensions &&
                       b1.suspended == b2.suspended && b1.suspensions == b2.suspensions;
    return still && a1.suspended != b1.suspended;
  });
}

}  // namespace xsched::testing

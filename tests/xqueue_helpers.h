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

}  // namespace xsched::testing

// Queues for the scheduler's tests: an XQueue over a hardware queue with the
// hints and device a test needs.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

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

}  // namespace xsched::testing

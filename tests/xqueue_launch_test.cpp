// What the XQueue's launch path tells others cheaply: the launch flag
// (XQueueOptions::launch_flag) with expedite_launched(), and completions of
// a queue without a window, whose sync points do not wake its worker.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/xqueue.h"
#include "manual_hw_queue.h"

namespace xsched {
namespace {

using testing::ManualHwQueue;
using namespace std::chrono_literals;

std::shared_ptr<XQueue> make_queue(ManualHwQueue& hw, uint32_t window, std::atomic<bool>* flag = nullptr) {
  XQueueOptions o;
  o.window = window;
  o.launch_flag = flag;
  std::shared_ptr<XQueue> q;
  EXPECT_EQ(XQueue::create(hw.hw_queue(), o, &q), XS_OK);
  return q;
}

Command kernel() {
  Command c;
  c.kind = XS_CMD_KERNEL;
  return c;
}

template <class F>
bool eventually(F cond) {
  for (int i = 0; i < 5000 && !cond(); ++i) std::this_thread::sleep_for(1ms);
  return cond();
}

// Set by each launch (at submit, or later by a resume), not by a command
// held on the host; the watcher clears it.
TEST(XQueueLaunch, TheLaunchFlagIsSetByLaunchesOnly) {
  ManualHwQueue hw;
  std::atomic<bool> flag{false};
  auto q = make_queue(hw, 4, &flag);
  q->suspend(kHoldUser, false);
  uint64_t last = 0;
  ASSERT_EQ(q->submit(kernel(), &last), XS_OK);
  EXPECT_FALSE(flag.load()) << "nothing was launched";
  q->resume(kHoldUser);
  ASSERT_TRUE(hw.wait_launched(1));
  EXPECT_TRUE(flag.exchange(false)) << "the resume launched it";
  ASSERT_EQ(q->submit(kernel(), &last), XS_OK);
  EXPECT_EQ(hw.launched(), 2u);
  EXPECT_TRUE(flag.load()) << "launched at submit";
  hw.complete_all();
  EXPECT_EQ(q->wait(last, 5'000'000'000), XS_OK);
}

// expedite_launched() runs a held Level 2 queue through what it launched,
// and leaves what waits on the host there; with everything complete it
// changes nothing.
TEST(XQueueLaunch, ExpediteLaunchedRunsAHeldQueueThroughItsLaunchedWork) {
  ManualHwQueue hw(2);
  auto q = make_queue(hw, 8);
  uint64_t last = 0;
  for (int i = 0; i < 4; ++i) ASSERT_EQ(q->submit(kernel(), &last), XS_OK);  // in flight: 1..4
  q->suspend(kHoldScheduler, false);
  ASSERT_TRUE(hw.deactivated());
  for (int i = 0; i < 2; ++i) ASSERT_EQ(q->submit(kernel(), &last), XS_OK);  // held on the host: 5, 6
  EXPECT_EQ(q->expedite_launched(), XS_OK);
  EXPECT_FALSE(hw.deactivated()) << "the hardware queue must run what was launched";
  EXPECT_EQ(q->expedited(), 4u);
  EXPECT_EQ(hw.launched(), 4u) << "commands held on the host stay there";
  hw.complete(4);
  ASSERT_TRUE(eventually([&] { return q->completed() >= 4; }));
  EXPECT_EQ(q->expedite_launched(), XS_OK);
  EXPECT_EQ(q->expedited(), 4u) << "nothing launched is incomplete";
  q->resume(kHoldScheduler);
  ASSERT_TRUE(hw.wait_launched(6));
  hw.complete_all();
  EXPECT_EQ(q->wait(last, 5'000'000'000), XS_OK);
}

// Without a window a sync point does not wake the worker: it finds them when
// it next looks at the burst, so completions still arrive, and the queue
// still turns idle, with nobody waiting for them.
TEST(XQueueLaunch, AQueueWithoutAWindowConfirmsItsSyncPointsUnasked) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 8);
  q->set_window_bounded(false);  // sync points every 256 commands
  for (int i = 0; i < 600; ++i) ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(hw.launched(), 600u);
  hw.complete_all();
  EXPECT_TRUE(eventually([&] { return q->completed() == 600; }));
  EXPECT_TRUE(eventually([&] { return !q->ready(); }));
}

// With the window set again, new commands wait for what is in flight (the
// worker, woken, syncs on it) and then launch as the window allows.
TEST(XQueueLaunch, SettingTheWindowAgainHoldsNewCommandsUntilWhatIsInFlightCompletes) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 4);  // sync interval 2
  q->set_window_bounded(false);
  for (int i = 0; i < 300; ++i) ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  q->set_window_bounded(true);
  uint64_t last = 0;
  for (int i = 0; i < 8; ++i) ASSERT_EQ(q->submit(kernel(), &last), XS_OK);
  EXPECT_EQ(hw.launched(), 300u) << "the window holds the new commands";
  // The device completes whatever is launched, until the window let all through.
  EXPECT_TRUE(eventually([&] {
    hw.complete_all();
    return hw.launched() == 308;
  }));
  hw.complete_all();
  EXPECT_EQ(q->wait(last, 5'000'000'000), XS_OK);
}

}  // namespace
}  // namespace xsched

// Spatial reservation's rule (sched/reserve_rule.h), and the in-process
// scheduler applying it to real XQueues.
#include "sched/reserve_rule.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "manual_hw_queue.h"
#include "xqueue_helpers.h"
#include "sched/local_scheduler.h"

namespace xsched {
namespace {

constexpr int64_t kLinger = 1'000;
constexpr int64_t kForever = ReserveRule::kForever;

// What apply() passed on, by queue.
std::map<uint64_t, int64_t> told(ReserveRule& r) {
  std::map<uint64_t, int64_t> out;
  r.apply([&](uint64_t id, int64_t until) { out[id] = until; });
  return out;
}

TEST(ReserveRule, LowerQueuesAreConfinedWhileAHigherOneIsReadyAndForTheLingerAfter) {
  ReserveRule r(kLinger);
  r.add(1, 10, false, 0);  // high
  r.add(2, 0, false, 0);   // low
  EXPECT_TRUE(told(r).empty());  // nothing more urgent was ever ready

  r.update(1, 10, true, 100);
  EXPECT_EQ(told(r), (std::map<uint64_t, int64_t>{{2, kForever}}));
  EXPECT_TRUE(told(r).empty());  // said once

  r.update(2, 0, true, 150);  // the low queue's own readiness changes nothing
  EXPECT_TRUE(told(r).empty());

  r.update(1, 10, false, 200);  // high idle: the reserve stays free for the linger
  EXPECT_EQ(told(r), (std::map<uint64_t, int64_t>{{2, 200 + kLinger}}));
  r.update(1, 10, false, 300);  // still idle: the time it went idle counts
  EXPECT_TRUE(told(r).empty());
}

TEST(ReserveRule, AQueueAddedWhileAMoreUrgentOneLingersIsConfinedAtOnce) {
  ReserveRule r(kLinger);
  r.add(1, 10, true, 0);
  r.update(1, 10, false, 100);
  EXPECT_TRUE(told(r).empty());
  r.add(2, 0, false, 150);
  EXPECT_EQ(told(r), (std::map<uint64_t, int64_t>{{2, 100 + kLinger}}));
}

TEST(ReserveRule, EqualPrioritiesAndTheTopQueueAreNeverConfined) {
  ReserveRule r(kLinger);
  r.add(1, 5, true, 0);
  r.add(2, 5, true, 0);
  r.add(3, 9, false, 0);
  EXPECT_TRUE(told(r).empty());
}

TEST(ReserveRule, ThreeLevelsConfineEachByWhatIsAboveIt) {
  ReserveRule r(kLinger);
  r.add(1, 10, false, 0);
  r.add(2, 5, true, 0);
  r.add(3, 0, true, 0);
  EXPECT_EQ(told(r), (std::map<uint64_t, int64_t>{{3, kForever}}));
  r.update(1, 10, true, 10);
  EXPECT_EQ(told(r), (std::map<uint64_t, int64_t>{{2, kForever}}));  // 3 was confined already
}

TEST(ReserveRule, RemovingOrDisablingFreesTheWholeDevice) {
  ReserveRule r(kLinger);
  r.add(1, 10, true, 0);
  r.add(2, 0, true, 0);
  r.add(3, 0, true, 0);
  EXPECT_EQ(told(r).size(), 2u);
  r.set_enabled(false);
  EXPECT_EQ(told(r), (std::map<uint64_t, int64_t>{{2, 0}, {3, 0}}));
  r.set_enabled(true);
  EXPECT_EQ(told(r).size(), 2u);
  r.remove(1);
  EXPECT_EQ(told(r), (std::map<uint64_t, int64_t>{{2, 0}, {3, 0}}));
}

TEST(ReserveRule, APriorityChangeMovesTheReserve) {
  ReserveRule r(kLinger);
  r.add(1, 10, true, 0);
  r.add(2, 0, true, 0);
  EXPECT_EQ(told(r), (std::map<uint64_t, int64_t>{{2, kForever}}));
  r.update(2, 20, true, 5);  // low becomes the most urgent
  EXPECT_EQ(told(r), (std::map<uint64_t, int64_t>{{1, kForever}, {2, 0}}));
}

TEST(ReserveRule, TheLingerNeverOverflows) {
  ReserveRule r(kForever);
  r.add(1, 10, true, 0);
  r.add(2, 0, true, 0);
  told(r);
  r.update(1, 10, false, 5);
  const auto t = told(r);
  ASSERT_EQ(t.count(2), 1u);
  EXPECT_GT(t.at(2), 5);
  EXPECT_LT(t.at(2), kForever);  // a time, not "until told otherwise"
}

// ---- the in-process scheduler ----

using testing::make_queue;

using testing::kernel;

// A high (priority 10) and a low (priority 0) queue under one scheduler.
struct TwoQueues {
  explicit TwoQueues(xs_policy_t policy, bool reserve) : sched(policy, 2'000'000) {
    if (reserve) sched.enable_reservation(50'000'000);
    hi = make_queue(hw_hi.hw_queue(), 10);
    lo = make_queue(hw_lo.hw_queue(), 0);
    sched.add(*hi);
    sched.add(*lo);
  }
  ~TwoQueues() {
    hw_hi.complete_all();
    hw_lo.complete_all();
    sched.remove(*lo);
    sched.remove(*hi);
  }
  LocalScheduler sched;
  testing::ManualHwQueue hw_hi{2}, hw_lo{2};
  std::shared_ptr<XQueue> hi, lo;
};

TEST(LocalSchedulerReserve, AHighSubmitConfinesTheLowQueueBeforeItReturns) {
  TwoQueues t(XS_POLICY_PRIORITY, true);
  EXPECT_EQ(t.hw_lo.confined_until(), 0);

  ASSERT_EQ(t.hi->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(t.hw_lo.confined_until(), kForever);
  EXPECT_EQ(t.hw_hi.confined_until(), 0);

  t.hw_hi.complete_all();
  ASSERT_EQ(t.hi->wait_all(5'000'000'000), XS_OK);
  // Idle now: confined for the linger only (a time, not "until told").
  for (int i = 0; i < 5000 && t.hw_lo.confined_until() == kForever; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GT(t.hw_lo.confined_until(), 0);
  EXPECT_LT(t.hw_lo.confined_until(), kForever);
}

TEST(LocalSchedulerReserve, OnlyThePriorityPolicyConfines) {
  TwoQueues t(XS_POLICY_BANDWIDTH, true);
  ASSERT_EQ(t.hi->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(t.hw_lo.confined_until(), 0);
  ASSERT_EQ(t.sched.set_policy(XS_POLICY_PRIORITY), XS_OK);
  EXPECT_EQ(t.hw_lo.confined_until(), kForever);
  ASSERT_EQ(t.sched.set_policy(XS_POLICY_NONE), XS_OK);
  EXPECT_EQ(t.hw_lo.confined_until(), 0);
}

TEST(LocalSchedulerReserve, OffUntilEnabled) {
  TwoQueues t(XS_POLICY_PRIORITY, false);
  ASSERT_EQ(t.hi->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(t.hw_lo.confined_until(), 0);
  t.sched.enable_reservation(50'000'000);  // queues already there are ranked at once
  EXPECT_EQ(t.hw_lo.confined_until(), kForever);
}

}  // namespace
}  // namespace xsched

// The fair policy (weighted fair share, CFS-like): as pure logic with
// explicit time, and driving real XQueues in the in-process scheduler.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <vector>

#include "manual_hw_queue.h"
#include "policy_sim.h"
#include "sched/local_scheduler.h"
#include "sched/policy.h"
#include "xqueue_helpers.h"

namespace xsched {
namespace {

constexpr int64_t kMs = 1'000'000;

QueueView view(uint64_t id, bool ready, uint32_t share = 1) { return {id, ready, {0, share, 0, 0}, true}; }

// Decides on the policy's own timer from `now` to `until`, adding to `held`
// the time each queue was let run; the running queue's longest stretch in
// `longest`. Exactly one ready queue runs at a time.
int64_t run(Policy& p, std::vector<QueueView>& qs, int64_t now, int64_t until, std::map<uint64_t, int64_t>* held,
            std::map<uint64_t, int64_t>* longest = nullptr) {
  std::map<uint64_t, int64_t> stretch;
  while (now < until) {
    const int64_t next = p.decide(qs, now);
    EXPECT_GT(next, now);
    int running = 0;
    for (const QueueView& q : qs) {
      if (!q.run) {
        stretch[q.id] = 0;
        continue;
      }
      ++running;
      (*held)[q.id] += next - now;
      stretch[q.id] += next - now;
      if (longest != nullptr) (*longest)[q.id] = std::max((*longest)[q.id], stretch[q.id]);
    }
    EXPECT_EQ(running, 1);
    now = next;
  }
  return now;
}

TEST(FairPolicy, SharesThreeToOneSplitTheDeviceThreeToOne) {
  auto p = make_policy(XS_POLICY_FAIR, 2 * kMs);
  std::vector<QueueView> qs = {view(1, true, 3), view(2, true, 1)};
  for (const QueueView& q : qs) p->added(q, 0);
  std::map<uint64_t, int64_t> held;
  run(*p, qs, 0, 1000 * kMs, &held);
  EXPECT_NEAR(static_cast<double>(held[1]) / (held[1] + held[2]), 0.75, 0.01);
  // And over any stretch of a few dozen timeslices, not just on average.
  std::map<uint64_t, int64_t> later;
  run(*p, qs, 1000 * kMs, 1060 * kMs, &later);
  EXPECT_NEAR(static_cast<double>(later[1]) / (later[1] + later[2]), 0.75, 0.05);

  auto p3 = make_policy(XS_POLICY_FAIR, 2 * kMs);
  std::vector<QueueView> three = {view(1, true, 1), view(2, true, 2), view(3, true, 1)};
  std::map<uint64_t, int64_t> held3;
  run(*p3, three, 0, 1000 * kMs, &held3);
  EXPECT_NEAR(static_cast<double>(held3[2]) / (held3[1] + held3[2] + held3[3]), 0.5, 0.01);
}

TEST(FairPolicy, AQueueIdleForALongTimeDoesNotThenMonopoliseTheDevice) {
  auto p = make_policy(XS_POLICY_FAIR, 2 * kMs);
  std::vector<QueueView> qs = {view(1, true), view(2, false)};
  for (const QueueView& q : qs) p->added(q, 0);
  std::map<uint64_t, int64_t> alone;
  int64_t now = run(*p, qs, 0, 1000 * kMs, &alone);  // queue 1 alone for a second
  EXPECT_EQ(alone[2], 0);
  qs[1].ready = true;
  // Were time banked, queue 2 would now hold the device for about a second.
  std::map<uint64_t, int64_t> held, longest;
  run(*p, qs, now, now + 100 * kMs, &held, &longest);
  EXPECT_NEAR(static_cast<double>(held[2]) / (held[1] + held[2]), 0.5, 0.05);
  EXPECT_LE(longest[2], 2 * kMs) << "queue 2 kept the device beyond one timeslice";
}

TEST(FairPolicy, AQueueThatJoinsLateStartsLevelWithTheOthers) {
  auto p = make_policy(XS_POLICY_FAIR, 2 * kMs);
  std::vector<QueueView> qs = {view(1, true)};
  p->added(qs[0], 0);
  std::map<uint64_t, int64_t> first;
  int64_t now = run(*p, qs, 0, 500 * kMs, &first);
  qs.push_back(view(2, true));
  p->added(qs[1], now);
  std::map<uint64_t, int64_t> held, longest;
  run(*p, qs, now, now + 100 * kMs, &held, &longest);
  EXPECT_NEAR(static_cast<double>(held[2]) / (held[1] + held[2]), 0.5, 0.05);
  EXPECT_LE(longest[2], 2 * kMs);
}

TEST(FairPolicy, TheTimesliceHintSetsTheSliceAndNothingReadyLetsAllRun) {
  auto p = make_policy(XS_POLICY_FAIR, 2 * kMs);
  std::vector<QueueView> qs = {{1, true, {0, 1, 5 * kMs, 0}, true}, view(2, false)};
  for (const QueueView& q : qs) p->added(q, 0);
  EXPECT_EQ(p->decide(qs, 0), 5 * kMs);
  EXPECT_TRUE(qs[0].run);
  EXPECT_FALSE(qs[1].run);  // idle, held while another queue is ready
  qs[0].ready = false;
  EXPECT_EQ(p->decide(qs, kMs), 0);  // nothing ready: no timer, nothing held
  EXPECT_TRUE(qs[0].run && qs[1].run);
}


TEST(FairPolicy, SharesHoldForJobsThatIdleBetweenIterations) {
  for (int64_t iter : {kMs, 6 * kMs, 20 * kMs}) {
    auto got = testing::simulate_jobs(XS_POLICY_FAIR, {3, 1}, iter, 50'000, 3000 * kMs);
    const double total = static_cast<double>(got[1] + got[2]);
    EXPECT_NEAR(got[1] / total, 0.75, 0.03) << "iteration of " << iter / kMs << " ms";
    // At least what one job alone does (a slice's own short gaps are not filled).
    EXPECT_GT(total, 0.95 * 3000 * kMs * iter / (iter + 50'000)) << "iteration of " << iter / kMs << " ms";
  }
}

// As for the bandwidth policy: a slice's queue that synchronises between
// iterations keeps the device through the gap, so only slices switch.
TEST(FairPolicy, ShortGapsOfTheSlicesQueueAreNotFilled) {
  constexpr int64_t kHorizon = 3000 * kMs;
  constexpr int64_t kSlice = 2 * kMs;  // simulate_jobs_with_switches's timeslice
  auto out = testing::simulate_jobs_with_switches(XS_POLICY_FAIR, {1, 1}, 6 * kMs, 100'000, kHorizon, 300'000);
  EXPECT_LE(out.switches, kHorizon / kSlice + 10);
  EXPECT_NEAR(static_cast<double>(out.got[1]) / (out.got[1] + out.got[2]), 0.5, 0.03);
}

using testing::make_queue;
using testing::ManualHwQueue;
using testing::suspended;

using testing::kernel;

// In the process: two queues that stay ready take turns on the scheduler's
// timer, exactly one running at a time, and a switch of policy releases both.
TEST(FairPolicy, QueuesTakeTurnsOnTheTimerInTheProcess) {
  LocalScheduler sched(XS_POLICY_FAIR, 1'000'000);
  EXPECT_EQ(sched.policy(), XS_POLICY_FAIR);
  ManualHwQueue hw_a, hw_b;  // commands never complete: both stay ready
  auto a = make_queue(hw_a.hw_queue(), 0, 3);
  auto b = make_queue(hw_b.hw_queue(), 0, 1);
  sched.add(*a);
  sched.add(*b);
  ASSERT_EQ(a->submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(b->submit(kernel(), nullptr), XS_OK);
  ASSERT_TRUE(testing::eventually([&] {
    xs_queue_info_t ia{}, ib{};
    a->query(&ia);
    b->query(&ib);
    return ia.suspensions >= 3 && ib.suspensions >= 3;
  }));
  EXPECT_TRUE(testing::eventually_exactly_one_held(*a, *b));  // one holds the turn
  ASSERT_EQ(sched.set_policy(XS_POLICY_NONE), XS_OK);
  EXPECT_FALSE(suspended(*a));
  EXPECT_FALSE(suspended(*b));
  sched.remove(*a);
  sched.remove(*b);
  hw_a.complete_all();
  hw_b.complete_all();
  EXPECT_EQ(a->wait_all(5'000'000'000), XS_OK);
  EXPECT_EQ(b->wait_all(5'000'000'000), XS_OK);
}

}  // namespace
}  // namespace xsched

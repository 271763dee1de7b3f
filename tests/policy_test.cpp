// Policies and the engine as pure logic: no threads, no devices, explicit time.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "sched/engine.h"
#include "sched/policy.h"

namespace xsched {
namespace {

constexpr int64_t kMs = 1'000'000;

QueueView view(uint64_t id, bool ready, int32_t prio, uint32_t share = 1) { return {id, ready, {prio, share, 0, 0}, true}; }

TEST(PriorityPolicy, HighestReadyPriorityRunsAndLowerOnesAreHeldEvenIdle) {
  auto p = make_policy(XS_POLICY_PRIORITY, 2 * kMs);
  std::vector<QueueView> qs = {view(1, true, 0), view(2, true, 10), view(3, false, 5), view(4, false, 20)};
  EXPECT_EQ(p->decide(qs, 0), 0);
  EXPECT_FALSE(qs[0].run);
  EXPECT_TRUE(qs[1].run);
  EXPECT_FALSE(qs[2].run);  // idle but lower: its next submit is buffered
  EXPECT_TRUE(qs[3].run);   // idle and higher: may start at once
}

TEST(PriorityPolicy, EverythingRunsWhenNothingIsReady) {
  auto p = make_policy(XS_POLICY_PRIORITY, 2 * kMs);
  std::vector<QueueView> qs = {view(1, false, 0), view(2, false, 10)};
  p->decide(qs, 0);
  EXPECT_TRUE(qs[0].run);
  EXPECT_TRUE(qs[1].run);
}

TEST(PriorityPolicy, EqualPrioritiesShare) {
  auto p = make_policy(XS_POLICY_PRIORITY, 2 * kMs);
  std::vector<QueueView> qs = {view(1, true, 3), view(2, true, 3), view(3, true, 1)};
  p->decide(qs, 0);
  EXPECT_TRUE(qs[0].run);
  EXPECT_TRUE(qs[1].run);
  EXPECT_FALSE(qs[2].run);
}

TEST(NonePolicy, NeverHolds) {
  auto p = make_policy(XS_POLICY_NONE, 2 * kMs);
  std::vector<QueueView> qs = {view(1, true, 0), view(2, true, 10)};
  p->decide(qs, 0);
  EXPECT_TRUE(qs[0].run && qs[1].run);
  EXPECT_EQ(make_policy(static_cast<xs_policy_t>(42), 0), nullptr);
}

// Drives the bandwidth policy through its own timer and counts the time each
// queue holds the turn.
std::map<uint64_t, int64_t> simulate_bandwidth(std::vector<QueueView> qs, int64_t horizon) {
  auto p = make_policy(XS_POLICY_BANDWIDTH, 2 * kMs);
  for (const QueueView& q : qs) p->added(q, 0);
  std::map<uint64_t, int64_t> held;
  int64_t now = 0;
  while (now < horizon) {
    const int64_t next = p->decide(qs, now);
    EXPECT_GT(next, now);
    int running = 0;
    for (const QueueView& q : qs) {
      if (q.run) {
        held[q.id] += next - now;
        ++running;
      }
    }
    EXPECT_EQ(running, 1);
    now = next;
  }
  return held;
}

TEST(BandwidthPolicy, TurnsFollowShares) {
  auto held = simulate_bandwidth({view(1, true, 0, 75), view(2, true, 0, 25)}, 1000 * kMs);
  EXPECT_NEAR(static_cast<double>(held[1]) / (held[1] + held[2]), 0.75, 0.01);
  auto held3 = simulate_bandwidth({view(1, true, 0, 1), view(2, true, 0, 2), view(3, true, 0, 1)}, 1000 * kMs);
  EXPECT_NEAR(static_cast<double>(held3[2]) / (held3[1] + held3[2] + held3[3]), 0.5, 0.01);
}

TEST(BandwidthPolicy, TimesliceHintSetsTheTurnLength) {
  auto p = make_policy(XS_POLICY_BANDWIDTH, 2 * kMs);
  std::vector<QueueView> qs = {{1, true, {0, 1, 5 * kMs, 0}, true}};
  p->added(qs[0], 0);
  EXPECT_EQ(p->decide(qs, 0), 5 * kMs);
}

TEST(BandwidthPolicy, IdleQueueDoesNotBankTime) {
  auto p = make_policy(XS_POLICY_BANDWIDTH, 2 * kMs);
  std::vector<QueueView> qs = {view(1, true, 0), view(2, false, 0)};
  for (const QueueView& q : qs) p->added(q, 0);
  int64_t now = 0;
  while (now < 100 * kMs) now = p->decide(qs, now);  // queue 1 alone for 100 ms
  qs[1].ready = true;
  // Were time banked, queue 2 would now hold the turn for ~100 ms.
  int64_t held2 = 0;
  const int64_t start = now;
  while (now < start + 40 * kMs) {
    const int64_t next = p->decide(qs, now);
    if (qs[1].run) held2 += next - now;
    now = next;
  }
  EXPECT_NEAR(static_cast<double>(held2) / (40 * kMs), 0.5, 0.1);
}

TEST(BandwidthPolicy, NothingReadyLetsAllRunAndRemovedQueueIsForgotten) {
  auto p = make_policy(XS_POLICY_BANDWIDTH, 2 * kMs);
  std::vector<QueueView> qs = {view(1, false, 0), view(2, false, 0)};
  for (const QueueView& q : qs) p->added(q, 0);
  EXPECT_EQ(p->decide(qs, 0), 0);
  EXPECT_TRUE(qs[0].run && qs[1].run);
  qs[0].ready = true;
  p->decide(qs, kMs);
  EXPECT_TRUE(qs[0].run);
  EXPECT_FALSE(qs[1].run);
  p->removed(1);
  qs.erase(qs.begin());
  qs[0].ready = true;
  p->decide(qs, 2 * kMs);
  EXPECT_TRUE(qs[0].run);
}

class RecordingExecutor final : public Executor {
 public:
  void suspend(uint64_t id) override { log.push_back(-static_cast<int64_t>(id)); }
  void resume(uint64_t id) override { log.push_back(static_cast<int64_t>(id)); }
  std::vector<int64_t> log;  // +id resumed, -id suspended
};

TEST(Engine, AppliesOnlyChangesAndResumesBeforeSuspending) {
  RecordingExecutor ex;
  Engine e(make_policy(XS_POLICY_PRIORITY, 2 * kMs), ex);
  e.add(1, false, {0, 1, 0, 0}, 0);
  e.add(2, false, {10, 1, 0, 0}, 0);
  EXPECT_TRUE(ex.log.empty());
  e.update(2, true, {10, 1, 0, 0}, 1);
  EXPECT_EQ(ex.log, (std::vector<int64_t>{-1}));
  EXPECT_FALSE(e.running(1));
  e.update(2, true, {10, 1, 0, 0}, 2);  // no change, no call
  EXPECT_EQ(ex.log.size(), 1u);
  e.update(1, true, {20, 1, 0, 0}, 3);  // 1 overtakes 2: resume 1 first, then hold 2
  EXPECT_EQ(ex.log, (std::vector<int64_t>{-1, 1, -2}));
}

TEST(Engine, RemovingAHeldQueueResumesIt) {
  RecordingExecutor ex;
  Engine e(make_policy(XS_POLICY_PRIORITY, 2 * kMs), ex);
  e.add(1, true, {0, 1, 0, 0}, 0);
  e.add(2, true, {10, 1, 0, 0}, 0);
  ASSERT_EQ(ex.log, (std::vector<int64_t>{-1}));
  e.remove(1, 1);
  EXPECT_EQ(ex.log, (std::vector<int64_t>{-1, 1}));
  EXPECT_EQ(e.size(), 1u);
  e.remove(99, 2);  // unknown: harmless
}

TEST(Engine, SwitchingPolicyTakesEffectAtOnce) {
  RecordingExecutor ex;
  Engine e(make_policy(XS_POLICY_PRIORITY, 2 * kMs), ex);
  e.add(1, true, {0, 1, 0, 0}, 0);
  e.add(2, true, {10, 1, 0, 0}, 0);
  EXPECT_FALSE(e.running(1));
  e.set_policy(make_policy(XS_POLICY_NONE, 2 * kMs), 1);
  EXPECT_TRUE(e.running(1));
  EXPECT_EQ(e.policy_kind(), XS_POLICY_NONE);
  EXPECT_GT(e.set_policy(make_policy(XS_POLICY_BANDWIDTH, 2 * kMs), 2), 0);  // a timer is wanted
}

}  // namespace
}  // namespace xsched

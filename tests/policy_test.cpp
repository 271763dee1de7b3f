// Policies and the engine as pure logic: no threads, no devices, explicit time.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "policy_sim.h"
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


TEST(BandwidthPolicy, SharesHoldForJobsThatIdleBetweenIterations) {
  for (int64_t iter : {kMs, 6 * kMs, 20 * kMs}) {
    auto got = testing::simulate_jobs(XS_POLICY_BANDWIDTH, {3, 1}, iter, 50'000, 3000 * kMs);
    const double total = static_cast<double>(got[1] + got[2]);
    EXPECT_NEAR(got[1] / total, 0.75, 0.02) << "iteration of " << iter / kMs << " ms";
    // The device does at least what one job alone would do (the owner's own
    // gaps are not filled: they are shorter than a switch).
    EXPECT_GT(total, 0.97 * 3000 * kMs * iter / (iter + 50'000));
    auto even = testing::simulate_jobs(XS_POLICY_BANDWIDTH, {1, 1}, iter, 50'000, 3000 * kMs);
    EXPECT_NEAR(static_cast<double>(even[1]) / (even[1] + even[2]), 0.5, 0.02)
        << "iteration of " << iter / kMs << " ms";
  }
}

// A job that synchronises between iterations leaves the device idle for a
// moment each time. Handing it to another queue for that moment costs two
// switches (each waits for a running kernel), so only the turns switch.
TEST(BandwidthPolicy, ShortGapsOfTheTurnsOwnerAreNotFilled) {
  constexpr int64_t kHorizon = 3000 * kMs;
  constexpr int64_t kTimeslice = 2 * kMs;  // simulate_jobs_with_switches's
  for (uint32_t share : {1u, 3u}) {
    auto out = testing::simulate_jobs_with_switches(XS_POLICY_BANDWIDTH, {share, 1}, 6 * kMs, 100'000, kHorizon,
                                                    300'000);
    EXPECT_LE(out.switches, kHorizon / kTimeslice + 10) << "share " << share;
    const double total = static_cast<double>(out.got[1] + out.got[2]);
    // Turns are charged by the clock, switches included, and the smaller
    // share has more of its turns start with one.
    EXPECT_NEAR(out.got[1] / total, share / (share + 1.0), 0.03) << "share " << share;
  }
}

// A gap longer than a switch is worth filling: two jobs that idle most of
// the time use the device together about twice as much as one alone.
TEST(BandwidthPolicy, LongGapsOfTheTurnsOwnerAreFilled) {
  constexpr int64_t kHorizon = 3000 * kMs;
  auto out = testing::simulate_jobs_with_switches(XS_POLICY_BANDWIDTH, {1, 1}, kMs, 5 * kMs, kHorizon, 100'000);
  const double alone = kHorizon / 6.0;  // 1 ms of work in every 6 ms
  EXPECT_GT(out.got[1] + out.got[2], 1.6 * alone);
  EXPECT_NEAR(static_cast<double>(out.got[1]) / (out.got[1] + out.got[2]), 0.5, 0.05);
}

// Policies keep a queue's state in its view (QueueView::slot); a decision
// over queues in another order than they were added must not care.
TEST(BandwidthPolicy, SharesHoldWhenQueuesComeInAnotherOrderThanAdded) {
  auto p = make_policy(XS_POLICY_BANDWIDTH, 2 * kMs);
  std::vector<QueueView> added = {view(1, true, 0, 1), view(2, true, 0, 2), view(3, true, 0, 1)};
  for (const QueueView& q : added) p->added(q, 0);
  std::vector<QueueView> qs = {added[2], added[0], added[1]};  // 3, 1, 2
  std::map<uint64_t, int64_t> held;
  for (int64_t now = 0; now < 1000 * kMs;) {
    const int64_t next = p->decide(qs, now);
    for (const QueueView& q : qs) {
      if (q.run) held[q.id] += next - now;
    }
    now = next;
  }
  EXPECT_NEAR(static_cast<double>(held[2]) / (held[1] + held[2] + held[3]), 0.5, 0.01);
  EXPECT_NEAR(static_cast<double>(held[1]) / (held[1] + held[3]), 0.5, 0.01);
}

TEST(DeadlinePolicy, EarliestDueRunsWhateverTheOrderOfQueues) {
  auto p = make_policy(XS_POLICY_DEADLINE, 2 * kMs);
  std::vector<QueueView> qs = {{1, false, {0, 1, 0, 30 * kMs}, true}, {2, false, {0, 1, 0, 10 * kMs}, true},
                               {3, false, {0, 1, 0, 20 * kMs}, true}};
  for (const QueueView& q : qs) p->added(q, 0);
  std::reverse(qs.begin(), qs.end());  // 3, 2, 1
  for (QueueView& q : qs) q.ready = true;
  p->decide(qs, kMs);
  EXPECT_FALSE(qs[0].run);  // 3: due at 21 ms
  EXPECT_TRUE(qs[1].run);   // 2: due at 11 ms
  EXPECT_FALSE(qs[2].run);  // 1: due at 31 ms
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

// Counts, in each queue's own slot, the decisions that saw the queue.
class CountingPolicy final : public Policy {
 public:
  xs_policy_t kind() const override { return XS_POLICY_NONE; }
  int64_t decide(std::span<QueueView> queues, int64_t) override {
    for (QueueView& q : queues) {
      const int64_t n = policy_state<int64_t>(q) + 1;
      set_policy_state(q, n);
      seen[q.id] = n;
      q.run = true;
    }
    return 0;
  }
  std::map<uint64_t, int64_t> seen;
};

TEST(Engine, APolicysStateOfAQueueLivesWithTheQueueAndStartsAtZero) {
  RecordingExecutor ex;
  auto owned = std::make_unique<CountingPolicy>();
  CountingPolicy* p = owned.get();
  Engine e(std::move(owned), ex);
  e.add(1, false, {0, 1, 0, 0}, 0);
  e.add(2, false, {0, 1, 0, 0}, 0);
  EXPECT_EQ(p->seen, (std::map<uint64_t, int64_t>{{1, 2}, {2, 1}}));
  e.update(2, true, {0, 1, 0, 0}, 1);
  EXPECT_EQ(p->seen, (std::map<uint64_t, int64_t>{{1, 3}, {2, 2}}));
  e.remove(1, 2);
  e.add(1, false, {0, 1, 0, 0}, 3);  // the same id again: a new queue to the policy
  EXPECT_EQ(p->seen, (std::map<uint64_t, int64_t>{{1, 1}, {2, 4}}));
  auto next = std::make_unique<CountingPolicy>();
  CountingPolicy* q = next.get();
  e.set_policy(std::move(next), 4);  // a new policy finds every slot zeroed
  EXPECT_EQ(q->seen, (std::map<uint64_t, int64_t>{{1, 1}, {2, 1}}));
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


// ---- deadline (earliest deadline first) ----

QueueView due_view(uint64_t id, bool ready, int64_t deadline_ns, int32_t prio = 0) {
  return {id, ready, {prio, 1, 0, deadline_ns}, true};
}

// The policy sees the queues as the engine keeps them: `run` is the last decision.
std::map<uint64_t, bool> runs(const std::vector<QueueView>& qs) {
  std::map<uint64_t, bool> m;
  for (const QueueView& q : qs) m[q.id] = q.run;
  return m;
}

TEST(DeadlinePolicy, TheReadyQueueDueFirstRunsOthersAreHeldIdleOnesToo) {
  auto p = make_policy(XS_POLICY_DEADLINE, 2 * kMs);
  std::vector<QueueView> qs = {due_view(1, true, 10 * kMs), due_view(2, false, 5 * kMs), due_view(3, false, 0)};
  for (const QueueView& q : qs) p->added(q, 0);
  p->decide(qs, 0);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, true}, {2, false}, {3, false}}));
  qs[1].ready = true;  // due at 1 + 5 ms, before queue 1's 10 ms
  p->decide(qs, 1 * kMs);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, false}, {2, true}, {3, false}}));
  qs[1].ready = false;
  p->decide(qs, 2 * kMs);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, true}, {2, false}, {3, false}}));
  qs[0].ready = false;  // nothing ready: nothing held
  p->decide(qs, 3 * kMs);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, true}, {2, true}, {3, true}}));
}

TEST(DeadlinePolicy, QueuesWithoutADeadlineComeLastInPriorityOrder) {
  auto p = make_policy(XS_POLICY_DEADLINE, 2 * kMs);
  std::vector<QueueView> qs = {due_view(1, true, 0, 5), due_view(2, true, 0, 9), due_view(3, true, 50 * kMs, 0)};
  for (const QueueView& q : qs) p->added(q, 0);
  p->decide(qs, 0);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, false}, {2, false}, {3, true}}));
  qs[2].ready = false;
  p->decide(qs, 1 * kMs);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, false}, {2, true}, {3, false}}));
}

// A queue that never goes idle must not keep the device on a deadline long
// past: once due, having run, it starts a new period; a held queue keeps its
// earlier due time and runs.
TEST(DeadlinePolicy, AnOverdueRunningQueueStartsANewPeriodAndAHeldOneKeepsItsDueTime) {
  auto p = make_policy(XS_POLICY_DEADLINE, 2 * kMs);
  std::vector<QueueView> qs = {due_view(1, true, 5 * kMs), due_view(2, false, 10 * kMs)};
  for (const QueueView& q : qs) p->added(q, 0);
  EXPECT_EQ(p->decide(qs, 0), 5 * kMs);  // decide again when queue 1 falls due
  qs[1].ready = true;                   // due at 11 ms
  EXPECT_EQ(p->decide(qs, 1 * kMs), 5 * kMs);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, true}, {2, false}}));
  // At 5 ms queue 1 is due and still busy: its next period is due at 10 ms, before queue 2's 11.
  EXPECT_EQ(p->decide(qs, 5 * kMs), 10 * kMs);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, true}, {2, false}}));
  // At 10 ms: due at 15 now, after queue 2's 11: queue 2 runs.
  EXPECT_EQ(p->decide(qs, 10 * kMs), 11 * kMs);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, false}, {2, true}}));
  // At 12 ms queue 2 is past due but it runs; queue 1, held, keeps 15 ms.
  p->decide(qs, 12 * kMs);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, true}, {2, false}}));  // queue 2 renewed to 22
}

TEST(DeadlinePolicy, AChangedDeadlineStartsANewPeriod) {
  auto p = make_policy(XS_POLICY_DEADLINE, 2 * kMs);
  std::vector<QueueView> qs = {due_view(1, true, 100 * kMs), due_view(2, true, 50 * kMs)};
  for (const QueueView& q : qs) p->added(q, 0);
  p->decide(qs, 0);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, false}, {2, true}}));
  qs[0].hints.deadline_ns = 1 * kMs;  // `xsched set --deadline-us 1000` on a busy queue
  p->decide(qs, 2 * kMs);
  EXPECT_EQ(runs(qs), (std::map<uint64_t, bool>{{1, true}, {2, false}}));
}

}  // namespace
}  // namespace xsched

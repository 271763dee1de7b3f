// The laxity policy (least laxity first): as pure logic on a simulated
// device with explicit time, and driving real XQueues in the in-process
// scheduler.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "manual_hw_queue.h"
#include "sched/local_scheduler.h"
#include "sched/policy.h"
#include "xqueue_helpers.h"

namespace xsched {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kStep = 10'000;  // the simulated device's tick: 10 us

// A device that runs the queues the policy lets run, sharing its time among
// them, and the policy's decisions whenever a queue turns ready or idle and
// whenever the policy asked for one.
class Device {
 public:
  Device() : policy_(make_policy(XS_POLICY_LAXITY, 2 * kMs)) {}

  std::size_t add(int64_t deadline_ns, int32_t priority = 0) {
    queues_.push_back({queues_.size() + 1, false, {priority, 1, 0, deadline_ns}, true});
    left_.push_back(0);
    finished_.push_back(-1);
    policy_->added(queues_.back(), now_);
    return queues_.size() - 1;
  }
  // Work arrives on each queue at once (device time it needs), one decision.
  void submit(const std::vector<std::pair<std::size_t, int64_t>>& work) {
    for (auto [i, ns] : work) {
      left_[i] = ns;
      queues_[i].ready = true;
      finished_[i] = -1;
    }
    next_ = policy_->decide(queues_, now_);
    first_ = queues_;
  }
  // Runs until no queue is ready; counts how often the running set changed.
  void run_until_idle() {
    std::vector<bool> before = running();
    for (int guard = 0; guard < 10'000'000 && any_ready(); ++guard) {
      now_ += kStep;
      std::size_t n = 0;
      for (const QueueView& q : queues_) n += q.ready && q.run ? 1 : 0;
      bool changed = false;
      for (std::size_t i = 0; i < queues_.size(); ++i) {
        if (!queues_[i].ready || !queues_[i].run) continue;
        if ((left_[i] -= kStep / static_cast<int64_t>(n)) <= 0) {
          queues_[i].ready = false;
          finished_[i] = now_;
          changed = true;
        }
      }
      if (changed || (next_ != 0 && now_ >= next_)) next_ = policy_->decide(queues_, now_);
      if (running() != before && any_ready()) ++switches_;
      before = running();
    }
  }
  // A few periods of `ns` of work each, the queue alone: its history.
  void train(std::size_t i, int64_t ns) {
    for (int k = 0; k < 4; ++k) {
      submit({{i, ns}});
      run_until_idle();
    }
  }

  bool ran_first(std::size_t i) const { return first_[i].run; }
  int64_t finished(std::size_t i) const { return finished_[i]; }
  int64_t now() const { return now_; }
  int64_t next() const { return next_; }
  int switches() const { return switches_; }
  void reset_switches() { switches_ = 0; }

 private:
  bool any_ready() const {
    for (const QueueView& q : queues_) {
      if (q.ready) return true;
    }
    return false;
  }
  std::vector<bool> running() const {
    std::vector<bool> r;
    for (const QueueView& q : queues_) r.push_back(q.ready && q.run);
    return r;
  }

  std::unique_ptr<Policy> policy_;
  std::vector<QueueView> queues_;
  std::vector<QueueView> first_;  // the views after submit()'s decision
  std::vector<int64_t> left_;
  std::vector<int64_t> finished_;
  int64_t now_ = 0;
  int64_t next_ = 0;
  int switches_ = 0;
};

TEST(LaxityPolicy, OfEqualDeadlinesTheQueueWithMoreWorkLeftRunsFirst) {
  Device d;
  const std::size_t big = d.add(20 * kMs), small = d.add(20 * kMs);
  d.train(big, 8 * kMs);
  d.train(small, 1 * kMs);
  const int64_t start = d.now();
  d.submit({{small, 1 * kMs}, {big, 8 * kMs}});
  // Laxities 20 - 8 = 12 ms and 20 - 1 = 19 ms: the one with more work runs.
  EXPECT_TRUE(d.ran_first(big));
  EXPECT_FALSE(d.ran_first(small));
  d.run_until_idle();
  EXPECT_LT(d.finished(big), d.finished(small));
  EXPECT_LE(d.finished(big) - start, 20 * kMs);
  EXPECT_LE(d.finished(small) - start, 20 * kMs);
}

TEST(LaxityPolicy, MuchMoreWorkRunsBeforeAnEarlierDeadlineWithLittleWork) {
  Device d;
  const std::size_t big = d.add(30 * kMs), urgent = d.add(10 * kMs);
  d.train(big, 25 * kMs);
  d.train(urgent, 1 * kMs);
  const int64_t start = d.now();
  d.submit({{urgent, 1 * kMs}, {big, 25 * kMs}});
  // Laxities 30 - 25 = 5 ms and 10 - 1 = 9 ms: the later deadline runs first
  // (earliest deadline first would run the other)...
  EXPECT_TRUE(d.ran_first(big));
  EXPECT_FALSE(d.ran_first(urgent));
  // ...until the other's laxity is half a timeslice (1 ms) below: at 5 ms.
  EXPECT_EQ(d.next(), start + 5 * kMs + 1);
  d.run_until_idle();
  // Both meet their deadlines.
  EXPECT_LE(d.finished(urgent) - start, 10 * kMs);
  EXPECT_GE(d.finished(urgent) - start, 5 * kMs);
  EXPECT_LE(d.finished(big) - start, 30 * kMs);
}

TEST(LaxityPolicy, WithoutHistoryItIsEarliestDeadlineFirst) {
  Device d;
  const std::size_t late = d.add(20 * kMs), early = d.add(10 * kMs);
  d.submit({{late, 5 * kMs}, {early, 5 * kMs}});
  EXPECT_FALSE(d.ran_first(late));
  EXPECT_TRUE(d.ran_first(early));
}

TEST(LaxityPolicy, QueuesWithoutADeadlineComeLastInPriorityOrder) {
  Device d;
  const std::size_t low = d.add(0, 5), high = d.add(0, 9), due = d.add(50 * kMs, 0);
  d.submit({{low, 1 * kMs}, {high, 1 * kMs}, {due, 1 * kMs}});
  EXPECT_FALSE(d.ran_first(low));
  EXPECT_FALSE(d.ran_first(high));
  EXPECT_TRUE(d.ran_first(due));
  d.run_until_idle();
  EXPECT_LT(d.finished(due), d.finished(high));
  EXPECT_LT(d.finished(high), d.finished(low));
}

// Laxities of queues that wait shrink: without a margin two queues of about
// equal laxity would trade the device at every decision.
TEST(LaxityPolicy, QueuesOfAboutEqualLaxityTakeTurnsOfAboutATimeslice) {
  Device d;
  const std::size_t a = d.add(150 * kMs), b = d.add(150 * kMs);
  d.train(a, 50 * kMs);
  d.train(b, 49 * kMs);
  d.reset_switches();
  const int64_t start = d.now();
  d.submit({{a, 50 * kMs}, {b, 50 * kMs}});
  d.run_until_idle();
  // 100 ms of work in turns of 1 to 4 ms (the default timeslice is 2 ms).
  EXPECT_GE(d.switches(), 25);
  EXPECT_LE(d.switches(), 100);
  EXPECT_LE(d.finished(a) - start, 150 * kMs);
  EXPECT_LE(d.finished(b) - start, 150 * kMs);
}

using testing::make_queue;
using testing::ManualHwQueue;
using testing::suspended;

using testing::kernel;

// The in-process scheduler decides in the submitting thread: the queue with
// the least laxity (no history yet: the earliest deadline) holds the other
// before its submit returns, and releases it when its work is done.
TEST(LaxityPolicy, HoldsTheLaxerQueueInTheProcess) {
  LocalScheduler sched(XS_POLICY_LAXITY, 2'000'000);
  EXPECT_EQ(sched.policy(), XS_POLICY_LAXITY);
  ManualHwQueue hw_lax, hw_tight;
  auto lax = make_queue(hw_lax.hw_queue(), 0);
  auto tight = make_queue(hw_tight.hw_queue(), 0);
  lax->set_hints({0, 1, 0, 50 * kMs});
  tight->set_hints({0, 1, 0, 5 * kMs});
  sched.add(*lax);
  sched.add(*tight);
  ASSERT_EQ(lax->submit(kernel(), nullptr), XS_OK);
  EXPECT_FALSE(suspended(*lax));
  ASSERT_EQ(tight->submit(kernel(), nullptr), XS_OK);
  EXPECT_TRUE(suspended(*lax));
  EXPECT_FALSE(suspended(*tight));
  hw_tight.complete_all();
  EXPECT_TRUE(testing::eventually([&] { return !suspended(*lax); }));
  hw_lax.complete_all();
  sched.remove(*lax);
  sched.remove(*tight);
  EXPECT_EQ(lax->wait_all(5'000'000'000), XS_OK);
  EXPECT_EQ(tight->wait_all(5'000'000'000), XS_OK);
}

}  // namespace
}  // namespace xsched

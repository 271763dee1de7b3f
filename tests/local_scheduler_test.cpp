// The in-process scheduler driving real XQueues: which queues it holds and
// when, its timer, and a stress run for ThreadSanitizer (no timing asserted).
#include "sched/local_scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "core/hint_limits.h"
#include "hal/host/host_device.h"
#include "hang_watchdog.h"
#include "manual_hw_queue.h"
#include "xqueue_helpers.h"

namespace xsched {
namespace {

using namespace std::chrono_literals;
using testing::HangWatchdog;
using testing::ManualHwQueue;

using testing::make_queue;

Command kernel(uint64_t ns = 0) {
  Command c;
  c.kind = XS_CMD_KERNEL;
  c.kernel_desc<xs_host_kernel_t>() = {ns, nullptr, nullptr};
  return c;
}

using testing::eventually;
using testing::suspended;

TEST(LocalScheduler, PriorityHoldsLowerQueuesWhileAHigherOneIsReady) {
  LocalScheduler sched(XS_POLICY_PRIORITY, 2'000'000);
  ManualHwQueue hw_hi, hw_lo;
  auto hi = make_queue(hw_hi.hw_queue(), 10);
  auto lo = make_queue(hw_lo.hw_queue(), 0);
  sched.add(*hi);
  sched.add(*lo);
  EXPECT_FALSE(suspended(*lo));  // nothing ready: everything may start at once

  ASSERT_EQ(lo->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(hw_lo.launched(), 1u);
  ASSERT_EQ(hi->submit(kernel(), nullptr), XS_OK);
  // Held before the high submit returned, not by some later thread.
  EXPECT_TRUE(suspended(*lo));
  EXPECT_FALSE(suspended(*hi));
  ASSERT_EQ(lo->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(hw_lo.launched(), 1u);  // buffered while held

  hw_hi.complete_all();  // high goes idle: low runs again
  ASSERT_TRUE(eventually([&] { return !suspended(*lo); }));
  EXPECT_TRUE(hw_lo.wait_launched(2));

  // Changing a hint takes effect at once: low overtakes high.
  ASSERT_EQ(hi->submit(kernel(), nullptr), XS_OK);
  EXPECT_TRUE(suspended(*lo));
  lo->set_hints({20, 1, 0, 0});
  EXPECT_FALSE(suspended(*lo));
  EXPECT_TRUE(suspended(*hi));

  // A queue that leaves is released, and the other queue no longer waits for it.
  sched.remove(*lo);
  EXPECT_FALSE(suspended(*hi));
  sched.remove(*hi);
  hw_hi.complete_all();
  hw_lo.complete_all();
  EXPECT_EQ(hi->wait_all(5'000'000'000), XS_OK);
  EXPECT_EQ(lo->wait_all(5'000'000'000), XS_OK);
}

TEST(LocalScheduler, BandwidthRotatesOnItsTimerAndSwitchingPolicyReleases) {
  LocalScheduler sched(XS_POLICY_BANDWIDTH, 1'000'000);
  ManualHwQueue hw_a, hw_b;  // commands never complete: both stay ready
  auto a = make_queue(hw_a.hw_queue(), 0);
  auto b = make_queue(hw_b.hw_queue(), 0);
  sched.add(*a);
  sched.add(*b);
  ASSERT_EQ(a->submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(b->submit(kernel(), nullptr), XS_OK);
  // Each holds the turn in alternation: both get suspended again and again.
  ASSERT_TRUE(eventually([&] {
    xs_queue_info_t ia{}, ib{};
    a->query(&ia);
    b->query(&ib);
    return ia.suspensions >= 3 && ib.suspensions >= 3;
  }));
  EXPECT_TRUE(testing::eventually_exactly_one_held(*a, *b));  // one holds the turn
  ASSERT_EQ(sched.set_policy(XS_POLICY_NONE), XS_OK);
  EXPECT_FALSE(suspended(*a));
  EXPECT_FALSE(suspended(*b));
  EXPECT_EQ(sched.policy(), XS_POLICY_NONE);
  EXPECT_EQ(sched.set_policy(static_cast<xs_policy_t>(77)), XS_ERR_INVALID_ARG);
  sched.remove(*a);
  sched.remove(*b);
  hw_a.complete_all();
  hw_b.complete_all();
}

// Many threads submit, change hints, switch policies and add and remove
// queues at once. Asserts that everything completes (no deadlock, nothing
// lost) and that, once all is idle, the scheduler holds nobody.
TEST(LocalScheduler, StressConcurrentSubmitsHintsPoliciesAndMembership) {
  auto dev = host::Device::create(2);
  LocalScheduler sched(XS_POLICY_PRIORITY, 200'000);
  constexpr int kQueues = 5;
  std::vector<std::shared_ptr<host::Stream>> streams;
  std::vector<std::shared_ptr<XQueue>> queues;
  for (int i = 0; i < kQueues; ++i) {
    streams.push_back(dev->create_stream());
    queues.push_back(make_queue(streams.back()->hw_queue(), i));
    sched.add(*queues.back());
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kQueues; ++i) {
    threads.emplace_back([&, i] {
      std::mt19937 rng(i);
      uint64_t id = 0;
      while (!stop) {
        ASSERT_EQ(queues[i]->submit(kernel(rng() % 50'000), &id), XS_OK);
        if (rng() % 8 == 0) {
          ASSERT_EQ(queues[i]->wait(id, 10'000'000'000), XS_OK);
        }
        if (rng() % 16 == 0) {
          queues[i]->set_hints({static_cast<int32_t>(rng() % 4), static_cast<uint32_t>(1 + rng() % 3), 0, 0});
        }
      }
    });
  }
  threads.emplace_back([&] {
    const xs_policy_t ps[] = {XS_POLICY_PRIORITY, XS_POLICY_BANDWIDTH, XS_POLICY_NONE};
    for (int i = 0; !stop; ++i) {
      ASSERT_EQ(sched.set_policy(ps[i % 3]), XS_OK);
      std::this_thread::sleep_for(3ms);
    }
  });
  threads.emplace_back([&] {
    while (!stop) {
      auto s = dev->create_stream();
      auto q = make_queue(s->hw_queue(), 100);
      sched.add(*q);
      for (int i = 0; i < 3; ++i) ASSERT_EQ(q->submit(kernel(10'000), nullptr), XS_OK);
      sched.remove(*q);  // leaves with work pending; destruction drains it
    }
  });
  std::this_thread::sleep_for(700ms);
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_EQ(sched.set_policy(XS_POLICY_PRIORITY), XS_OK);
  for (auto& q : queues) EXPECT_EQ(q->wait_all(20'000'000'000), XS_OK) << "queue " << q->id();
  for (auto& q : queues) {
    EXPECT_TRUE(eventually([&] { return !q->ready() && !suspended(*q); })) << "queue " << q->id();
  }
  for (auto& q : queues) sched.remove(*q);
}

// A policy that wants to decide again at once, every time.
class AlwaysNowPolicy final : public Policy {
 public:
  explicit AlwaysNowPolicy(std::atomic<uint64_t>* decisions) : decisions_(decisions) {}
  xs_policy_t kind() const override { return XS_POLICY_BANDWIDTH; }
  int64_t decide(std::span<QueueView> queues, int64_t now_ns) override {
    decisions_->fetch_add(1, std::memory_order_relaxed);
    for (QueueView& q : queues) q.run = true;
    return now_ns;
  }

 private:
  std::atomic<uint64_t>* decisions_;
};

// Whatever time a policy asks for, the timer waits between two of its
// decisions, without the lock: other callers get the scheduler, and the
// timer decides at most once per kMinDecisionIntervalNs.
TEST(LocalScheduler, TimerDoesNotSpinWhenAPolicyAlwaysAsksForNow) {
  HangWatchdog dog("calls into a scheduler whose policy always asks for now", 30s);
  std::atomic<uint64_t> decisions{0};
  const auto start = std::chrono::steady_clock::now();
  {
    LocalScheduler sched([&] { return std::make_unique<AlwaysNowPolicy>(&decisions); }, 2'000'000);
    ManualHwQueue hw_a, hw_b;
    auto a = make_queue(hw_a.hw_queue(), 0);
    auto b = make_queue(hw_b.hw_queue(), 1);
    sched.add(*a);  // the timer starts, and is due at once
    constexpr int kRounds = 100;
    for (int i = 0; i < kRounds; ++i) {  // each round decides twice itself
      sched.add(*b);
      sched.remove(*b);
    }
    EXPECT_EQ(sched.policy(), XS_POLICY_BANDWIDTH);
    std::this_thread::sleep_for(100ms);
    sched.remove(*a);
    const auto elapsed_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
    const uint64_t by_calls = 2 + 2 * kRounds;
    const uint64_t by_timer = static_cast<uint64_t>(elapsed_ns / kMinDecisionIntervalNs) + 1;
    EXPECT_LE(decisions.load(), by_calls + by_timer) << "the timer decided in a loop";
    EXPECT_GT(decisions.load(), by_calls) << "the timer never ran";
  }
}

TEST(LocalScheduler, OnlyQueuesThatCanBePreemptedKeepTheirWindow) {
  LocalScheduler sched(XS_POLICY_PRIORITY, 2'000'000);
  ManualHwQueue hw_a, hw_b;
  XQueueOptions o;
  o.window = 2;
  std::shared_ptr<XQueue> a, b;
  o.hints = {0, 1, 0, 0};
  ASSERT_EQ(XQueue::create(hw_a.hw_queue(), o, &a), XS_OK);
  ASSERT_EQ(XQueue::create(hw_b.hw_queue(), o, &b), XS_OK);
  sched.add(*a);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(a->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(hw_a.launched(), 5u);  // alone: nothing can preempt it, no window
  sched.add(*b);
  b->set_hints({5, 1, 0, 0});  // b outranks a, but has had no work yet: a keeps going without a window
  for (int i = 0; i < 3; ++i) ASSERT_EQ(a->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(hw_a.launched(), 8u);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(b->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(hw_b.launched(), 4u);  // the top priority runs without one
  // b has had work: a's window applies again (and a is held while b is ready).
  for (int i = 0; i < 3; ++i) ASSERT_EQ(a->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(hw_a.launched(), 8u);
  sched.remove(*b);  // a is on top again: what it held goes
  EXPECT_TRUE(hw_a.wait_launched(11));
  sched.remove(*a);
  hw_a.complete_all();
  hw_b.complete_all();
  EXPECT_EQ(a->wait_all(5'000'000'000), XS_OK);
  EXPECT_EQ(b->wait_all(5'000'000'000), XS_OK);
}


// ---- remote mode: decisions handed to a RemoteLink (xschedd's agent) ----

// What the scheduler told the link, with the queue's state at that moment.
// Called with the scheduler's lock held, from whichever thread changed a queue.
class RecordingLink final : public RemoteLink {
 public:
  enum Kind { kAdded, kChanged, kRemoved };
  struct Call {
    Kind kind;
    uint64_t id;
    bool ready;
    int32_t priority;
  };

  void queue_added(XQueue& q) override { record(kAdded, q); }
  void queue_changed(XQueue& q) override { record(kChanged, q); }
  void queue_removed(XQueue& q) override { record(kRemoved, q); }

  // The ids reported as `kind`, sorted.
  std::vector<uint64_t> ids(Kind kind) const {
    std::lock_guard lk(mu_);
    std::vector<uint64_t> out;
    for (const Call& c : calls_) {
      if (c.kind == kind) out.push_back(c.id);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // The last report of `kind` about queue `id`, if any.
  std::optional<Call> last(Kind kind, uint64_t id) const {
    std::lock_guard lk(mu_);
    for (auto it = calls_.rbegin(); it != calls_.rend(); ++it) {
      if (it->kind == kind && it->id == id) return *it;
    }
    return std::nullopt;
  }
  std::size_t size() const {
    std::lock_guard lk(mu_);
    return calls_.size();
  }
  void clear() {
    std::lock_guard lk(mu_);
    calls_.clear();
  }

 private:
  void record(Kind kind, XQueue& q) {
    const Call c{kind, q.id(), q.ready(), q.hints().priority};
    std::lock_guard lk(mu_);
    calls_.push_back(c);
  }

  mutable std::mutex mu_;
  std::vector<Call> calls_;
};

// A scheduler, a link and queues over ManualHwQueues. On the way out it
// takes every queue out of the scheduler and completes its work, also after
// a failed assertion, so that no queue's destructor waits forever.
class RemoteRig {
 public:
  explicit RemoteRig(xs_policy_t policy = XS_POLICY_PRIORITY, int32_t base_priority = 0)
      : sched(policy, 2'000'000, base_priority) {}
  ~RemoteRig() {
    for (auto& e : entries_) sched.remove(*e->q);
    for (auto& e : entries_) {
      e->q->set_window_bounded(false);  // so that close() launches everything at once
      e->q->close();
      e->hw.complete_all();
      EXPECT_EQ(e->q->wait_all(5'000'000'000), XS_OK) << "queue " << e->q->id();
      e->q.reset();
    }
  }
  RemoteRig(const RemoteRig&) = delete;
  RemoteRig& operator=(const RemoteRig&) = delete;

  // A new queue with this initial priority, added to the scheduler.
  XQueue& add(int32_t priority, uint32_t window = 8) {
    auto e = std::make_unique<Entry>();
    XQueueOptions o;
    o.window = window;
    o.hints = {priority, 1, 0, 0};
    EXPECT_EQ(XQueue::create(e->hw.hw_queue(), o, &e->q), XS_OK);
    entries_.push_back(std::move(e));
    sched.add(*entries_.back()->q);
    return *entries_.back()->q;
  }
  ManualHwQueue& hw(const XQueue& q) {
    for (auto& e : entries_) {
      if (e->q.get() == &q) return e->hw;
    }
    ADD_FAILURE() << "no such queue";
    return entries_.front()->hw;
  }

  RecordingLink link;  // outlives the attachment: destroyed after sched
  LocalScheduler sched;

 private:
  struct Entry {
    ManualHwQueue hw;
    std::shared_ptr<XQueue> q;
  };
  std::vector<std::unique_ptr<Entry>> entries_;
};

std::vector<uint64_t> sorted_ids(std::vector<uint64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

HintsOverride priority_change(int32_t priority) {
  HintsOverride h;
  h.fields = 1;
  h.priority = priority;
  return h;
}

TEST(LocalSchedulerRemote, AttachReportsEveryQueueAndLiftsTheLocalHolds) {
  RemoteRig rig;
  XQueue& hi = rig.add(10);
  XQueue& lo = rig.add(0);
  ASSERT_EQ(hi.submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(lo.submit(kernel(), nullptr), XS_OK);
  ASSERT_TRUE(suspended(lo));  // the local priority policy holds it
  EXPECT_EQ(rig.hw(lo).launched(), 0u);
  EXPECT_FALSE(rig.sched.attached());

  rig.sched.attach(&rig.link);
  EXPECT_TRUE(rig.sched.attached());
  EXPECT_EQ(rig.link.ids(RecordingLink::kAdded), sorted_ids({hi.id(), lo.id()}));
  EXPECT_EQ(rig.link.size(), 2u);  // one report per queue, nothing else
  // The remote side decides from now on: nothing stays held for the local policy.
  EXPECT_FALSE(suspended(lo));
  EXPECT_FALSE(suspended(hi));
  EXPECT_EQ(rig.hw(lo).launched(), 1u);
}

TEST(LocalSchedulerRemote, WhileAttachedChangesGoToTheLinkAndNothingIsHeldLocally) {
  RemoteRig rig;
  XQueue& hi = rig.add(10);
  XQueue& lo = rig.add(0);
  rig.sched.attach(&rig.link);
  rig.link.clear();

  ASSERT_EQ(lo.submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(hi.submit(kernel(), nullptr), XS_OK);
  // Reported before submit returned, with the queue already ready.
  auto c = rig.link.last(RecordingLink::kChanged, hi.id());
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->ready);
  c = rig.link.last(RecordingLink::kChanged, lo.id());
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->ready);
  // The local priority policy would hold lo here; attached, it does not.
  EXPECT_FALSE(suspended(lo));
  ASSERT_EQ(lo.submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(rig.hw(lo).launched(), 2u);

  lo.set_hints({20, 1, 0, 0});
  c = rig.link.last(RecordingLink::kChanged, lo.id());
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->priority, 20);
  EXPECT_FALSE(suspended(hi));

  // Queues that come and go while attached are reported too.
  XQueue& late = rig.add(5);
  EXPECT_TRUE(rig.link.last(RecordingLink::kAdded, late.id()).has_value());
  rig.sched.remove(late);
  EXPECT_TRUE(rig.link.last(RecordingLink::kRemoved, late.id()).has_value());
}

TEST(LocalSchedulerRemote, ApplyDecisionHoldsAndReleasesAQueue) {
  RemoteRig rig;
  XQueue& q = rig.add(0);
  rig.sched.attach(&rig.link);
  ASSERT_EQ(q.submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(rig.hw(q).launched(), 1u);

  EXPECT_TRUE(rig.sched.apply_decision({q.id(), /*run=*/false, /*bounded=*/true}).applied);
  EXPECT_TRUE(suspended(q));
  ASSERT_EQ(q.submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(rig.hw(q).launched(), 1u);  // buffered while held
  // The same decision again is one hold, not two: one release lifts it.
  EXPECT_TRUE(rig.sched.apply_decision({q.id(), false, true}).applied);
  xs_queue_info_t info{};
  q.query(&info);
  EXPECT_EQ(info.suspensions, 1u);

  EXPECT_TRUE(rig.sched.apply_decision({q.id(), /*run=*/true, /*bounded=*/true}).applied);
  EXPECT_FALSE(suspended(q));
  EXPECT_EQ(rig.hw(q).launched(), 2u);  // launched by the release itself
}

TEST(LocalSchedulerRemote, ApplyDecisionSetsWhetherTheWindowApplies) {
  RemoteRig rig;
  XQueue& q = rig.add(0, /*window=*/2);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(q.submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(rig.hw(q).launched(), 4u);  // alone: the local scheduler lifts its window
  rig.sched.attach(&rig.link);
  // Attached, any queue may be held, so the window applies until told otherwise.
  ASSERT_EQ(q.submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(rig.hw(q).launched(), 4u);
  EXPECT_TRUE(rig.sched.apply_decision({q.id(), /*run=*/true, /*bounded=*/false}).applied);
  EXPECT_EQ(rig.hw(q).launched(), 5u);
  EXPECT_TRUE(rig.sched.apply_decision({q.id(), /*run=*/true, /*bounded=*/true}).applied);
  ASSERT_EQ(q.submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(rig.hw(q).launched(), 5u);
}

TEST(LocalSchedulerRemote, ApplyDecisionFailsForAnUnknownQueueOrWhenDetached) {
  RemoteRig rig;
  XQueue& q = rig.add(0);
  ASSERT_EQ(q.submit(kernel(), nullptr), XS_OK);
  EXPECT_FALSE(rig.sched.apply_decision({q.id(), false, true}).applied);  // nothing attached
  EXPECT_FALSE(suspended(q));

  rig.sched.attach(&rig.link);
  EXPECT_FALSE(rig.sched.apply_decision({0, false, true}).applied);
  EXPECT_FALSE(rig.sched.apply_decision({UINT64_MAX, false, true}).applied);
  EXPECT_FALSE(suspended(q));

  rig.sched.remove(q);  // a queue that left is unknown too
  EXPECT_FALSE(rig.sched.apply_decision({q.id(), false, true}).applied);
  EXPECT_FALSE(suspended(q));
}

TEST(LocalSchedulerRemote, RemovingAQueueReleasesItsRemoteHold) {
  RemoteRig rig;
  XQueue& q = rig.add(0);
  rig.sched.attach(&rig.link);
  ASSERT_EQ(q.submit(kernel(), nullptr), XS_OK);
  ASSERT_TRUE(rig.sched.apply_decision({q.id(), false, true}).applied);
  ASSERT_TRUE(suspended(q));
  rig.sched.remove(q);
  EXPECT_FALSE(suspended(q));
  EXPECT_TRUE(rig.link.last(RecordingLink::kRemoved, q.id()).has_value());
}

TEST(LocalSchedulerRemote, DetachReleasesRemoteHoldsAndTheLocalPolicyDecidesAgain) {
  RemoteRig rig;
  XQueue& hi = rig.add(10);
  XQueue& lo = rig.add(0);
  rig.sched.attach(&rig.link);
  ASSERT_EQ(lo.submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(hi.submit(kernel(), nullptr), XS_OK);
  // The remote side decides against the local policy: it holds the high queue.
  ASSERT_TRUE(rig.sched.apply_decision({hi.id(), false, true}).applied);
  ASSERT_TRUE(suspended(hi));
  ASSERT_FALSE(suspended(lo));

  rig.sched.detach();
  EXPECT_FALSE(rig.sched.attached());
  EXPECT_FALSE(suspended(hi));  // the remote hold is gone
  EXPECT_TRUE(suspended(lo));   // and the priority policy holds the lower ready queue
  EXPECT_FALSE(rig.sched.apply_decision({hi.id(), false, true}).applied);
  EXPECT_FALSE(suspended(hi));

  rig.sched.detach();  // idempotent
  EXPECT_TRUE(suspended(lo));
  EXPECT_FALSE(suspended(hi));

  // Changes reach the local policy again, not the link: hi going idle lets lo run.
  rig.link.clear();
  rig.hw(hi).complete_all();
  EXPECT_TRUE(eventually([&] { return !suspended(lo); }));
  EXPECT_EQ(rig.link.size(), 0u);
}

TEST(LocalSchedulerRemote, SetPolicyWhileAttachedTakesEffectAtDetach) {
  RemoteRig rig(XS_POLICY_NONE);
  XQueue& hi = rig.add(10);
  XQueue& lo = rig.add(0);
  rig.sched.attach(&rig.link);
  EXPECT_EQ(rig.sched.set_policy(XS_POLICY_PRIORITY), XS_OK);
  EXPECT_EQ(rig.sched.policy(), XS_POLICY_PRIORITY);
  EXPECT_EQ(rig.sched.set_policy(static_cast<xs_policy_t>(77)), XS_ERR_INVALID_ARG);
  EXPECT_EQ(rig.sched.policy(), XS_POLICY_PRIORITY);

  ASSERT_EQ(lo.submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(hi.submit(kernel(), nullptr), XS_OK);
  EXPECT_FALSE(suspended(lo));  // attached: the new policy rests

  rig.sched.detach();
  EXPECT_TRUE(suspended(lo));  // priority, not the policy the scheduler was made with
  EXPECT_FALSE(suspended(hi));
}

TEST(LocalSchedulerRemote, ProcessHintsMoveEveryQueueAndKeepEachQueuesOffset) {
  // The process's priority is 5: a queue made with 8 sits 3 above it.
  RemoteRig rig(XS_POLICY_PRIORITY, /*base_priority=*/5);
  XQueue& even = rig.add(5);
  XQueue& above = rig.add(8);
  XQueue& below = rig.add(2);

  EXPECT_TRUE(rig.sched.apply_hints(0, priority_change(20)));
  EXPECT_EQ(even.hints().priority, 20);
  EXPECT_EQ(above.hints().priority, 23);
  EXPECT_EQ(below.hints().priority, 17);
  // A queue made later gets the process's new priority plus its own offset.
  XQueue& late = rig.add(6);
  EXPECT_EQ(late.hints().priority, 21);

  HintsOverride share;
  share.fields = 2;
  share.share = 4;
  EXPECT_TRUE(rig.sched.apply_hints(0, share));
  for (XQueue* q : {&even, &above, &below, &late}) {
    EXPECT_EQ(q->hints().share, 4u) << "queue " << q->id();
  }
  EXPECT_EQ(above.hints().priority, 23);  // only the fields asked for change

  HintsOverride deadline;
  deadline.fields = 4;
  deadline.deadline_ns = 7'000'000;
  EXPECT_TRUE(rig.sched.apply_hints(0, deadline));
  // Everything set for the process so far applies to a queue made after it.
  XQueue& later = rig.add(0);
  EXPECT_EQ(later.hints().priority, 15);
  EXPECT_EQ(later.hints().share, 4u);
  EXPECT_EQ(later.hints().deadline_ns, 7'000'000);
  EXPECT_EQ(even.hints().deadline_ns, 7'000'000);
  EXPECT_EQ(even.hints().share, 4u);
}

TEST(LocalSchedulerRemote, QueueHintsSetExactlyThatQueuesPriority) {
  RemoteRig rig(XS_POLICY_PRIORITY, /*base_priority=*/5);
  XQueue& hi = rig.add(10);  // offset 5
  XQueue& lo = rig.add(5);   // offset 0
  ASSERT_EQ(lo.submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(hi.submit(kernel(), nullptr), XS_OK);
  ASSERT_TRUE(suspended(lo));

  EXPECT_TRUE(rig.sched.apply_hints(hi.id(), priority_change(1)));
  EXPECT_EQ(hi.hints().priority, 1);  // exactly, whatever its offset
  EXPECT_EQ(lo.hints().priority, 5);
  // The local policy sees the change at once.
  EXPECT_FALSE(suspended(lo));
  EXPECT_TRUE(suspended(hi));

  HintsOverride share;
  share.fields = 2;
  share.share = 3;
  EXPECT_TRUE(rig.sched.apply_hints(lo.id(), share));
  EXPECT_EQ(lo.hints().share, 3u);
  EXPECT_EQ(lo.hints().priority, 5);
  EXPECT_EQ(hi.hints().share, 1u);

  EXPECT_FALSE(rig.sched.apply_hints(UINT64_MAX, priority_change(50)));
  EXPECT_EQ(hi.hints().priority, 1);
  EXPECT_EQ(lo.hints().priority, 5);

  // A later change for the process still counts each queue's offset from its add.
  EXPECT_TRUE(rig.sched.apply_hints(0, priority_change(0)));
  EXPECT_EQ(hi.hints().priority, 5);
  EXPECT_EQ(lo.hints().priority, 0);
  EXPECT_TRUE(suspended(lo));
}

// One queue's priority set to the ends of the range must come out exactly,
// also for a queue whose offset is not 0; beyond them it stops at the ends,
// and so does the process's base plus a queue's offset.
TEST(LocalSchedulerRemote, QueueHintsSetExactlyTheExtremePriorities) {
  RemoteRig rig(XS_POLICY_PRIORITY, /*base_priority=*/0);
  XQueue& up = rig.add(3);     // offset +3
  XQueue& down = rig.add(-3);  // offset -3
  EXPECT_TRUE(rig.sched.apply_hints(up.id(), priority_change(kMinPriority)));
  EXPECT_EQ(up.hints().priority, kMinPriority);
  EXPECT_TRUE(rig.sched.apply_hints(down.id(), priority_change(kMaxPriority)));
  EXPECT_EQ(down.hints().priority, kMaxPriority);
  EXPECT_TRUE(rig.sched.apply_hints(up.id(), priority_change(INT32_MAX)));
  EXPECT_EQ(up.hints().priority, kMaxPriority);
  EXPECT_TRUE(rig.sched.apply_hints(0, priority_change(kMaxPriority)));
  EXPECT_EQ(up.hints().priority, kMaxPriority);
  EXPECT_EQ(down.hints().priority, kMaxPriority - 3);
  EXPECT_TRUE(rig.sched.apply_hints(0, priority_change(INT32_MIN)));
  EXPECT_EQ(up.hints().priority, kMinPriority);
  EXPECT_EQ(down.hints().priority, kMinPriority);
}

TEST(LocalSchedulerRemote, HintsWhileAttachedAreReportedAndNotDecidedLocally) {
  RemoteRig rig(XS_POLICY_PRIORITY, /*base_priority=*/0);
  XQueue& a = rig.add(0);
  XQueue& b = rig.add(2);
  rig.sched.attach(&rig.link);
  ASSERT_EQ(a.submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(b.submit(kernel(), nullptr), XS_OK);
  rig.link.clear();

  EXPECT_TRUE(rig.sched.apply_hints(0, priority_change(10)));
  auto ca = rig.link.last(RecordingLink::kChanged, a.id());
  auto cb = rig.link.last(RecordingLink::kChanged, b.id());
  ASSERT_TRUE(ca.has_value());
  ASSERT_TRUE(cb.has_value());
  EXPECT_EQ(ca->priority, 10);
  EXPECT_EQ(cb->priority, 12);

  EXPECT_TRUE(rig.sched.apply_hints(a.id(), priority_change(30)));
  ca = rig.link.last(RecordingLink::kChanged, a.id());
  ASSERT_TRUE(ca.has_value());
  EXPECT_EQ(ca->priority, 30);
  EXPECT_FALSE(suspended(b));  // the remote side decides, not the local policy
  EXPECT_FALSE(suspended(a));
}

}  // namespace
}  // namespace xsched

// The in-process scheduler driving real XQueues: which queues it holds and
// when, its timer, and a stress run for ThreadSanitizer (no timing asserted).
#include "sched/local_scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "hal/host/host_device.h"
#include "manual_hw_queue.h"

namespace xsched {
namespace {

using namespace std::chrono_literals;
using testing::ManualHwQueue;

std::shared_ptr<XQueue> make_queue(HwQueue hw, int32_t priority, uint32_t share = 1) {
  XQueueOptions o;
  o.hints = {priority, share, 0, 0};
  std::shared_ptr<XQueue> q;
  EXPECT_EQ(XQueue::create(hw, o, &q), XS_OK);
  return q;
}

Command kernel(uint64_t ns = 0) {
  Command c;
  c.kind = XS_CMD_KERNEL;
  c.kernel_desc<xs_host_kernel_t>() = {ns, nullptr, nullptr};
  return c;
}

bool suspended(const XQueue& q) {
  xs_queue_info_t i{};
  q.query(&i);
  return i.suspended != 0;
}

template <class F>
bool eventually(F cond) {
  for (int i = 0; i < 5000 && !cond(); ++i) std::this_thread::sleep_for(1ms);
  return cond();
}

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
  EXPECT_NE(suspended(*a), suspended(*b));  // exactly one holds the turn
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

}  // namespace
}  // namespace xsched

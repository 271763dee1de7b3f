// XQueue semantics over a hand-driven hardware queue.
#include "core/xqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "manual_hw_queue.h"

namespace xsched {
namespace {

using testing::ManualHwQueue;
using namespace std::chrono_literals;

std::shared_ptr<XQueue> make_queue(ManualHwQueue& hw, uint32_t window = 4, xs_level_t level = XS_LEVEL_AUTO,
                                   int64_t window_ns = 0) {
  XQueueOptions o;
  o.window = window;
  o.level = level;
  o.window_ns = window_ns;
  std::shared_ptr<XQueue> q;
  EXPECT_EQ(XQueue::create(hw.hw_queue(), o, &q), XS_OK);
  return q;
}

Command kernel(int64_t est_ns = 0) {
  Command c;
  c.kind = XS_CMD_KERNEL;
  c.est_ns = est_ns;
  return c;
}

// Polls cond for up to 5 s.
template <class F>
bool eventually(F cond) {
  for (int i = 0; i < 5000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return cond();
}

TEST(XQueue, SubmitLaunchesInCallerThreadWhenRunning) {
  ManualHwQueue hw;
  auto q = make_queue(hw);
  uint64_t id = 0;
  ASSERT_EQ(q->submit(kernel(), &id), XS_OK);
  EXPECT_EQ(id, 1u);
  EXPECT_EQ(hw.launched(), 1u);  // no hand-off to another thread
  hw.complete_all();
  EXPECT_EQ(q->wait(id, -1), XS_OK);
}

TEST(XQueue, OrderPreservedAcrossBufferedAndDirectLaunches) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 4);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
    if (i % 7 == 0) hw.complete(3);
  }
  while (hw.launched() < 100) {
    hw.complete_all();
    std::this_thread::sleep_for(100us);
  }
  hw.complete_all();
  ASSERT_EQ(q->wait_all(-1), XS_OK);
  const std::vector<uint64_t> seqs = hw.launched_seqs();
  ASSERT_EQ(seqs.size(), 100u);
  for (uint64_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);
}

TEST(XQueue, KeepsAtMostWindowInFlight) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 4);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(hw.launched(), 4u);
  xs_queue_info_t info{};
  q->query(&info);
  EXPECT_EQ(info.pending, 16u);
  EXPECT_EQ(info.in_flight, 4u);
  hw.complete(2);  // the first sync point is the 2nd command (half the window)
  EXPECT_TRUE(hw.wait_launched(6));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(hw.launched(), 6u);
  hw.complete_all();
  while (hw.launched() < 20) hw.complete_all();
  hw.complete_all();
  EXPECT_EQ(q->wait_all(-1), XS_OK);
}

TEST(XQueue, TimeWindowLimitsEstimatedWorkInFlight) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 100, XS_LEVEL_AUTO, 10'000'000);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(q->submit(kernel(4'000'000), nullptr), XS_OK);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(hw.launched(), 2u);  // 8 ms fits in 10 ms, 12 ms would not
  // A single command longer than the window still runs.
  ManualHwQueue hw2;
  auto q2 = make_queue(hw2, 100, XS_LEVEL_AUTO, 1'000'000);
  ASSERT_EQ(q2->submit(kernel(5'000'000), nullptr), XS_OK);
  EXPECT_EQ(hw2.launched(), 1u);
  for (auto* h : {&hw, &hw2}) {
    while (h->launched() < (h == &hw ? 5u : 1u)) h->complete_all();
    h->complete_all();
  }
  EXPECT_EQ(q->wait_all(-1), XS_OK);
  EXPECT_EQ(q2->wait_all(-1), XS_OK);
}

TEST(XQueue, WaitTimesOutAndRejectsUnknownIds) {
  ManualHwQueue hw;
  auto q = make_queue(hw);
  uint64_t id = 0;
  ASSERT_EQ(q->submit(kernel(), &id), XS_OK);
  EXPECT_EQ(q->wait(id, 5'000'000), XS_ERR_TIMEOUT);
  EXPECT_EQ(q->wait(0, 0), XS_ERR_INVALID_ARG);
  EXPECT_EQ(q->wait(id + 1, 0), XS_ERR_INVALID_ARG);
  hw.complete_all();
  EXPECT_EQ(q->wait(id, 1'000'000'000), XS_OK);
  EXPECT_EQ(q->wait_all(0), XS_OK);
}

TEST(XQueue, SuspendedQueueBuffersWithoutBlockingTheSubmitter) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 4);
  ASSERT_EQ(q->suspend(kHoldUser, false), XS_OK);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(hw.launched(), 0u);
  EXPECT_TRUE(q->ready());
  ASSERT_EQ(q->resume(kHoldUser), XS_OK);
  EXPECT_EQ(hw.launched(), 4u);
  while (hw.launched() < 10) hw.complete_all();
  hw.complete_all();
  EXPECT_EQ(q->wait_all(-1), XS_OK);
}

TEST(XQueue, SyncSuspendWaitsOnlyForTheInFlightWindow) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 4, XS_LEVEL_BLOCK);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(hw.launched(), 4u);
  std::atomic<bool> returned{false};
  std::thread t([&] {
    EXPECT_EQ(q->suspend(kHoldUser, true), XS_OK);
    returned = true;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(returned);  // the window is still on the device
  hw.complete(4);
  t.join();
  EXPECT_TRUE(returned);
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(hw.launched(), 4u);  // nothing launched after the suspend
  xs_queue_info_t info{};
  q->query(&info);
  EXPECT_EQ(info.pending, 46u);
  EXPECT_EQ(info.suspended, 1);
  EXPECT_EQ(info.suspensions, 1u);
  q->resume(kHoldUser);
  while (hw.launched() < 50) hw.complete_all();
  hw.complete_all();
  EXPECT_EQ(q->wait_all(-1), XS_OK);
}

TEST(XQueue, LevelTwoDeactivatesAndLevelThreeInterrupts) {
  ManualHwQueue hw2(2);
  auto q2 = make_queue(hw2);
  EXPECT_EQ(q2->level(), XS_LEVEL_DEACTIVATE);
  q2->suspend(kHoldScheduler, true);  // nothing in flight: nothing to hold
  EXPECT_FALSE(hw2.deactivated());
  q2->resume(kHoldScheduler);
  uint64_t id = 0;
  ASSERT_EQ(q2->submit(kernel(), &id), XS_OK);
  q2->suspend(kHoldScheduler, true);  // returns at once: launched work is held, not drained
  EXPECT_TRUE(hw2.deactivated());
  q2->resume(kHoldScheduler);
  EXPECT_FALSE(hw2.deactivated());
  hw2.complete_all();
  EXPECT_EQ(q2->wait(id, 5'000'000'000), XS_OK);

  ManualHwQueue hw3(3);
  auto q3 = make_queue(hw3);
  EXPECT_EQ(q3->level(), XS_LEVEL_INTERRUPT);
  ASSERT_EQ(q3->submit(kernel(), &id), XS_OK);
  q3->suspend(kHoldScheduler, false);
  EXPECT_TRUE(hw3.deactivated());
  EXPECT_EQ(hw3.interrupts(), 1);
  q3->resume(kHoldScheduler);
  EXPECT_FALSE(hw3.deactivated());
  hw3.complete_all();
  EXPECT_EQ(q3->wait(id, 5'000'000'000), XS_OK);

  // A lower level may be chosen; a higher one than supported may not.
  ManualHwQueue hw3b(3);
  auto q1 = make_queue(hw3b, 4, XS_LEVEL_BLOCK);
  q1->suspend(kHoldUser, false);
  EXPECT_FALSE(hw3b.deactivated());
  q1->resume(kHoldUser);
  ManualHwQueue hw1(1);
  XQueueOptions o;
  o.level = XS_LEVEL_DEACTIVATE;
  std::shared_ptr<XQueue> bad;
  EXPECT_EQ(XQueue::create(hw1.hw_queue(), o, &bad), XS_ERR_UNSUPPORTED);
  EXPECT_EQ(bad, nullptr);
  EXPECT_TRUE(hw1.released());
}

TEST(XQueue, UserAndSchedulerHoldsAreIndependent) {
  ManualHwQueue hw;
  auto q = make_queue(hw);
  q->suspend(kHoldUser, false);
  q->suspend(kHoldScheduler, false);
  q->resume(kHoldUser);
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(hw.launched(), 0u);
  q->resume(kHoldScheduler);
  EXPECT_EQ(hw.launched(), 1u);
  hw.complete_all();
  EXPECT_EQ(q->wait_all(-1), XS_OK);
}

TEST(XQueue, DestroyCompletesPendingWorkOfASuspendedQueue) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 2);
  q->suspend(kHoldUser, false);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  std::thread completer([&] {
    while (!hw.released()) {
      hw.complete_all();
      std::this_thread::sleep_for(100us);
    }
  });
  q.reset();  // must not hang, must not drop the ten commands
  completer.join();
  EXPECT_EQ(hw.launched(), 10u);
  EXPECT_EQ(hw.completed(), 10u);
}

class CountingListener final : public QueueListener {
 public:
  void on_queue_changed(XQueue& q) override {
    ++calls;
    last_ready = q.ready();
  }
  std::atomic<int> calls{0};
  std::atomic<bool> last_ready{false};
};

TEST(XQueue, ReportsReadyAndIdle) {
  ManualHwQueue hw;
  auto q = make_queue(hw);
  CountingListener l;
  q->set_listener(&l);
  EXPECT_FALSE(q->ready());
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  EXPECT_TRUE(q->ready());
  EXPECT_EQ(l.calls, 1);  // one transition, not one call per command
  EXPECT_TRUE(l.last_ready);
  hw.complete_all();
  ASSERT_TRUE(eventually([&] { return l.calls == 2; }));
  EXPECT_FALSE(l.last_ready);
  EXPECT_FALSE(q->ready());
  q->set_listener(nullptr);
}

TEST(XQueue, AnInlineLaunchFailureIsReturnedAndNotSticky) {
  ManualHwQueue hw;
  auto q = make_queue(hw);
  hw.fail_next_launch(XS_ERR_PLATFORM);
  uint64_t id = 0;
  EXPECT_EQ(q->submit(kernel(), &id), XS_ERR_PLATFORM);
  EXPECT_EQ(q->submitted(), 0u);
  ASSERT_EQ(q->submit(kernel(), &id), XS_OK);
  EXPECT_EQ(id, 1u);
  EXPECT_TRUE(hw.persisted_seqs().empty());  // launched at once: nothing to copy
  hw.complete_all();
  EXPECT_EQ(q->wait(id, 1'000'000'000), XS_OK);
  xs_queue_info_t info{};
  q->query(&info);
  EXPECT_EQ(info.error, XS_OK);
}

TEST(XQueue, ADeferredLaunchFailureIsStickyAndNothingHangs) {
  ManualHwQueue hw;
  auto q = make_queue(hw);
  q->suspend(kHoldUser, false);
  uint64_t id = 0;
  ASSERT_EQ(q->submit(kernel(), &id), XS_OK);
  hw.fail_next_launch(XS_ERR_PLATFORM);
  q->resume(kHoldUser);
  EXPECT_EQ(q->wait(id, 1'000'000'000), XS_ERR_PLATFORM);
  EXPECT_EQ(q->submit(kernel(), nullptr), XS_ERR_PLATFORM);
  xs_queue_info_t info{};
  q->query(&info);
  EXPECT_EQ(info.error, XS_ERR_PLATFORM);
}

std::shared_ptr<XQueue> make_backpressured_queue(ManualHwQueue& hw, uint32_t limit, int64_t wait_ns) {
  XQueueOptions o;
  o.window = 4;
  o.backpressure = limit;
  o.backpressure_wait_ns = wait_ns;
  std::shared_ptr<XQueue> q;
  EXPECT_EQ(XQueue::create(hw.hw_queue(), o, &q), XS_OK);
  return q;
}

// Back-pressure: a thread whose queue is held stops producing once `limit`
// commands wait, until the queue runs again; a running queue never waits.
TEST(XQueue, BackpressureHoldsTheSubmitterOfAFullHeldQueueUntilResume) {
  ManualHwQueue hw;
  auto q = make_backpressured_queue(hw, 3, 60'000'000'000);
  for (int i = 0; i < 8; ++i) ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);  // running: never waits
  while (q->launched() < q->submitted()) hw.complete_all();
  hw.complete_all();
  ASSERT_EQ(q->wait_all(-1), XS_OK);
  ASSERT_EQ(q->suspend(kHoldUser, false), XS_OK);
  const uint64_t before = q->submitted();
  std::atomic<int> submitted{0};
  std::thread producer([&] {
    for (int i = 0; i < 6; ++i) {
      ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
      submitted.fetch_add(1);
    }
  });
  // The third held command fills the queue: its submit returns only after resume.
  ASSERT_TRUE(eventually([&] { return q->submitted() == before + 3; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(submitted.load(), 2);
  EXPECT_EQ(q->submitted(), before + 3);
  ASSERT_EQ(q->resume(kHoldUser), XS_OK);
  for (int i = 0; i < 100 && submitted.load() < 6; ++i) {
    hw.complete_all();
    std::this_thread::sleep_for(1ms);
  }
  producer.join();
  EXPECT_EQ(submitted.load(), 6);
  while (q->launched() < q->submitted()) hw.complete_all();
  hw.complete_all();
  EXPECT_EQ(q->wait_all(-1), XS_OK);
}

TEST(XQueue, BackpressureWaitIsBoundedAndEndsAtFlushOrClose) {
  ManualHwQueue hw;
  auto q = make_backpressured_queue(hw, 2, 30'000'000);
  ASSERT_EQ(q->suspend(kHoldUser, false), XS_OK);
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  // Full and held: the wait ends at its bound, the command is kept.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 25ms);
  EXPECT_LT(waited, 5s);
  EXPECT_EQ(q->submitted(), 2u);
  EXPECT_EQ(hw.launched(), 0u);

  // A flush from another thread launches what was held: the waiting submit returns.
  ManualHwQueue hw2;
  auto q2 = make_backpressured_queue(hw2, 2, 60'000'000'000);
  ASSERT_EQ(q2->suspend(kHoldUser, false), XS_OK);
  ASSERT_EQ(q2->submit(kernel(), nullptr), XS_OK);
  std::atomic<bool> returned{false};
  std::thread producer([&] {
    EXPECT_EQ(q2->submit(kernel(), nullptr), XS_OK);
    returned = true;
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(returned.load());
  EXPECT_EQ(q2->flush(), XS_OK);
  ASSERT_TRUE(eventually([&] { return returned.load(); }));
  producer.join();

  // Closing the queue ends a wait too.
  ASSERT_EQ(q2->submit(kernel(), nullptr), XS_OK);
  std::thread producer2([&] { q2->submit(kernel(), nullptr); });
  std::this_thread::sleep_for(20ms);
  q2->close();
  producer2.join();
  hw.complete_all();
  q->resume(kHoldUser);
  while (q->launched() < q->submitted()) hw.complete_all();
  hw.complete_all();
  EXPECT_EQ(q->wait_all(-1), XS_OK);
  while (q2->launched() < q2->submitted()) hw2.complete_all();
  hw2.complete_all();
  EXPECT_EQ(q2->wait_all(-1), XS_OK);
}

TEST(XQueue, FlushLaunchesThroughASuspension) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 2);
  q->suspend(kHoldUser, false);
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) ASSERT_EQ(q->submit(kernel(), &last), XS_OK);
  EXPECT_EQ(hw.launched(), 0u);
  EXPECT_EQ(hw.persisted_seqs(), (std::vector<uint64_t>{1, 2, 3, 4, 5}));  // held back: their data is copied
  EXPECT_TRUE(q->has_unlaunched());
  EXPECT_EQ(q->flush(3), XS_OK);
  EXPECT_EQ(hw.launched_seqs(), (std::vector<uint64_t>{1, 2, 3}));  // past the window of 2 too
  EXPECT_EQ(q->launched(), 3u);
  EXPECT_EQ(q->flush(), XS_OK);
  EXPECT_EQ(q->launched(), 5u);
  EXPECT_FALSE(q->has_unlaunched());
  hw.complete_all();
  EXPECT_EQ(q->wait(last, 5'000'000'000), XS_OK);
  q->resume(kHoldUser);
}

// Priority inheritance: something depends on commands of a held Level 2
// queue. expedite() launches them and lets the hardware queue run until they
// completed, then holds it again; what was not launched stays on the host.
TEST(XQueue, ExpediteRunsAHeldQueueThroughTheCommandThenHoldsItAgain) {
  ManualHwQueue hw(2);
  auto q = make_queue(hw, 8);  // sync points every 4 commands
  uint64_t last = 0;
  for (int i = 0; i < 8; ++i) ASSERT_EQ(q->submit(kernel(), &last), XS_OK);  // in flight: 1..8
  q->suspend(kHoldScheduler, false);
  ASSERT_TRUE(hw.deactivated());
  for (int i = 0; i < 3; ++i) ASSERT_EQ(q->submit(kernel(), &last), XS_OK);  // held on the host: 9..11
  EXPECT_EQ(hw.launched(), 8u);

  EXPECT_EQ(q->expedite(4), XS_OK);
  EXPECT_FALSE(hw.deactivated()) << "the hardware queue must run the expedited commands";
  // A new suspension while expedited does not hold the hardware queue yet.
  q->suspend(kHoldUser, false);
  EXPECT_FALSE(hw.deactivated());
  q->resume(kHoldUser);
  hw.complete(4);
  ASSERT_TRUE(eventually([&] { return q->completed() >= 4; }));
  EXPECT_TRUE(eventually([&] { return hw.deactivated(); })) << "held again once the expedited commands completed";
  EXPECT_EQ(hw.launched(), 8u) << "commands held on the host stay there";

  // Expediting what has completed already changes nothing.
  EXPECT_EQ(q->expedite(2), XS_OK);
  EXPECT_TRUE(hw.deactivated());
  // Expediting held-back commands launches them.
  EXPECT_EQ(q->expedite(9), XS_OK);
  EXPECT_EQ(hw.launched(), 9u);
  EXPECT_FALSE(hw.deactivated());
  hw.complete(5);  // 5..9
  ASSERT_TRUE(eventually([&] { return q->completed() >= 9; }));
  // Nothing in flight any more: nothing to hold (a held gate would only block a hardware channel).
  EXPECT_FALSE(hw.deactivated());

  q->resume(kHoldScheduler);
  ASSERT_TRUE(hw.wait_launched(11));
  hw.complete_all();
  EXPECT_EQ(q->wait(last, 5'000'000'000), XS_OK);
}

// At Level 2 a flush of a held queue runs what it flushes: launched behind
// the held hardware queue, enough commands would fill the native queue and
// block the launch under the queue's lock, which the release needs.
TEST(XQueue, FlushOfAHeldLevelTwoQueueRunsWhatItFlushes) {
  ManualHwQueue hw(2);
  auto q = make_queue(hw, 2);
  uint64_t last = 0;
  ASSERT_EQ(q->submit(kernel(), &last), XS_OK);  // in flight: 1
  q->suspend(kHoldScheduler, false);
  ASSERT_TRUE(hw.deactivated());
  for (int i = 0; i < 5; ++i) ASSERT_EQ(q->submit(kernel(), &last), XS_OK);  // held on the host: 2..6
  EXPECT_EQ(q->flush(4), XS_OK);
  EXPECT_EQ(hw.launched(), 4u);
  EXPECT_FALSE(hw.deactivated()) << "flushed commands must not wait behind the held hardware queue";
  hw.complete(4);
  ASSERT_TRUE(eventually([&] { return q->completed() >= 4; }));
  EXPECT_EQ(hw.launched(), 4u) << "what was not flushed stays held";
  q->resume(kHoldScheduler);
  ASSERT_TRUE(hw.wait_launched(6));
  hw.complete_all();
  EXPECT_EQ(q->wait(last, 5'000'000'000), XS_OK);
}

// At Level 1 there is no hardware hold: expedite() launches, like flush().
TEST(XQueue, ExpediteAtLevelOneLaunchesThroughTheCommand) {
  ManualHwQueue hw(1);
  auto q = make_queue(hw, 2);
  q->suspend(kHoldScheduler, false);
  uint64_t last = 0;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(q->submit(kernel(), &last), XS_OK);
  EXPECT_EQ(q->expedite(2), XS_OK);
  EXPECT_EQ(hw.launched_seqs(), (std::vector<uint64_t>{1, 2}));
  q->resume(kHoldScheduler);
  hw.complete_all();  // the window (2) is full
  ASSERT_TRUE(hw.wait_launched(3));
  hw.complete_all();
  EXPECT_EQ(q->wait(last, 5'000'000'000), XS_OK);
}

TEST(XQueue, RejectsBadOptions) {
  ManualHwQueue hw;
  XQueueOptions o;
  o.window = 0;
  std::shared_ptr<XQueue> q;
  EXPECT_EQ(XQueue::create(hw.hw_queue(), o, &q), XS_ERR_INVALID_ARG);
  EXPECT_TRUE(hw.released());
  ManualHwQueue hw2;
  o = XQueueOptions{};
  o.hints.share = 0;
  EXPECT_EQ(XQueue::create(hw2.hw_queue(), o, &q), XS_ERR_INVALID_ARG);
  ManualHwQueue hw3;
  o = XQueueOptions{};
  o.backpressure_wait_ns = -1;
  EXPECT_EQ(XQueue::create(hw3.hw_queue(), o, &q), XS_ERR_INVALID_ARG);
  EXPECT_EQ(XQueue::create(HwQueue{}, XQueueOptions{}, &q), XS_ERR_INVALID_ARG);
}

TEST(XQueue, ConcurrentSubmitSuspendResumeKeepsOrderAndLosesNothing) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 8);
  constexpr int kThreads = 4, kEach = 500;
  std::atomic<bool> done{false};
  std::thread completer([&] {
    while (!done) {
      hw.complete_all();
      std::this_thread::yield();
    }
  });
  std::thread toggler([&] {
    for (int i = 0; !done; ++i) {
      q->suspend(i % 2 ? kHoldUser : kHoldScheduler, i % 3 == 0);
      std::this_thread::sleep_for(50us);
      q->resume(i % 2 ? kHoldUser : kHoldScheduler);
    }
  });
  std::vector<std::thread> submitters;
  std::vector<std::vector<uint64_t>> ids(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        uint64_t id = 0;
        ASSERT_EQ(q->submit(kernel(), &id), XS_OK);
        ids[t].push_back(id);
        if (i % 50 == 0) {
          ASSERT_EQ(q->wait(id, -1), XS_OK);
        }
      }
    });
  }
  for (auto& s : submitters) s.join();
  ASSERT_EQ(q->wait_all(-1), XS_OK);
  done = true;
  toggler.join();
  completer.join();
  const std::vector<uint64_t> seqs = hw.launched_seqs();
  ASSERT_EQ(seqs.size(), static_cast<std::size_t>(kThreads * kEach));
  for (uint64_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1);
  for (const auto& v : ids) {
    for (std::size_t i = 1; i < v.size(); ++i) {
      ASSERT_LT(v[i - 1], v[i]);  // each thread's own order
    }
  }
}

}  // namespace
}  // namespace xsched

namespace xsched {
namespace {

TEST(XQueueRegression, HugeTimeoutWaitsInsteadOfOverflowing) {
  ManualHwQueue hw;
  auto q = make_queue(hw);
  uint64_t id = 0;
  ASSERT_EQ(q->submit(kernel(), &id), XS_OK);
  std::thread completer([&] {
    std::this_thread::sleep_for(20ms);
    hw.complete_all();
  });
  EXPECT_EQ(q->wait(id, INT64_MAX), XS_OK);  // was XS_ERR_TIMEOUT at once: now + INT64_MAX overflowed
  completer.join();
}

TEST(XQueueRegression, HugeEstimatesDoNotOverflowTheTimeWindow) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 100, XS_LEVEL_AUTO, 10'000'000);
  ASSERT_EQ(q->submit(kernel(INT64_MAX), nullptr), XS_OK);
  ASSERT_EQ(q->submit(kernel(INT64_MAX), nullptr), XS_OK);
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(hw.launched(), 1u);  // the overflowed sum went negative and let the second through
  while (hw.launched() < 2) hw.complete_all();
  hw.complete_all();
  EXPECT_EQ(q->wait_all(-1), XS_OK);
}

TEST(XQueueRegression, CommandsBehindAFailedLaunchAreNotLaunched) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 1);
  uint64_t last = 0;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(q->submit(kernel(), &last), XS_OK);
  ASSERT_EQ(hw.launched(), 1u);
  hw.fail_next_launch(XS_ERR_PLATFORM);
  hw.complete_all();  // the worker now launches command 2, which fails
  EXPECT_EQ(q->wait(last, 5'000'000'000), XS_ERR_PLATFORM);
  EXPECT_EQ(hw.launched_seqs(), (std::vector<uint64_t>{1}));  // command 3 may depend on 2: never launched
}

TEST(XQueueRegression, CloseReleasesHoldsWhileOthersHoldTheQueue) {
  ManualHwQueue hw(2);
  auto q = make_queue(hw);
  q->suspend(kHoldUser, false);
  uint64_t id = 0;
  ASSERT_EQ(q->submit(kernel(), &id), XS_OK);
  std::atomic<xs_result_t> waited{XS_ERR_INTERNAL};
  std::thread waiter([&] { waited = q->wait(id, 5'000'000'000); });
  q->close();
  EXPECT_FALSE(hw.deactivated());
  EXPECT_TRUE(hw.wait_launched(1));
  hw.complete_all();
  waiter.join();
  EXPECT_EQ(waited.load(), XS_OK);
  EXPECT_EQ(q->submit(kernel(), nullptr), XS_ERR_STATE);
}

TEST(XQueueRegression, UpdateHintsChangesOneField) {
  ManualHwQueue hw;
  auto q = make_queue(hw);
  q->set_hints({5, 7, 9, 0});
  q->update_hints([](xs_hints_t& h) { h.priority = 1; });
  const xs_hints_t h = q->hints();
  EXPECT_EQ(h.priority, 1);
  EXPECT_EQ(h.share, 7u);
  EXPECT_EQ(h.timeslice_ns, 9);
}

TEST(XQueue, AnUnboundedWindowLaunchesEverythingAtOnceAndBoundingStopsAgain) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 4);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(hw.launched(), 4u);
  q->set_window_bounded(false);  // what was held back goes at once
  EXPECT_EQ(hw.launched(), 10u);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(hw.launched(), 20u);  // and new commands launch past the window
  q->set_window_bounded(true);
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(hw.launched(), 20u);  // 20 in flight: the window holds the next one
  while (hw.launched() < 21) hw.complete_all();
  hw.complete_all();
  EXPECT_EQ(q->wait_all(5'000'000'000), XS_OK);
}

TEST(XQueue, DeviceCaughtUpTurnsTheQueueIdleWithoutWaitingForTheBurstToSettle) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 8);  // sync interval 4: one command has no sync point
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  hw.complete_all();
  // Without a sync point in flight the worker lets the burst settle (1 ms)
  // before it syncs; told that the device caught up, it syncs at once.
  const auto t0 = std::chrono::steady_clock::now();
  q->device_caught_up(q->launched());
  for (int i = 0; i < 5000 && q->ready(); ++i) std::this_thread::sleep_for(std::chrono::microseconds(100));
  EXPECT_FALSE(q->ready());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  // A burst that nobody waits for still turns idle once it settles.
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  hw.complete_all();
  for (int i = 0; i < 5000 && q->ready(); ++i) std::this_thread::sleep_for(std::chrono::microseconds(100));
  EXPECT_FALSE(q->ready());
}

}  // namespace
}  // namespace xsched

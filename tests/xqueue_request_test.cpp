// What makes the one-process case work by default: request-aware readiness
// (XQueueOptions::request_grace_ns: a queue that runs dry before its program
// synchronised with it stays ready for the grace, so that the gaps between
// the commands of one request do not release less urgent queues; a
// synchronisation ends it at once), and back-pressure that never stops a
// thread that also submits more urgent work.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/xqueue.h"
#include "manual_hw_queue.h"
#include "xqueue_helpers.h"

namespace xsched {
namespace {

using testing::ManualHwQueue;
using namespace std::chrono_literals;

constexpr int64_t kLongGraceNs = 10'000'000'000;  // longer than any check below waits

std::shared_ptr<XQueue> make_queue(ManualHwQueue& hw, int64_t grace_ns) {
  XQueueOptions o;
  o.window = 4;
  o.request_grace_ns = grace_ns;
  std::shared_ptr<XQueue> q;
  EXPECT_EQ(XQueue::create(hw.hw_queue(), o, &q), XS_OK);
  return q;
}

using testing::kernel;

template <class F>
bool eventually(F cond) {
  for (int i = 0; i < 5000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return cond();
}

// Waits until the worker has seen every command complete (the queue is dry).
void wait_dry(XQueue& q) {
  ASSERT_TRUE(eventually([&] { return q.completed() == q.submitted(); }));
  std::this_thread::sleep_for(20ms);  // the worker's turn after its last completion
}

TEST(XQueueRequest, ADryQueueWhoseProgramDidNotSynchroniseStaysReady) {
  ManualHwQueue hw;
  auto q = make_queue(hw, kLongGraceNs);
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  hw.complete_all();
  wait_dry(*q);
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(q->ready()) << "the gap between two commands of a request released the queue";

  // The next command of the request; then the program waits for it: done at once.
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  hw.complete_all();
  ASSERT_EQ(q->wait_all(-1), XS_OK);
  EXPECT_TRUE(eventually([&] { return !q->ready(); })) << "a synchronised queue should be idle at once";
}

TEST(XQueueRequest, TheProgramsOwnSynchronisationEndsTheGrace) {
  ManualHwQueue hw;
  auto q = make_queue(hw, kLongGraceNs);
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  hw.complete_all();
  wait_dry(*q);
  EXPECT_TRUE(q->ready());
  q->device_caught_up(q->submitted());  // as after the program's cuStreamSynchronize
  EXPECT_TRUE(eventually([&] { return !q->ready(); }));
}

TEST(XQueueRequest, AWaitBeforeTheQueueRunsDryCounts) {
  ManualHwQueue hw;
  auto q = make_queue(hw, kLongGraceNs);
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    hw.complete_all();
  });
  ASSERT_EQ(q->wait_all(-1), XS_OK);
  t.join();
  EXPECT_TRUE(eventually([&] { return !q->ready(); }));
}

TEST(XQueueRequest, TheGraceEnds) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 200'000'000);
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  hw.complete_all();
  EXPECT_TRUE(eventually([&] { return !q->ready(); })) << "a program that never synchronises keeps its queue ready";
}

TEST(XQueueRequest, WithoutAGraceADryQueueIsIdle) {
  ManualHwQueue hw;
  auto q = make_queue(hw, 0);
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  hw.complete_all();
  EXPECT_TRUE(eventually([&] { return !q->ready(); }));
}

TEST(XQueueRequest, ClosingAQueueInItsGraceDoesNotWaitForIt) {
  ManualHwQueue hw;
  auto q = make_queue(hw, kLongGraceNs);
  ASSERT_EQ(q->submit(kernel(), nullptr), XS_OK);
  hw.complete_all();
  wait_dry(*q);
  const auto start = std::chrono::steady_clock::now();
  q->close();
  q.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

std::shared_ptr<XQueue> make_backpressured(ManualHwQueue& hw, int32_t priority, int64_t wait_ns) {
  XQueueOptions o;
  o.window = 1;
  o.backpressure = 2;
  o.backpressure_wait_ns = wait_ns;
  o.hints = {priority, 1, 0, 0};
  std::shared_ptr<XQueue> q;
  EXPECT_EQ(XQueue::create(hw.hw_queue(), o, &q), XS_OK);
  return q;
}

// Submits n commands to q from a new thread (after one to `first`, if given)
// and returns how long the submits to q took.
std::chrono::milliseconds submit_from_thread(XQueue* first, XQueue& q, int n) {
  std::chrono::milliseconds took{};
  std::thread t([&] {
    if (first != nullptr) {
      EXPECT_EQ(first->submit(kernel(), nullptr), XS_OK);
    }
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) EXPECT_EQ(q.submit(kernel(), nullptr), XS_OK);
    took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  });
  t.join();
  return took;
}

TEST(XQueueBackpressure, AThreadThatAlsoSubmitsMoreUrgentWorkIsNeverStopped) {
  ManualHwQueue hw_hi, hw_lo;
  auto hi = make_backpressured(hw_hi, 10, kLongGraceNs);
  auto lo = make_backpressured(hw_lo, 0, kLongGraceNs);  // a stopped submit would wait 10 s
  ASSERT_EQ(lo->suspend(kHoldScheduler, false), XS_OK);
  EXPECT_LT(submit_from_thread(hi.get(), *lo, 6), 5s) << "a thread with urgent work waited for its held queue";
  ASSERT_EQ(lo->resume(kHoldScheduler), XS_OK);
  hw_hi.complete_all();
  hw_lo.complete_all();
  for (int i = 0; i < 50 && lo->completed() < lo->submitted(); ++i) {
    hw_lo.complete_all();
    std::this_thread::sleep_for(10ms);
  }
}

TEST(XQueueBackpressure, AThreadThatOnlySubmitsHeldWorkWaits) {
  ManualHwQueue hw;
  auto lo = make_backpressured(hw, 0, 200'000'000);
  ASSERT_EQ(lo->suspend(kHoldScheduler, false), XS_OK);
  // Three held commands: the third submit leaves 2+ held and waits its 200 ms.
  EXPECT_GE(submit_from_thread(nullptr, *lo, 3), 150ms);
  ASSERT_EQ(lo->resume(kHoldScheduler), XS_OK);
  for (int i = 0; i < 50 && lo->completed() < lo->submitted(); ++i) {
    hw.complete_all();
    std::this_thread::sleep_for(10ms);
  }
}

}  // namespace
}  // namespace xsched

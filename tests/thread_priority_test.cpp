// Priority scopes (xs_thread_priority_*) and process-wide hints
// (xs_set_process_hints) through the C API, on the CPU reference device:
// which queues a scope changes, what they go back to, nesting, several
// threads, a thread that exits inside a scope, and the scheduling a scope
// causes.
#include "xsched/xsched.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <thread>

// Allocation failures on demand, for the calling thread: after
// t_allocations_left more allocations, the next one throws. Not under the
// sanitizers: they bring their own operator new, and replacing it here
// would pair their allocations with this file's free().
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define XSCHED_TEST_FAILING_NEW 1
namespace {
thread_local long t_allocations_left = -1;  // -1: none fails
}  // namespace

void* operator new(std::size_t n) {
  if (t_allocations_left >= 0 && t_allocations_left-- == 0) throw std::bad_alloc();
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
// GCC pairs the free() with the callers' new-expressions: these are the
// operator new above, which allocates with malloc().
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif

namespace {

// A one-unit host device with two streams, each under an XQueue.
struct Scopes : ::testing::Test {
  void SetUp() override {
    ASSERT_EQ(xs_host_device_create(1, &dev), XS_OK);
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(xs_host_stream_create(dev, &streams[i]), XS_OK);
      ASSERT_EQ(xs_queue_create(XS_PLATFORM_HOST, streams[i], nullptr, &queues[i]), XS_OK);
    }
  }
  void TearDown() override {
    while (xs_thread_priority_pop() == XS_OK) {
    }
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(xs_queue_destroy(queues[i]), XS_OK);
      EXPECT_EQ(xs_host_stream_destroy(streams[i]), XS_OK);
    }
    EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
  }

  static int32_t priority_of(xs_queue_t q) {
    xs_queue_info_t info;
    xs_queue_info_init(&info);
    EXPECT_EQ(xs_queue_query(q, &info), XS_OK);
    return info.hints.priority;
  }
  // A kernel of `us` microseconds.
  static xs_result_t submit(xs_queue_t q, uint64_t us) {
    const xs_host_kernel_t k{us * 1000, nullptr, nullptr};
    xs_command_t c{};
    c.kind = XS_CMD_KERNEL;
    c.est_ns = static_cast<int64_t>(us * 1000);
    c.u.kernel.desc = &k;
    c.u.kernel.desc_size = sizeof k;
    return xs_queue_submit(q, &c, nullptr);
  }

  xs_host_device_t dev = nullptr;
  xs_host_stream_t streams[2] = {};
  xs_queue_t queues[2] = {};
};

#ifdef XSCHED_TEST_FAILING_NEW
// Scopes used for the first time in a process, with allocation n failing:
// exits 0 unless the failure surfaced wrongly (std::terminate aborts).
[[noreturn]] void first_scope_with_allocation_failing(long n) {
  xs_host_device_t dev = nullptr;
  xs_host_stream_t stream = nullptr;
  xs_queue_t q = nullptr;
  if (xs_host_device_create(1, &dev) != XS_OK || xs_host_stream_create(dev, &stream) != XS_OK ||
      xs_queue_create(XS_PLATFORM_HOST, stream, nullptr, &q) != XS_OK) {
    std::_Exit(3);
  }
  const xs_host_kernel_t k{0, nullptr, nullptr};
  xs_command_t c{};
  c.kind = XS_CMD_KERNEL;
  c.u.kernel.desc = &k;
  c.u.kernel.desc_size = sizeof k;
  t_allocations_left = n;
  const xs_result_t pushed = xs_thread_priority_push(5);
  xs_queue_submit(q, &c, nullptr);
  if (pushed == XS_OK) xs_thread_priority_pop();
  t_allocations_left = -1;
  std::_Exit(pushed == XS_OK || pushed == XS_ERR_NO_MEMORY ? 0 : 4);
}

// Each allocation in turn failing: every failure is a result or a queue left
// at its priority, never an exception out of a noexcept function. Each case
// runs in a fresh process, where the scopes' registry is not made yet.
TEST(ScopesOutOfMemory, FirstUseNeverTerminates) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (long n = 0; n < 24; ++n) {
    EXPECT_EXIT(first_scope_with_allocation_failing(n), ::testing::ExitedWithCode(0), "") << "allocation " << n
                                                                                             << " failing";
  }
}
#endif

TEST_F(Scopes, NoScopeIsAnError) {
  int32_t p = 0;
  EXPECT_EQ(xs_thread_priority_get(&p), XS_ERR_STATE);
  EXPECT_EQ(xs_thread_priority_get(nullptr), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_thread_priority_pop(), XS_ERR_STATE);
}

TEST_F(Scopes, ScopeGivesItsPriorityToTheQueuesTheThreadSubmitsTo) {
  xs_queue_t a = queues[0], b = queues[1];
  ASSERT_EQ(xs_thread_priority_push(7), XS_OK);
  int32_t p = 0;
  ASSERT_EQ(xs_thread_priority_get(&p), XS_OK);
  EXPECT_EQ(p, 7);
  EXPECT_EQ(priority_of(a), 0) << "nothing changes before the thread submits";
  ASSERT_EQ(submit(a, 0), XS_OK);
  EXPECT_EQ(priority_of(a), 7);
  EXPECT_EQ(priority_of(b), 0);

  ASSERT_EQ(xs_thread_priority_push(-3), XS_OK);  // nested, lower
  ASSERT_EQ(submit(a, 0), XS_OK);
  ASSERT_EQ(submit(b, 0), XS_OK);
  EXPECT_EQ(priority_of(a), -3);
  EXPECT_EQ(priority_of(b), -3);
  ASSERT_EQ(xs_thread_priority_pop(), XS_OK);
  EXPECT_EQ(priority_of(a), 7) << "the outer scope covers a again";
  EXPECT_EQ(priority_of(b), 0) << "the outer scope never covered b";
  ASSERT_EQ(xs_thread_priority_pop(), XS_OK);
  EXPECT_EQ(priority_of(a), 0);
  EXPECT_EQ(xs_queue_wait_all(a, XS_WAIT_FOREVER), XS_OK);
  EXPECT_EQ(xs_queue_wait_all(b, XS_WAIT_FOREVER), XS_OK);
}

TEST_F(Scopes, QueueGoesBackToItsOwnPriorityEvenIfSetDuringTheScope) {
  xs_queue_t a = queues[0];
  ASSERT_EQ(xs_queue_set_priority(a, 2), XS_OK);
  ASSERT_EQ(xs_thread_priority_push(9), XS_OK);
  ASSERT_EQ(submit(a, 0), XS_OK);
  EXPECT_EQ(priority_of(a), 9);
  ASSERT_EQ(xs_thread_priority_pop(), XS_OK);
  EXPECT_EQ(priority_of(a), 2);

  ASSERT_EQ(xs_thread_priority_push(9), XS_OK);
  ASSERT_EQ(submit(a, 0), XS_OK);
  ASSERT_EQ(xs_queue_set_priority(a, 5), XS_OK);  // explicit: the queue's own now
  ASSERT_EQ(submit(a, 0), XS_OK);
  EXPECT_EQ(priority_of(a), 5) << "the scope undid an explicit setting";
  ASSERT_EQ(xs_thread_priority_pop(), XS_OK);
  EXPECT_EQ(priority_of(a), 5);
  EXPECT_EQ(xs_queue_wait_all(a, XS_WAIT_FOREVER), XS_OK);
}

TEST_F(Scopes, ScopesOfTwoThreadsEndInEitherOrder) {
  xs_queue_t a = queues[0];
  for (const bool first_ends_first : {true, false}) {
    std::atomic<int> step{0};
    auto wait_for = [&](int n) {
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (step.load() < n && std::chrono::steady_clock::now() < end) std::this_thread::yield();
      EXPECT_GE(step.load(), n);
    };
    std::thread first([&] {
      EXPECT_EQ(xs_thread_priority_push(4), XS_OK);
      EXPECT_EQ(submit(a, 0), XS_OK);
      step = 1;
      wait_for(first_ends_first ? 2 : 3);
      EXPECT_EQ(xs_thread_priority_pop(), XS_OK);
      if (first_ends_first) step = 3;
    });
    std::thread second([&] {
      wait_for(1);
      EXPECT_EQ(xs_thread_priority_push(6), XS_OK);
      EXPECT_EQ(submit(a, 0), XS_OK);
      EXPECT_EQ(priority_of(a), 6);
      step = 2;
      if (first_ends_first) {
        wait_for(3);
        EXPECT_EQ(priority_of(a), 6) << "the first scope's end took the second's priority away";
      }
      EXPECT_EQ(xs_thread_priority_pop(), XS_OK);
      if (!first_ends_first) {
        EXPECT_EQ(priority_of(a), 4) << "the first scope still covers the queue";
        step = 3;
      }
    });
    first.join();
    second.join();
    EXPECT_EQ(priority_of(a), 0);
  }
  EXPECT_EQ(xs_queue_wait_all(a, XS_WAIT_FOREVER), XS_OK);
}

TEST_F(Scopes, ThreadThatExitsInsideAScopeEndsIt) {
  xs_queue_t a = queues[0];
  std::thread t([&] {
    EXPECT_EQ(xs_thread_priority_push(8), XS_OK);
    EXPECT_EQ(xs_thread_priority_push(9), XS_OK);
    EXPECT_EQ(submit(a, 0), XS_OK);
  });
  t.join();
  EXPECT_EQ(priority_of(a), 0);
  EXPECT_EQ(xs_queue_wait_all(a, XS_WAIT_FOREVER), XS_OK);
}

TEST_F(Scopes, NestingIsBounded) {
  int pushed = 0;
  while (xs_thread_priority_push(pushed) == XS_OK && pushed < 5000) ++pushed;
  EXPECT_EQ(pushed, 1024);
  int32_t p = 0;
  ASSERT_EQ(xs_thread_priority_get(&p), XS_OK);
  EXPECT_EQ(p, 1023);
}

// Work submitted in a high scope holds the lower queue, as work of a
// high-priority queue would: the scope changes the queue's priority before
// the command arrives, and the scheduler decides in the submitting thread.
TEST_F(Scopes, ScopeHoldsTheLowerQueue) {
  xs_queue_t low = queues[0], urgent = queues[1];
  auto suspended = [](xs_queue_t q) {
    xs_queue_info_t info;
    xs_queue_info_init(&info);
    EXPECT_EQ(xs_queue_query(q, &info), XS_OK);
    return info.suspended != 0;
  };
  for (int i = 0; i < 5; ++i) ASSERT_EQ(submit(low, 2000), XS_OK);
  ASSERT_EQ(submit(urgent, 20'000), XS_OK);  // without a scope: the same priority, both run
  EXPECT_FALSE(suspended(low));
  ASSERT_EQ(xs_queue_wait_all(urgent, XS_WAIT_FOREVER), XS_OK);

  for (int i = 0; i < 5; ++i) ASSERT_EQ(submit(low, 2000), XS_OK);
  ASSERT_EQ(xs_thread_priority_push(10), XS_OK);
  ASSERT_EQ(submit(urgent, 50'000), XS_OK);
  EXPECT_TRUE(suspended(low)) << "the scope's work did not hold the lower queue";
  ASSERT_EQ(xs_queue_wait_all(urgent, XS_WAIT_FOREVER), XS_OK);
  ASSERT_EQ(xs_thread_priority_pop(), XS_OK);
  ASSERT_EQ(xs_queue_wait_all(low, XS_WAIT_FOREVER), XS_OK);
  EXPECT_FALSE(suspended(low));
}

TEST(ProcessHints, ApplyToEveryQueueAndToLaterOnes) {
  xs_host_device_t dev = nullptr;
  xs_host_stream_t s1 = nullptr, s2 = nullptr;
  xs_queue_t q1 = nullptr, q2 = nullptr;
  ASSERT_EQ(xs_host_device_create(1, &dev), XS_OK);
  ASSERT_EQ(xs_host_stream_create(dev, &s1), XS_OK);
  ASSERT_EQ(xs_host_stream_create(dev, &s2), XS_OK);
  ASSERT_EQ(xs_queue_create(XS_PLATFORM_HOST, s1, nullptr, &q1), XS_OK);

  const xs_hints_t h{6, 3, 0, 2'000'000};
  ASSERT_EQ(xs_set_process_hints(XS_HINT_PRIORITY | XS_HINT_SHARE | XS_HINT_DEADLINE, &h), XS_OK);
  ASSERT_EQ(xs_queue_create(XS_PLATFORM_HOST, s2, nullptr, &q2), XS_OK);
  for (xs_queue_t q : {q1, q2}) {
    xs_queue_info_t info;
    xs_queue_info_init(&info);
    ASSERT_EQ(xs_queue_query(q, &info), XS_OK);
    EXPECT_EQ(info.hints.priority, 6);
    EXPECT_EQ(info.hints.share, 3u);
    EXPECT_EQ(info.hints.deadline_ns, 2'000'000);
  }
  const xs_hints_t share_only{-50, 5, 0, 0};
  ASSERT_EQ(xs_set_process_hints(XS_HINT_SHARE, &share_only), XS_OK);
  xs_queue_info_t info;
  xs_queue_info_init(&info);
  ASSERT_EQ(xs_queue_query(q1, &info), XS_OK);
  EXPECT_EQ(info.hints.priority, 6) << "a field not named changed";
  EXPECT_EQ(info.hints.share, 5u);

  const xs_hints_t bad{0, 0, 0, -1};
  EXPECT_EQ(xs_set_process_hints(0, &h), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_set_process_hints(16, &h), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_set_process_hints(XS_HINT_PRIORITY, nullptr), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_set_process_hints(XS_HINT_SHARE, &bad), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_set_process_hints(XS_HINT_DEADLINE, &bad), XS_ERR_INVALID_ARG);

  const xs_hints_t defaults{0, 1, 0, 0};
  ASSERT_EQ(xs_set_process_hints(XS_HINT_PRIORITY | XS_HINT_SHARE | XS_HINT_DEADLINE, &defaults), XS_OK);
  EXPECT_EQ(xs_queue_destroy(q1), XS_OK);
  EXPECT_EQ(xs_queue_destroy(q2), XS_OK);
  EXPECT_EQ(xs_host_stream_destroy(s1), XS_OK);
  EXPECT_EQ(xs_host_stream_destroy(s2), XS_OK);
  EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
}

}  // namespace

// The public C API: round trips on the CPU reference device, and every error
// path answered with a code, never a crash.
#include "xsched/xsched.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "c_api_helpers.h"

namespace {

// A device with one stream and an XQueue over it.
void open_queue(xs_host_device_t* dev, xs_host_stream_t* s, xs_queue_t* q) {
  ASSERT_EQ(xs_host_device_create(1, dev), XS_OK);
  ASSERT_EQ(xs_host_stream_create(*dev, s), XS_OK);
  ASSERT_EQ(xs_queue_create(XS_PLATFORM_HOST, *s, nullptr, q), XS_OK);
}

struct Fixture : ::testing::Test {
  void SetUp() override { open_queue(&dev, &stream, &q); }
  void TearDown() override {
    EXPECT_EQ(xs_queue_destroy(q), XS_OK);
    EXPECT_EQ(xs_host_stream_destroy(stream), XS_OK);
    EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
  }
  xs_host_device_t dev = nullptr;
  xs_host_stream_t stream = nullptr;
  xs_queue_t q = nullptr;
};

xs_command_t host_func(xs_host_fn fn, void* arg) {
  xs_command_t c{};
  c.kind = XS_CMD_HOST_FUNC;
  c.u.host_func.fn = fn;
  c.u.host_func.arg = arg;
  return c;
}

xs_command_t kernel(const xs_host_kernel_t* k) { return xsched::testing::host_kernel(k); }

void append(void* arg) {
  auto* v = static_cast<std::vector<int>*>(arg);
  v->push_back(static_cast<int>(v->size()));
}

using Api = Fixture;

TEST_F(Api, CommandsRunInOrderWithTheirOperands) {
  std::vector<int> order;
  char src[16] = "xsched";
  char dst[16] = {};
  char fill[8] = {};
  xs_command_t copy{};
  copy.kind = XS_CMD_COPY;
  copy.u.copy = {dst, src, sizeof(src)};
  xs_command_t set{};
  set.kind = XS_CMD_MEMSET;
  set.u.memset = {fill, 0x5a, sizeof(fill)};
  const xs_host_kernel_t k{1'000'000, &append, &order};
  const xs_command_t f = host_func(&append, &order);
  uint64_t id = 0;
  ASSERT_EQ(xs_queue_submit(q, &f, nullptr), XS_OK);
  const xs_command_t kc = kernel(&k);
  ASSERT_EQ(xs_queue_submit(q, &kc, nullptr), XS_OK);
  ASSERT_EQ(xs_queue_submit(q, &copy, nullptr), XS_OK);
  ASSERT_EQ(xs_queue_submit(q, &set, &id), XS_OK);
  ASSERT_EQ(xs_queue_submit(q, &f, nullptr), XS_OK);
  EXPECT_EQ(id, 4u);
  ASSERT_EQ(xs_queue_wait_all(q, XS_WAIT_FOREVER), XS_OK);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_STREQ(dst, "xsched");
  for (char c : fill) EXPECT_EQ(c, 0x5a);
  xs_queue_info_t info;
  xs_queue_info_init(&info);
  ASSERT_EQ(xs_queue_query(q, &info), XS_OK);
  EXPECT_EQ(info.submitted, 5u);
  EXPECT_EQ(info.completed, 5u);
  EXPECT_EQ(info.ready, 0);
  EXPECT_EQ(info.level, XS_LEVEL_INTERRUPT);  // AUTO: the host device has every level
  EXPECT_EQ(info.error, XS_OK);
}

TEST_F(Api, EventsOrderWorkAcrossQueues) {
  xs_host_stream_t s2 = nullptr;
  xs_queue_t q2 = nullptr;
  xs_host_event_t ev = nullptr;
  ASSERT_EQ(xs_host_stream_create(dev, &s2), XS_OK);
  ASSERT_EQ(xs_queue_create(XS_PLATFORM_HOST, s2, nullptr, &q2), XS_OK);
  ASSERT_EQ(xs_host_event_create(dev, &ev), XS_OK);
  EXPECT_EQ(xs_host_event_query(ev), XS_OK);  // never recorded

  std::atomic<int> step{0};
  int seen_by_second = -1;
  struct Ctx { std::atomic<int>* step; int* seen; } ctx{&step, &seen_by_second};
  ASSERT_EQ(xs_queue_suspend(q, 0), XS_OK);  // holds the recording queue
  const xs_host_kernel_t k{5'000'000, [](void* a) { static_cast<std::atomic<int>*>(a)->store(1); }, &step};
  const xs_command_t kc = kernel(&k);
  xs_command_t rec{};
  rec.kind = XS_CMD_EVENT_RECORD;
  rec.u.event.event = ev;
  xs_command_t wait = rec;
  wait.kind = XS_CMD_EVENT_WAIT;
  ASSERT_EQ(xs_queue_submit(q, &kc, nullptr), XS_OK);
  ASSERT_EQ(xs_queue_submit(q, &rec, nullptr), XS_OK);
  ASSERT_EQ(xs_queue_submit(q2, &wait, nullptr), XS_OK);
  const xs_command_t after = host_func([](void* a) {
    auto* c = static_cast<Ctx*>(a);
    *c->seen = c->step->load();
  }, &ctx);
  ASSERT_EQ(xs_queue_submit(q2, &after, nullptr), XS_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(seen_by_second, -1);  // the wait holds q2 while q is suspended
  EXPECT_EQ(xs_host_event_query(ev), XS_ERR_STATE);
  ASSERT_EQ(xs_queue_resume(q), XS_OK);
  ASSERT_EQ(xs_queue_wait_all(q2, XS_WAIT_FOREVER), XS_OK);
  EXPECT_EQ(seen_by_second, 1);
  EXPECT_EQ(xs_host_event_query(ev), XS_OK);
  EXPECT_EQ(xs_queue_destroy(q2), XS_OK);
  EXPECT_EQ(xs_host_event_destroy(ev), XS_OK);
  EXPECT_EQ(xs_host_stream_destroy(s2), XS_OK);
}

TEST_F(Api, HintsAndSuspension) {
  xs_hints_t h{7, 3, 1'000'000, 0};
  ASSERT_EQ(xs_queue_set_hints(q, &h), XS_OK);
  ASSERT_EQ(xs_queue_set_priority(q, -4), XS_OK);
  ASSERT_EQ(xs_queue_set_share(q, 9), XS_OK);
  xs_queue_info_t info;
  xs_queue_info_init(&info);
  ASSERT_EQ(xs_queue_query(q, &info), XS_OK);
  EXPECT_EQ(info.hints.priority, -4);
  EXPECT_EQ(info.hints.share, 9u);
  EXPECT_EQ(info.hints.timeslice_ns, 1'000'000);
  ASSERT_EQ(xs_queue_suspend(q, XS_SUSPEND_SYNC), XS_OK);
  ASSERT_EQ(xs_queue_query(q, &info), XS_OK);
  EXPECT_EQ(info.suspended, 1);
  const xs_host_kernel_t k{1'000'000, nullptr, nullptr};
  const xs_command_t kc = kernel(&k);
  uint64_t id = 0;
  ASSERT_EQ(xs_queue_submit(q, &kc, &id), XS_OK);
  EXPECT_EQ(xs_queue_wait(q, id, 20'000'000), XS_ERR_TIMEOUT);
  ASSERT_EQ(xs_queue_resume(q), XS_OK);
  EXPECT_EQ(xs_queue_wait(q, id, XS_WAIT_FOREVER), XS_OK);
}

TEST_F(Api, InvalidArgumentsAreRejected) {
  xs_command_t c{};
  EXPECT_EQ(xs_queue_submit(q, nullptr, nullptr), XS_ERR_INVALID_ARG);
  c.kind = static_cast<xs_command_kind_t>(99);
  EXPECT_EQ(xs_queue_submit(q, &c, nullptr), XS_ERR_INVALID_ARG);
  c = xs_command_t{};
  c.kind = XS_CMD_KERNEL;  // no descriptor
  EXPECT_EQ(xs_queue_submit(q, &c, nullptr), XS_ERR_INVALID_ARG);
  const uint64_t small = 5;
  c.u.kernel.desc = &small;
  c.u.kernel.desc_size = sizeof(small);  // not an xs_host_kernel_t
  EXPECT_EQ(xs_queue_submit(q, &c, nullptr), XS_ERR_INVALID_ARG);
  const xs_host_kernel_t k{0, nullptr, nullptr};
  c = kernel(&k);
  c.est_ns = -1;
  EXPECT_EQ(xs_queue_submit(q, &c, nullptr), XS_ERR_INVALID_ARG);
  c = xs_command_t{};
  c.kind = XS_CMD_COPY;
  c.u.copy.bytes = 8;  // null pointers
  EXPECT_EQ(xs_queue_submit(q, &c, nullptr), XS_ERR_INVALID_ARG);
  c.kind = XS_CMD_MEMSET;
  c.u.memset = {nullptr, 0, 8};
  EXPECT_EQ(xs_queue_submit(q, &c, nullptr), XS_ERR_INVALID_ARG);
  c = host_func(nullptr, nullptr);
  EXPECT_EQ(xs_queue_submit(q, &c, nullptr), XS_ERR_INVALID_ARG);
  c = xs_command_t{};
  c.kind = XS_CMD_EVENT_WAIT;
  c.u.event.event = reinterpret_cast<void*>(0x1234);
  EXPECT_EQ(xs_queue_submit(q, &c, nullptr), XS_ERR_INVALID_HANDLE);
  c.kind = XS_CMD_GRAPH;
  EXPECT_EQ(xs_queue_submit(q, &c, nullptr), XS_ERR_UNSUPPORTED);

  EXPECT_EQ(xs_queue_wait(q, 0, 0), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_queue_wait(q, 1000, 0), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_queue_suspend(q, 0x80), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_queue_set_hints(q, nullptr), XS_ERR_INVALID_ARG);
  xs_hints_t bad{0, 0, 0, 0};
  EXPECT_EQ(xs_queue_set_hints(q, &bad), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_queue_set_share(q, 0), XS_ERR_INVALID_ARG);
  xs_queue_info_t info{};
  EXPECT_EQ(xs_queue_query(q, &info), XS_ERR_INVALID_ARG);  // struct_size unset
  EXPECT_EQ(xs_queue_query(q, nullptr), XS_ERR_INVALID_ARG);
  // Nothing above reached the device or poisoned the queue.
  xs_queue_info_init(&info);
  ASSERT_EQ(xs_queue_query(q, &info), XS_OK);
  EXPECT_EQ(info.submitted, 0u);
  EXPECT_EQ(info.error, XS_OK);
}

TEST(ApiHandles, StaleForgedAndWrongTypeHandlesAreRejected) {
  xs_host_device_t dev = nullptr;
  xs_host_stream_t s = nullptr;
  xs_queue_t q = nullptr;
  open_queue(&dev, &s, &q);
  ASSERT_EQ(xs_queue_destroy(q), XS_OK);
  EXPECT_EQ(xs_queue_destroy(q), XS_ERR_INVALID_HANDLE);
  EXPECT_EQ(xs_queue_resume(q), XS_ERR_INVALID_HANDLE);
  EXPECT_EQ(xs_queue_wait_all(nullptr, 0), XS_ERR_INVALID_HANDLE);
  EXPECT_EQ(xs_queue_resume(reinterpret_cast<xs_queue_t>(s)), XS_ERR_INVALID_HANDLE);  // a stream, not a queue
  EXPECT_EQ(xs_queue_resume(reinterpret_cast<xs_queue_t>(0xdeadbeef)), XS_ERR_INVALID_HANDLE);
  EXPECT_EQ(xs_host_stream_create(reinterpret_cast<xs_host_device_t>(s), &s), XS_ERR_INVALID_HANDLE);
  EXPECT_EQ(xs_queue_create(XS_PLATFORM_HOST, reinterpret_cast<void*>(0x42), nullptr, &q), XS_ERR_INVALID_HANDLE);
  EXPECT_EQ(xs_queue_create(XS_PLATFORM_HOST, s, nullptr, nullptr), XS_ERR_INVALID_ARG);
  {
    // No driver (the CUDA platform then refuses before it looks at the
    // stream), or a build without CUDA.
    setenv("XSCHED_REAL_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
    const xs_result_t r = xs_queue_create(XS_PLATFORM_CUDA, s, nullptr, &q);
    EXPECT_TRUE(r == XS_ERR_STATE || r == XS_ERR_UNSUPPORTED) << r;
  }
  EXPECT_EQ(xs_queue_create(static_cast<xs_platform_t>(9), s, nullptr, &q), XS_ERR_INVALID_ARG);
  xs_queue_config_t cfg;
  xs_queue_config_init(&cfg);
  cfg.level = static_cast<xs_level_t>(4);
  EXPECT_EQ(xs_queue_create(XS_PLATFORM_HOST, s, &cfg, &q), XS_ERR_INVALID_ARG);
  xs_queue_config_init(&cfg);
  cfg.struct_size = 4;
  EXPECT_EQ(xs_queue_create(XS_PLATFORM_HOST, s, &cfg, &q), XS_ERR_INVALID_ARG);
  xs_queue_config_init(&cfg);
  cfg.window = 1u << 20;
  EXPECT_EQ(xs_queue_create(XS_PLATFORM_HOST, s, &cfg, &q), XS_ERR_INVALID_ARG);
  cfg.window = 0;  // the default
  cfg.window_ns = -5;
  EXPECT_EQ(xs_queue_create(XS_PLATFORM_HOST, s, &cfg, &q), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_host_device_create(1, nullptr), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_host_device_create(100000, &dev), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_host_event_query(nullptr), XS_ERR_INVALID_HANDLE);
  EXPECT_EQ(xs_host_stream_destroy(s), XS_OK);
  EXPECT_EQ(xs_host_stream_destroy(s), XS_ERR_INVALID_HANDLE);
  EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
  EXPECT_EQ(xs_host_device_destroy(dev), XS_ERR_INVALID_HANDLE);
}

TEST(ApiHandles, DestroyWithPendingWorkCompletesIt) {
  xs_host_device_t dev = nullptr;
  xs_host_stream_t s = nullptr;
  xs_queue_t q = nullptr;
  open_queue(&dev, &s, &q);
  std::vector<int> order;
  ASSERT_EQ(xs_queue_suspend(q, 0), XS_OK);
  const xs_command_t f = host_func(&append, &order);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(xs_queue_submit(q, &f, nullptr), XS_OK);
  ASSERT_EQ(xs_queue_destroy(q), XS_OK);  // suspended, 20 pending: all run
  EXPECT_EQ(order.size(), 20u);
  EXPECT_EQ(xs_host_stream_destroy(s), XS_OK);
  EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
}

TEST(ApiMisc, ResultStringsPoliciesAndVersion) {
  for (int r = XS_OK; r <= XS_ERR_INTERNAL; ++r) {
    EXPECT_GT(std::strlen(xs_result_string(static_cast<xs_result_t>(r))), 3u);
  }
  EXPECT_STREQ(xs_result_string(static_cast<xs_result_t>(1234)), "unknown result code");
  for (xs_policy_t p : {XS_POLICY_NONE, XS_POLICY_PRIORITY, XS_POLICY_BANDWIDTH}) {
    xs_policy_t back{};
    ASSERT_EQ(xs_policy_from_name(xs_policy_name(p), &back), XS_OK);
    EXPECT_EQ(back, p);
    ASSERT_EQ(xs_set_policy(p), XS_OK);
    ASSERT_EQ(xs_get_policy(&back), XS_OK);
    EXPECT_EQ(back, p);
  }
  xs_policy_t out{};
  EXPECT_EQ(xs_policy_from_name("fifo", &out), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_policy_from_name(nullptr, &out), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_set_policy(static_cast<xs_policy_t>(7)), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_get_policy(nullptr), XS_ERR_INVALID_ARG);
  EXPECT_STREQ(xs_policy_name(static_cast<xs_policy_t>(7)), "unknown");
  EXPECT_EQ(xs_version(), 200u);
}

}  // namespace

namespace {

TEST_F(Api, EventMayBeDestroyedRightAfterSubmit) {
  xs_host_event_t ev = nullptr;
  ASSERT_EQ(xs_host_event_create(dev, &ev), XS_OK);
  ASSERT_EQ(xs_queue_suspend(q, 0), XS_OK);  // the record stays buffered on the host
  xs_command_t rec{};
  rec.kind = XS_CMD_EVENT_RECORD;
  rec.u.event.event = ev;
  ASSERT_EQ(xs_queue_submit(q, &rec, nullptr), XS_OK);
  ASSERT_EQ(xs_host_event_destroy(ev), XS_OK);
  ASSERT_EQ(xs_queue_resume(q), XS_OK);  // launching it used the freed event (AddressSanitizer saw it)
  EXPECT_EQ(xs_queue_wait_all(q, 5'000'000'000), XS_OK);
}

TEST(ApiRegression, DestroyReleasesHoldsSoOtherThreadsWaitsEnd) {
  xs_host_device_t dev = nullptr;
  xs_host_stream_t s = nullptr;
  xs_queue_t q = nullptr;
  open_queue(&dev, &s, &q);
  ASSERT_EQ(xs_queue_suspend(q, 0), XS_OK);
  const xs_host_kernel_t k{1'000'000, nullptr, nullptr};
  const xs_command_t kc = kernel(&k);
  uint64_t id = 0;
  ASSERT_EQ(xs_queue_submit(q, &kc, &id), XS_OK);
  std::atomic<int> waited{-1};
  std::thread waiter([&] { waited = xs_queue_wait(q, id, 5'000'000'000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the waiter holds the queue now
  ASSERT_EQ(xs_queue_destroy(q), XS_OK);
  waiter.join();
  // Destroy used to return at once and leave the waiter behind a hold that
  // no handle could release any more.
  EXPECT_TRUE(waited == XS_OK || waited == XS_ERR_INVALID_HANDLE) << waited;
  EXPECT_EQ(xs_host_stream_destroy(s), XS_OK);
  EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
}

TEST_F(Api, TimesliceHintIsBounded) {
  xs_hints_t h{0, 1, INT64_MAX, 0};  // made the bandwidth timer overflow and spin
  EXPECT_EQ(xs_queue_set_hints(q, &h), XS_ERR_INVALID_ARG);
  h.timeslice_ns = 10'000'000'000;
  EXPECT_EQ(xs_queue_set_hints(q, &h), XS_OK);
}

// A kernel whose host function submits to a higher-priority queue preempts
// its own queue from inside its own unit (Level 3).
struct Preemptor {
  xs_queue_t hi;
  std::atomic<uint64_t> id{0};
};

void submit_high(void* arg) {
  auto* p = static_cast<Preemptor*>(arg);
  static const xs_host_kernel_t k{1'000'000, nullptr, nullptr};
  const xs_command_t c = kernel(&k);
  uint64_t id = 0;
  if (xs_queue_submit(p->hi, &c, &id) == XS_OK) p->id = id;
}

TEST(ApiRegression, KernelThatPreemptsItsOwnQueueDoesNotDeadlock) {
  ASSERT_EQ(xs_set_policy(XS_POLICY_PRIORITY), XS_OK);
  xs_host_device_t dev = nullptr;
  xs_host_stream_t s_lo = nullptr, s_hi = nullptr;
  xs_queue_t lo = nullptr;
  Preemptor p{};
  open_queue(&dev, &s_lo, &lo);
  ASSERT_EQ(xs_host_stream_create(dev, &s_hi), XS_OK);
  ASSERT_EQ(xs_queue_create(XS_PLATFORM_HOST, s_hi, nullptr, &p.hi), XS_OK);  // Level 3 (auto)
  ASSERT_EQ(xs_queue_set_priority(p.hi, 10), XS_OK);
  const xs_host_kernel_t k{20'000'000, &submit_high, &p};
  const xs_command_t kc = kernel(&k);
  uint64_t lo_id = 0;
  ASSERT_EQ(xs_queue_submit(lo, &kc, &lo_id), XS_OK);
  // The interrupt used to wait for the unit that was running it: a deadlock
  // with the scheduler's lock held. A watchdog turns a hang into a failure.
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 1000 && !finished; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!finished) {
      std::fprintf(stderr, "deadlock: a kernel preempting its own queue never finished\n");
      std::_Exit(1);
    }
  });
  EXPECT_EQ(xs_queue_wait(lo, lo_id, XS_WAIT_FOREVER), XS_OK);
  EXPECT_NE(p.id.load(), 0u);
  EXPECT_EQ(xs_queue_wait(p.hi, p.id.load(), XS_WAIT_FOREVER), XS_OK);
  finished = true;
  watchdog.join();
  EXPECT_EQ(xs_queue_destroy(p.hi), XS_OK);
  EXPECT_EQ(xs_queue_destroy(lo), XS_OK);
  EXPECT_EQ(xs_host_stream_destroy(s_hi), XS_OK);
  EXPECT_EQ(xs_host_stream_destroy(s_lo), XS_OK);
  EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
}

}  // namespace

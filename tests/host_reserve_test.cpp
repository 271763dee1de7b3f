// Spatial reservation end to end on the CPU reference device, through the C
// API: after an urgent queue has had work, the kernels of less urgent queues
// leave the device's reserve free, so the urgent queue's next kernel starts
// at once although every other unit is busy. Run with a long
// XSCHED_RESERVE_LINGER_MS (tests/CMakeLists.txt) so the linger cannot end
// during a check.
#include "xsched/xsched.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "c_api_helpers.h"
#include "core/clock.h"
#include "timing_retry.h"

namespace {

using xsched::now_ns;
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kLowKernelNs = 300 * kMs;

void store_time(void* arg) { static_cast<std::atomic<int64_t>*>(arg)->store(now_ns()); }

xs_command_t kernel(const xs_host_kernel_t* k) { return xsched::testing::host_kernel(k); }

// A queue at Level 1 (so the reserve, not an interrupt, is what frees a unit) with a priority.
struct Queue {
  Queue(xs_host_device_t dev, int32_t priority) {
    EXPECT_EQ(xs_host_stream_create(dev, &stream), XS_OK);
    xs_queue_config_t cfg;
    xs_queue_config_init(&cfg);
    cfg.level = XS_LEVEL_BLOCK;
    EXPECT_EQ(xs_queue_create(XS_PLATFORM_HOST, stream, &cfg, &q), XS_OK);
    EXPECT_EQ(xs_queue_set_priority(q, priority), XS_OK);
  }
  ~Queue() {
    EXPECT_EQ(xs_queue_destroy(q), XS_OK);
    EXPECT_EQ(xs_host_stream_destroy(stream), XS_OK);
  }
  xs_host_stream_t stream = nullptr;
  xs_queue_t q = nullptr;
};

// Two low queues' long kernels on a device of two units, one reserved, then
// an urgent kernel. Returns the failures ("" = none).
std::string low_kernels_then_urgent(xs_host_device_t dev) {
  Queue hi(dev, 10), lo1(dev, 0), lo2(dev, 0);
  // The urgent queue has had work: from now on (the linger) the low queues are confined.
  const xs_host_kernel_t nothing{0, nullptr, nullptr};
  xs_command_t c = kernel(&nothing);
  if (xs_queue_submit(hi.q, &c, nullptr) != XS_OK || xs_queue_wait_all(hi.q, XS_WAIT_FOREVER) != XS_OK) {
    return "urgent warm-up failed\n";
  }
  std::atomic<int64_t> t1{0}, t2{0}, th{0};
  const xs_host_kernel_t k1{kLowKernelNs, store_time, &t1}, k2{kLowKernelNs, store_time, &t2};
  const xs_host_kernel_t kh{0, store_time, &th};
  xs_command_t c1 = kernel(&k1), c2 = kernel(&k2), ch = kernel(&kh);
  if (xs_queue_submit(lo1.q, &c1, nullptr) != XS_OK || xs_queue_submit(lo2.q, &c2, nullptr) != XS_OK) {
    return "low submit failed\n";
  }
  const int64_t give_up = now_ns() + 5'000 * kMs;
  while (t1.load() == 0 && t2.load() == 0 && now_ns() < give_up) std::this_thread::yield();
  if (xs_queue_submit(hi.q, &ch, nullptr) != XS_OK || xs_queue_wait_all(hi.q, XS_WAIT_FOREVER) != XS_OK) {
    return "urgent submit failed\n";
  }
  if (xs_queue_wait_all(lo1.q, XS_WAIT_FOREVER) != XS_OK || xs_queue_wait_all(lo2.q, XS_WAIT_FOREVER) != XS_OK) {
    return "low wait failed\n";
  }
  std::string out;
  const int64_t first = std::min(t1.load(), t2.load()), second = std::max(t1.load(), t2.load());
  if (first == 0) return "no low kernel ran\n";
  if (second - first < kLowKernelNs) {
    out += "the low kernels ran side by side (" + std::to_string((second - first) / kMs) + " ms apart)\n";
  }
  if (th.load() - first >= kLowKernelNs) {
    out += "the urgent kernel waited " + std::to_string((th.load() - first) / kMs) + " ms for a low one\n";
  }
  return out;
}

TEST(HostReserve, UrgentKernelStartsWhileLowKernelsFillTheRest) {
  xs_host_device_t dev = nullptr;
  ASSERT_EQ(xs_host_device_create(2, &dev), XS_OK);
  ASSERT_EQ(xs_host_device_reserve(dev, 1), XS_OK);
  const xsched::testing::TimingVerdict v = xsched::testing::measure_with_retry([&] { return low_kernels_then_urgent(dev); });
  EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
}

TEST(HostReserve, WithoutAReserveTheUrgentKernelWaits) {
  // The control: the same scenario on a device without a reserve shows what the reserve prevents.
  xs_host_device_t dev = nullptr;
  ASSERT_EQ(xs_host_device_create(2, &dev), XS_OK);
  const std::string failures = low_kernels_then_urgent(dev);
  EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
  EXPECT_NE(failures.find("side by side"), std::string::npos) << failures;
  EXPECT_NE(failures.find("waited"), std::string::npos) << failures;
}

TEST(HostReserve, BadArguments) {
  xs_host_device_t dev = nullptr;
  ASSERT_EQ(xs_host_device_create(2, &dev), XS_OK);
  EXPECT_EQ(xs_host_device_reserve(dev, 2), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_host_device_reserve(nullptr, 1), XS_ERR_INVALID_HANDLE);
  EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
  EXPECT_EQ(xs_host_device_reserve(dev, 1), XS_ERR_INVALID_HANDLE);
}

}  // namespace

// The in-process scheduler on the CPU reference device, end to end through
// the public C API: fixed priority keeps a periodic high task near its
// standalone latency beside a non-stop low task, and bandwidth partition
// and fair share hit their shares.
//
// Timing tests: they assert on p50/p90 (one VM pause spoils a tail sample),
// compare with baselines measured in the same run, measure again only when an
// attempt misses, and discount attempts during which the hypervisor took the
// CPU away (timing_retry.h).
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "cli/stats.h"
#include "cli/workload.h"
#include "timing_retry.h"

namespace xsched::cli {
namespace {

using xsched::testing::measure_with_retry;
namespace testing = xsched::testing;

TEST(Scheduling, FixedPriorityKeepsHighLatencyNearStandalone) {
  HighTask high;
  high.kernels = 5;
  high.kernel_ns = 1'000'000;
  high.period_ns = 15'000'000;
  LowTask low;
  low.kernel_ns = 500'000;
  const Scenario alone{.name = "alone", .low = false};
  const Scenario native{.name = "native", .policy = XS_POLICY_NONE, .window = 1024};
  const Scenario level2{.name = "level2", .level = XS_LEVEL_DEACTIVATE};

  const testing::TimingVerdict v = measure_with_retry([&] {
    std::ostringstream f;
    const ScenarioResult a = run_scenario(alone, high, low, 1.5);
    const ScenarioResult n = run_scenario(native, high, low, 1.5);
    const ScenarioResult x = run_scenario(level2, high, low, 1.5);
    if (a.error || n.error || x.error) return std::string("a scenario failed\n");
    if (a.high_latency_ms.size() < 50 || x.high_latency_ms.size() < 50) return std::string("too few requests\n");
    const double a50 = percentile(a.high_latency_ms, 50), a90 = percentile(a.high_latency_ms, 90);
    const double n50 = percentile(n.high_latency_ms, 50);
    const double x50 = percentile(x.high_latency_ms, 50), x90 = percentile(x.high_latency_ms, 90);
    std::printf("high p50/p90 ms: alone %.2f/%.2f, native %.2f, xsched level 2 %.2f/%.2f; low use of idle %.2f\n",
                a50, a90, n50, x50, x90, x.low_use_of_idle());
    // Without scheduling each high kernel queues behind a low one: the
    // interference this test exists to remove must be there.
    if (!(n50 > a50 + 1.5)) f << "native co-run shows no interference: " << n50 << " vs " << a50 << "\n";
    // With Level 2 a request waits at most for the one low kernel running
    // when it arrives (0.5 ms), plus scheduling noise.
    if (!(x50 < a50 * 1.10 + 0.5)) f << "xsched p50 " << x50 << " ms vs alone " << a50 << "\n";
    if (!(x90 < a90 * 1.15 + 0.8)) f << "xsched p90 " << x90 << " ms vs alone " << a90 << "\n";
    // The low task still uses most of the device time the high one leaves.
    if (!(x.low_use_of_idle() > 0.8)) f << "low used only " << x.low_use_of_idle() << " of the idle time\n";
    return f.str();
  });
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
}

TEST(Scheduling, BandwidthPartitionHitsSharesWithinTwoPoints) {
  HighTask a;  // run non-stop, as the 75 side
  a.kernel_ns = 500'000;
  a.share = 3;
  LowTask b;
  b.kernel_ns = 500'000;
  b.share = 1;
  const Scenario s{.name = "bandwidth 75/25", .policy = XS_POLICY_BANDWIDTH, .level = XS_LEVEL_DEACTIVATE,
                   .high_nonstop = true};
  const testing::TimingVerdict v = measure_with_retry([&] {
    std::ostringstream f;
    const ScenarioResult r = run_scenario(s, a, b, 3.0);
    if (r.error != XS_OK) return std::string("scenario failed\n");
    const double total = static_cast<double>(r.high_kernels + r.low_kernels);
    if (total < 1000) return std::string("too few kernels\n");
    const double share_a = static_cast<double>(r.high_kernels) / total;
    const double busy = r.high_busy_fraction() + r.low_busy_fraction();
    std::printf("achieved share %.4f (target 0.75), device busy %.3f\n", share_a, busy);
    if (!(share_a > 0.73 && share_a < 0.77)) f << "share " << share_a << " is not within 2 points of 0.75\n";
    // Taking turns costs little device time.
    if (!(busy > 0.9)) f << "device busy only " << busy << "\n";
    return f.str();
  });
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
}

// The fair policy (CFS-like) on the same two non-stop tasks, shares 3:1.
TEST(Scheduling, FairShareSplitsThreeToOne) {
  HighTask a;
  a.kernel_ns = 500'000;
  a.share = 3;
  LowTask b;
  b.kernel_ns = 500'000;
  b.share = 1;
  const Scenario s{.name = "fair 75/25", .policy = XS_POLICY_FAIR, .level = XS_LEVEL_DEACTIVATE, .high_nonstop = true};
  const testing::TimingVerdict v = measure_with_retry([&] {
    std::ostringstream f;
    const ScenarioResult r = run_scenario(s, a, b, 3.0);
    if (r.error != XS_OK) return std::string("scenario failed\n");
    const double total = static_cast<double>(r.high_kernels + r.low_kernels);
    if (total < 1000) return std::string("too few kernels\n");
    const double share_a = static_cast<double>(r.high_kernels) / total;
    const double busy = r.high_busy_fraction() + r.low_busy_fraction();
    std::printf("achieved share %.4f (target 0.75), device busy %.3f\n", share_a, busy);
    if (!(share_a > 0.72 && share_a < 0.78)) f << "share " << share_a << " is not within 3 points of 0.75\n";
    // Turns cost little device time (looser than the bandwidth test's 0.9:
    // the split is what this test is about, and a loaded machine costs a few
    // points here).
    if (!(busy > 0.85)) f << "device busy only " << busy << "\n";
    return f.str();
  });
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
}

TEST(Scheduling, EqualSharesSplitEvenly) {
  HighTask a;
  a.kernel_ns = 500'000;
  LowTask b;
  b.kernel_ns = 500'000;
  const Scenario s{.name = "bandwidth 50/50", .policy = XS_POLICY_BANDWIDTH, .high_nonstop = true};
  const testing::TimingVerdict v = measure_with_retry([&] {
    const ScenarioResult r = run_scenario(s, a, b, 1.5);
    const double total = static_cast<double>(r.high_kernels + r.low_kernels);
    if (r.error != XS_OK || total < 500) return std::string("scenario failed\n");
    const double share_a = static_cast<double>(r.high_kernels) / total;
    std::printf("achieved share %.4f (target 0.5)\n", share_a);
    return share_a > 0.47 && share_a < 0.53 ? std::string() : "share " + std::to_string(share_a) + "\n";
  });
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
}

}  // namespace
}  // namespace xsched::cli

// The co-location workload of the demo and the scheduling tests, on the CPU
// reference device or a GPU (demo_device.h) through the public C API: a high-priority task that
// submits a request of short kernels at a fixed period and waits for it, and
// a low-priority task that keeps the device busy non-stop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "xsched/xsched.h"

namespace xsched::cli {

class DemoDevice;

struct HighTask {
  int kernels = 10;               // kernels per request
  int64_t kernel_ns = 500'000;    // device time of each
  int64_t period_ns = 20'000'000; // one request per period
  int32_t priority = 10;
  uint32_t share = 1;
};

struct LowTask {
  int64_t kernel_ns = 1'000'000;
  int outstanding = 16;           // submitted but not yet completed, at most
  int32_t priority = 0;
  uint32_t share = 1;
};

struct Scenario {
  std::string name;
  bool high = true;
  bool low = true;
  xs_policy_t policy = XS_POLICY_PRIORITY;
  xs_level_t level = XS_LEVEL_AUTO;
  uint32_t window = 8;
  // When true the high task also runs non-stop (bandwidth sharing).
  bool high_nonstop = false;
};

struct ScenarioResult {
  std::vector<double> high_latency_ms;  // one per request, warm-up excluded
  uint64_t high_kernels = 0;            // completed in the measured interval
  uint64_t low_kernels = 0;
  double elapsed_s = 0;
  xs_result_t error = XS_OK;            // first failure, if any
  double steal = -1;                    // CPU time the hypervisor took meanwhile (0..1), -1 unknown
  // Device time used by each task over elapsed.
  double high_busy_fraction() const;
  double low_busy_fraction() const;
  // Fraction of the device time the high task left idle that the low task used.
  double low_use_of_idle() const;
  const HighTask* high_spec = nullptr;
  const LowTask* low_spec = nullptr;
};

// Runs one scenario for `seconds` on a fresh CPU reference device with one
// unit. Sets the process policy.
ScenarioResult run_scenario(const Scenario& s, const HighTask& high, const LowTask& low, double seconds);
// The same on `dev` (demo_device.h: the CPU reference device or a GPU).
ScenarioResult run_scenario(DemoDevice& dev, const Scenario& s, const HighTask& high, const LowTask& low,
                            double seconds);

}  // namespace xsched::cli

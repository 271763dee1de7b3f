// The demo's GPU device (cli/demo_device.h) on the fake CUDA driver: it
// finds the GPU, loads its kernel, and runs the demo's scenarios through the
// C API's CUDA queues (the fake runs the PTX kernel xsched_demo_spin as its
// sleep kernel). What the real GPU measures is the GPU suite's; here only
// that every scenario runs and the priority policy holds the low task.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "cli/demo_device.h"
#include "cli/workload.h"

namespace xsched::cli {
namespace {

TEST(DemoGpu, TheDemoRunsOnTheGpuThroughTheCudaQueues) {
  std::string why;
  const std::unique_ptr<DemoDevice> dev = cuda_demo_device(&why);
  ASSERT_NE(dev, nullptr) << why;
  EXPECT_NE(dev->describe().find("Fake CUDA Device"), std::string::npos) << dev->describe();
  EXPECT_NE(dev->describe().find("SMs"), std::string::npos) << dev->describe();
  EXPECT_EQ(dev->max_level(), XS_LEVEL_DEACTIVATE);
  const HighTask high;
  const LowTask low;
  for (const Scenario& s : {Scenario{.name = "high alone", .low = false},
                            Scenario{.name = "no scheduling", .policy = XS_POLICY_NONE, .window = 1024},
                            Scenario{.name = "level 1", .level = XS_LEVEL_BLOCK, .window = 4}}) {
    const ScenarioResult r = run_scenario(*dev, s, high, low, 0.5);
    EXPECT_EQ(r.error, XS_OK) << s.name << ": " << xs_result_string(r.error);
    EXPECT_GE(r.high_latency_ms.size(), 5u) << s.name;
    EXPECT_GT(r.high_kernels, 0u) << s.name;
    if (s.low) {
      EXPECT_GT(r.low_kernels, 0u) << s.name;
    }
  }
}

// Without a driver the demo falls back with a reason.
TEST(DemoGpuNoDriver, NoDriverNoGpu) {
  std::string why;
  EXPECT_EQ(cuda_demo_device(&why), nullptr);
  EXPECT_EQ(why, "no NVIDIA driver");
}

}  // namespace
}  // namespace xsched::cli

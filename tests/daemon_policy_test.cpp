// xschedd and the command line with every policy of the registry
// (sched/policy_registry.h), and the fair and laxity policies scheduling
// programs (CPU reference device) across processes.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/policy_list.h"
#include "daemon_fixture.h"
#include "timing_retry.h"

namespace xsched::test {
namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  return out;
}

using DaemonPolicy = DaemonTest;

// `xsched policy NAME` switches to each policy and says so; `xschedd
// --policy NAME` starts with it; `xsched policy --help` describes each.
TEST_F(DaemonPolicy, EveryPolicySwitchesFromTheCommandLine) {
  Child d = start_daemon();
  const std::string cli = std::string(XSCHED_CLI_PATH) + " policy --socket " + socket_;
  for (const PolicyInfo& p : kPolicyInfo) {
    EXPECT_EQ(run(cli + " " + p.name), std::string(p.name) + "\n");
    EXPECT_EQ(run(cli), std::string(p.name) + "\n");
    EXPECT_EQ(run(cli + " --json"), "{\"policy\":\"" + std::string(p.name) + "\"}\n");
    EXPECT_EQ(list(socket_).head.policy, static_cast<uint32_t>(p.kind)) << p.name;
  }
  EXPECT_EQ(run(cli + " FAIR"), "fair\n");  // any case
  const std::string help = run(std::string(XSCHED_CLI_PATH) + " policy --help");
  for (const PolicyInfo& p : kPolicyInfo) EXPECT_NE(help.find(p.description), std::string::npos) << help;
  d.kill_now();
  for (const char* name : {"fair", "laxity"}) {
    Child e = start_daemon({"--policy", name});
    EXPECT_EQ(run(cli), std::string(name) + "\n");
  }
}

// Two programs that share one CPU device (one kernel at a time), shares 3
// and 1, both always busy: under the fair policy of xschedd the device
// splits about 3:1.
TEST_F(DaemonPolicy, TimingFairSharesSplitTheDeviceThreeToOne) {
  Child d = start_daemon({"--policy", "fair"});
  const std::string lock = dir_ + "/device0.lock";
  const std::string pa = dir_ + "/a.progress", pb = dir_ + "/b.progress";
  auto prog = [&](const std::string& share, const std::string& progress) {
    return start_prog("low", 0, {"--kernel-us", "1000", "--seconds", "60", "--progress", progress, "--lock", lock},
                      false, {"XSCHED_SHARE=" + share});
  };
  Child a = prog("3", pa);
  Child b = prog("1", pb);
  ASSERT_TRUE(eventually([&] { return registered(a.pid()) && registered(b.pid()); }, 5s));
  ASSERT_TRUE(progresses(pa, 5s) && progresses(pb, 5s));
  const testing::TimingVerdict v = testing::measure_with_retry([&]() -> std::string {
    const uint64_t a0 = read_counter(pa), b0 = read_counter(pb);
    std::this_thread::sleep_for(2s);
    const double da = static_cast<double>(read_counter(pa) - a0);
    const double db = static_cast<double>(read_counter(pb) - b0);
    auto n = [](double x) { return std::to_string(static_cast<uint64_t>(x)); };
    if (db == 0 || da / db < 1.8 || da / db > 5.0) return "not split 3:1 (kernels: " + n(da) + ", " + n(db) + ")\n";
    return "";
  });
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
  a.kill_now();
  b.kill_now();
}

// Under the laxity policy of xschedd a program whose work is due within
// 5 ms holds one whose work is due in 10 s (neither has history yet, and
// the tight one stays busy: it runs, the other waits).
TEST_F(DaemonPolicy, LaxityHoldsTheProgramWithMoreSlack) {
  Child d = start_daemon({"--policy", "laxity"});
  Child slack = start_prog("low", 0, {"--kernel-us", "1000", "--seconds", "30"}, false,
                           {"XSCHED_DEADLINE_US=10000000"});
  ASSERT_TRUE(eventually([&] { return registered(slack.pid()); }, 5s));
  Child tight = start_prog("low", 0, {"--kernel-us", "1000", "--seconds", "30"}, false, {"XSCHED_DEADLINE_US=5000"});
  ASSERT_TRUE(eventually([&] { return registered(tight.pid()); }, 5s));
  EXPECT_TRUE(eventually([&] { return held(slack.pid()); }, 5s)) << "the program with 10 s of slack ran on";
  slack.kill_now();
  tight.kill_now();
}

}  // namespace
}  // namespace xsched::test

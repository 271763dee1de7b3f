// xschedd --timeline: the daemon's decisions as a trace-event file, written
// at exit (SIGTERM) and on SIGUSR2. Two programs on the CPU reference device,
// a periodic high one and a non-stop low one; daemon_timeline_check.py reads
// the file.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"

namespace xsched::test {
namespace {

using DaemonTimeline = DaemonTest;

int check(const std::string& file, pid_t high, pid_t low, std::string* out) {
  const std::string cmd = std::string(XSCHED_TEST_PYTHON) + " " + TIMELINE_CHECK + " " + file + " " +
                          std::to_string(high) + " " + std::to_string(low) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) *out += buf;
  return pclose(p);
}

TEST_F(DaemonTimeline, TheDaemonsHoldsAreOnTheTimelineWithTheirCauses) {
  const std::string file = dir_ + "/daemon-%p.json";
  Child d = start_daemon({"--timeline", file});
  const std::string written = dir_ + "/daemon-" + std::to_string(d.pid()) + ".json";
  Child low = start_prog("low", 0, {"--kernel-us", "1000", "--seconds", "30"});
  Child high = start_prog("high", 10, {"--per-request", "2", "--kernel-us", "300", "--period-us", "10000",
                                       "--seconds", "30"});
  ASSERT_TRUE(eventually([&] { return registered(low.pid()) && registered(high.pid()); }, 5s));
  // Until the low queue was held a few times (on a busy host it takes longer).
  ASSERT_TRUE(eventually([&] {
    const Listing l = list(socket_);
    const ipc::QueueRecord* q = l.ok ? l.queue_of(low.pid()) : nullptr;
    return q != nullptr && q->suspensions >= 5;
  }, 30s));
  // SIGUSR2: the file now, while the daemon goes on.
  EXPECT_FALSE(std::filesystem::exists(written));
  d.signal(SIGUSR2);
  EXPECT_TRUE(eventually([&] { return std::filesystem::exists(written); }, 5s));
  EXPECT_TRUE(list(socket_).ok);
  std::filesystem::remove(written);
  // SIGTERM: the file at exit, with everything so far.
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(10s), 0);
  ASSERT_TRUE(std::filesystem::exists(written));
  std::string out;
  EXPECT_EQ(check(written, high.pid(), low.pid(), &out), 0) << out;
}

// Without the option the daemon writes nothing, and SIGUSR2 does not end it.
TEST_F(DaemonTimeline, WithoutTheOptionNoFile) {
  Child d = start_daemon();
  Child low = start_prog("low", 0, {"--kernel-us", "1000", "--seconds", "30"});
  ASSERT_TRUE(eventually([&] { return registered(low.pid()); }, 5s));
  d.signal(SIGUSR2);
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(list(socket_).ok);
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(10s), 0);
  int json_files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) json_files += e.path().extension() == ".json";
  EXPECT_EQ(json_files, 0);
}

}  // namespace
}  // namespace xsched::test

// xschedd's metrics without a daemon: the text format's writer (names, HELP
// and TYPE lines, labels escaped whatever bytes a process named itself
// with), the --metrics address, the config key, and the hand-off between
// the daemon's thread and the listener's.
#include "daemon/metrics.h"

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "daemon/options.h"
#include "metrics_text_reader.h"

namespace xsched::daemon {
namespace {

using namespace std::chrono_literals;
using namespace xsched::metrics_test;

std::string escaped(std::string_view v) {
  std::string out;
  append_label_value(&out, v);
  return out;
}

TEST(MetricsText, LabelValuesEscapeQuoteBackslashAndNewline) {
  EXPECT_EQ(escaped("plain name"), "plain name");
  EXPECT_EQ(escaped("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escaped("\\n"), "\\\\n");  // a backslash and an n stay two characters
}

TEST(MetricsText, LabelValuesAreUtf8WhateverTheBytes) {
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(escaped("\x1b[31mred"), fffd + "[31mred");  // no terminal escapes
  EXPECT_EQ(escaped(std::string("a\0b\x7f", 4)), "a" + fffd + "b" + fffd);
  EXPECT_EQ(escaped("\xff"), fffd);
  EXPECT_EQ(escaped("\xc0\xaf"), fffd + fffd);            // overlong
  EXPECT_EQ(escaped("\xed\xa0\x80"), fffd + fffd + fffd);  // a surrogate
  EXPECT_EQ(escaped("\xf4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // past U+10FFFF
  EXPECT_EQ(escaped("x\xe2\x82"), "x" + fffd + fffd);     // cut short
  for (int b = 0; b < 256; ++b) {
    for (int c : {0x41, 0x80, 0xbf, 0xff}) {
      const std::string in{static_cast<char>(b), static_cast<char>(c)};
      EXPECT_TRUE(valid_utf8(escaped(in))) << b << " " << c;
    }
  }
}

MetricsSnapshot example() {
  MetricsSnapshot s;
  s.taken_ns = 5;
  s.start_time_s = 1.7e9;
  s.uptime_ns = 2'500'000'000;
  s.processes = 2;
  s.connections_rejected = 3;
  DeviceMetrics d;
  d.device.uuid[0] = 0xab;
  d.platform = XS_PLATFORM_CUDA;
  d.name = "NVIDIA \"H100\"";
  d.queues = 2;
  d.decisions = 7;
  d.policy = XS_POLICY_FAIR;
  for (int64_t ns : {3'000, 7'000, 40'000, 40'000, 2'000'000'000}) d.latency.add(ns);
  s.devices.push_back(d);
  QueueMetrics q;
  q.device = d.device;
  q.platform = XS_PLATFORM_CUDA;
  q.pid = 42;
  q.comm = "a\"b\\c\nd\xff";
  q.queue = 9;
  q.level = 2;
  q.running = false;
  q.ready = true;
  q.priority = -5;
  q.share = 3;
  q.submitted = 100;
  q.completed = 90;
  q.preemptions = 4;
  q.held_ns = 1'500'000'000;
  q.running_ns = 250'000'000;
  s.queues.push_back(q);
  q.pid = 43;
  q.comm = "serve";
  q.queue = 10;
  q.running = true;
  s.queues.push_back(q);
  return s;
}

TEST(MetricsText, EveryMetricIsWrittenWithItsLabelsAndValue) {
  const std::vector<Sample> all = read_exposition(render_metrics(example()));
  const std::string gpu = "GPU-ab000000-0000-0000-0000-000000000000";
  EXPECT_EQ(device_label(example().devices[0].device, XS_PLATFORM_CUDA), gpu);
  const std::map<std::string, std::string> low = {{"device", gpu}, {"pid", "42"}, {"comm", "a\"b\\c\nd\xef\xbf\xbd"},
                                                  {"queue", "9"}, {"platform", "cuda"}, {"level", "2"}};
  const std::map<std::string, double> low_values = {
      {"xsched_queue_running", 0}, {"xsched_queue_ready", 1}, {"xsched_queue_priority", -5},
      {"xsched_queue_share", 3}, {"xsched_queue_commands_submitted_total", 100},
      {"xsched_queue_commands_completed_total", 90}, {"xsched_queue_preemptions_total", 4},
      {"xsched_queue_held_seconds_total", 1.5}, {"xsched_queue_running_seconds_total", 0.25}};
  for (const auto& [name, value] : low_values) {
    const auto got = find(all, name, low);
    ASSERT_EQ(got.size(), 1u) << name;
    EXPECT_EQ(got[0].value, value) << name;
    EXPECT_EQ(got[0].labels.size(), 6u) << name;
  }
  ASSERT_EQ(find(all, "xsched_queue_running", {{"pid", "43"}, {"comm", "serve"}}).size(), 1u);
  EXPECT_EQ(find(all, "xsched_queue_running", {{"pid", "43"}})[0].value, 1);
  const std::map<std::string, std::string> dev = {{"device", gpu}, {"name", "NVIDIA \"H100\""}};
  EXPECT_EQ(find(all, "xsched_device_queues", dev).at(0).value, 2);
  EXPECT_EQ(find(all, "xsched_device_decisions_total", dev).at(0).value, 7);
  auto policy = dev;
  policy["policy"] = "fair";
  EXPECT_EQ(find(all, "xsched_device_policy", policy).at(0).value, 1);
  EXPECT_EQ(find(all, "xsched_processes").at(0).value, 2);
  EXPECT_EQ(find(all, "xsched_connections_rejected_total").at(0).value, 3);
  EXPECT_EQ(find(all, "xsched_uptime_seconds").at(0).value, 2.5);
  EXPECT_EQ(find(all, "process_start_time_seconds").at(0).value, 1.7e9);
  const std::string version = std::to_string(XSCHED_VERSION_MAJOR) + "." + std::to_string(XSCHED_VERSION_MINOR) + "." +
                              std::to_string(XSCHED_VERSION_PATCH);
  EXPECT_EQ(find(all, "xsched_build_info", {{"version", version}}).at(0).value, 1);
}

TEST(MetricsText, LatencyIsAHistogramInSecondsWithCumulativeBuckets) {
  const std::vector<Sample> all = read_exposition(render_metrics(example()));
  const auto buckets = find(all, "xsched_device_decision_latency_seconds_bucket");
  ASSERT_EQ(buckets.size(), kLatencyBuckets.size() + 1);
  std::map<std::string, double> by_le;
  double last = 0;
  for (const Sample& b : buckets) {
    EXPECT_GE(b.value, last) << "buckets are cumulative";
    last = b.value;
    by_le[b.labels.at("le")] = b.value;
  }
  EXPECT_EQ(by_le.at("5e-06"), 1);    // 3 us
  EXPECT_EQ(by_le.at("1e-05"), 2);    // 7 us
  EXPECT_EQ(by_le.at("5e-05"), 4);    // 40 us twice
  EXPECT_EQ(by_le.at("0.1"), 4);      // 2 s is past every bound
  EXPECT_EQ(by_le.at("+Inf"), 5);
  EXPECT_EQ(buckets.front().labels.at("le"), "5e-06");
  EXPECT_EQ(find(all, "xsched_device_decision_latency_seconds_count").at(0).value, 5);
  EXPECT_NEAR(find(all, "xsched_device_decision_latency_seconds_sum").at(0).value, 2.00009, 1e-9);
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    EXPECT_EQ(std::strtod(kLatencyBuckets[i].le, nullptr), static_cast<double>(kLatencyBuckets[i].ns) / 1e9);
  }
}

TEST(MetricsText, AnEmptyDaemonStillWritesEveryFamily) {
  const std::string text = render_metrics(MetricsSnapshot{});
  read_exposition(text);
  for (const char* family :
       {"xsched_queue_preemptions_total", "xsched_device_decision_latency_seconds", "xsched_processes",
        "xsched_queue_held_seconds_total", "xsched_queue_running_seconds_total", "xsched_device_policy"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
}

TEST(MetricsAddress, TakesHostAndPortExactlyAsWritten) {
  MetricsAddress a;
  std::string err;
  ASSERT_TRUE(parse_metrics_address("127.0.0.1:9464", &a, &err)) << err;
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9464);
  ASSERT_TRUE(parse_metrics_address("[::1]:9464", &a, &err)) << err;
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.text, "[::1]:9464");
  ASSERT_TRUE(parse_metrics_address("localhost:0", &a, &err)) << err;
  EXPECT_EQ(a.host, "localhost");
  EXPECT_EQ(a.port, 0);
  ASSERT_TRUE(parse_metrics_address("0.0.0.0:65535", &a, &err)) << err;
  EXPECT_EQ(a.host, "0.0.0.0");
  for (const char* bad : {"", "9464", ":9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "127.0.0.1:+80", "127.0.0.1: 80", "::1:9464", "[::1]9464", "[nothost]:80", "[::1]:",
                          "300.0.0.1:80", "bad_host:80", "host name:80", "http://127.0.0.1:80"}) {
    err.clear();
    EXPECT_FALSE(parse_metrics_address(bad, &a, &err)) << bad;
    EXPECT_NE(err.find(std::string("'") + bad + "'"), std::string::npos) << err;
  }
}

TEST(MetricsAddress, OptionAndConfigKeyAndOff) {
  Settings s;
  std::string err;
  EXPECT_FALSE(s.daemon.metrics.has_value()) << "metrics are off by default";
  ASSERT_TRUE(apply_setting("--metrics", "[::1]:9100", &s, &err)) << err;
  ASSERT_TRUE(s.daemon.metrics.has_value());
  EXPECT_EQ(s.daemon.metrics->host, "::1");
  EXPECT_EQ(s.daemon.metrics->port, 9100);
  ASSERT_TRUE(apply_setting("metrics", "off", &s, &err)) << err;
  EXPECT_FALSE(s.daemon.metrics.has_value());
  EXPECT_FALSE(apply_setting("metrics", "nowhere", &s, &err));
  EXPECT_NE(err.find("HOST:PORT"), std::string::npos) << err;
  const char* argv[] = {"--metrics", "127.0.0.1:9464"};
  Settings t;
  ASSERT_TRUE(parse_arguments(2, argv, &t, &err)) << err;
  EXPECT_EQ(t.daemon.metrics->port, 9464);
}

// The daemon's side of the hand-off, as its loop does it: woken by the fd.
class FakeLoop {
 public:
  explicit FakeLoop(MetricsExchange& ex) : ex_(ex), thread_([this] { run(); }) {}
  ~FakeLoop() {
    stop_ = true;
    thread_.join();
  }
  std::atomic<int> built{0};

 private:
  void run() {
    while (!stop_) {
      pollfd p{ex_.wake_fd(), POLLIN, 0};
      if (poll(&p, 1, 10) <= 0) continue;
      const uint64_t answers = ex_.take_requests();
      auto s = std::make_shared<MetricsSnapshot>();
      s->taken_ns = now_ns();
      s->processes = static_cast<uint32_t>(++built);
      ex_.publish(std::move(s), answers);
    }
  }
  MetricsExchange& ex_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(MetricsExchange, AScrapeAsksTheLoopAtMostOncePerMaxAge) {
  MetricsExchange ex;
  ASSERT_TRUE(ex.ok());
  FakeLoop loop(ex);
  const auto first = ex.latest(5s);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->processes, 1u);
  // Within kMaxSnapshotAgeNs the same snapshot serves every scrape.
  const auto again = ex.latest(5s);
  if (now_ns() - first->taken_ns < kMaxSnapshotAgeNs) {
    EXPECT_EQ(again, first);
  }
  std::this_thread::sleep_for(std::chrono::nanoseconds(kMaxSnapshotAgeNs) + 20ms);
  const auto later = ex.latest(5s);
  ASSERT_NE(later, nullptr);
  EXPECT_GT(later->processes, first->processes);
  EXPECT_LE(loop.built.load(), 3);
}

TEST(MetricsExchange, NoAnswerIsNullAndAClosedExchangeAnswersAtOnce) {
  MetricsExchange ex;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ex.latest(50ms), nullptr) << "no loop answers";
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    ex.close();
  });
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(ex.latest(10s), nullptr);
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 5s) << "a waiting scrape was not released by close()";
  closer.join();
  EXPECT_EQ(ex.latest(10s), nullptr);
}

}  // namespace
}  // namespace xsched::daemon

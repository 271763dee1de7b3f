#include "core/config.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "core/log.h"

namespace xsched {
namespace {

// Runs parse_config on a null-terminated copy of `entries`.
Config parse(std::initializer_list<const char*> entries, std::vector<std::string>* warnings) {
  std::vector<const char*> env(entries);
  env.push_back(nullptr);
  return parse_config(env.data(), warnings);
}

void expect_defaults(const Config& c) {
  const Config d;
  EXPECT_EQ(c.policy, d.policy);
  EXPECT_EQ(c.level, d.level);
  EXPECT_EQ(c.window, d.window);
  EXPECT_EQ(c.window_ns, d.window_ns);
  EXPECT_EQ(c.priority, d.priority);
  EXPECT_EQ(c.share, d.share);
  EXPECT_EQ(c.timeslice_ns, d.timeslice_ns);
  EXPECT_EQ(c.log_level, d.log_level);
  EXPECT_EQ(c.deadline_ns, d.deadline_ns);
  EXPECT_EQ(c.scheduler, d.scheduler);
  EXPECT_EQ(c.socket, d.socket);
  EXPECT_EQ(c.daemon_timeout_ns, d.daemon_timeout_ns);
}

// Restores the log level a test changes, so tests stay independent.
class LogLevelGuard {
 public:
  LogLevelGuard() : saved_(log_level()) {}
  ~LogLevelGuard() { set_log_level(saved_); }

 private:
  LogLevel saved_;
};

TEST(ConfigTest, DefaultsAreTheDocumentedOnes) {
  const Config c;
  EXPECT_EQ(c.policy, XS_POLICY_PRIORITY);
  EXPECT_EQ(c.level, XS_LEVEL_AUTO);
  EXPECT_EQ(c.window, 8u);
  EXPECT_EQ(c.window_ns, 0);
  EXPECT_EQ(c.priority, 0);
  EXPECT_EQ(c.share, 1u);
  EXPECT_EQ(c.timeslice_ns, 2'000'000);
  EXPECT_EQ(c.log_level, LogLevel::kWarn);
}

TEST(ConfigTest, NullEnvpGivesDefaults) {
  std::vector<std::string> warnings;
  expect_defaults(parse_config(nullptr, &warnings));
  EXPECT_TRUE(warnings.empty());
}

TEST(ConfigTest, EmptyEnvGivesDefaults) {
  std::vector<std::string> warnings;
  expect_defaults(parse({}, &warnings));
  EXPECT_TRUE(warnings.empty());
}

TEST(ConfigTest, ParsesEveryVariable) {
  std::vector<std::string> warnings;
  const Config c = parse({"XSCHED_POLICY=bandwidth", "XSCHED_LEVEL=2", "XSCHED_WINDOW=16", "XSCHED_WINDOW_US=500",
                          "XSCHED_PRIORITY=-7", "XSCHED_SHARE=3", "XSCHED_TIMESLICE_US=100", "XSCHED_LOG_LEVEL=debug"},
                         &warnings);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  EXPECT_EQ(c.policy, XS_POLICY_BANDWIDTH);
  EXPECT_EQ(c.level, XS_LEVEL_DEACTIVATE);
  EXPECT_EQ(c.window, 16u);
  EXPECT_EQ(c.window_ns, 500'000);
  EXPECT_EQ(c.priority, -7);
  EXPECT_EQ(c.share, 3u);
  EXPECT_EQ(c.timeslice_ns, 100'000);
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
}

TEST(ConfigTest, ParsesOtherChoices) {
  EXPECT_EQ(parse({"XSCHED_POLICY=none"}, nullptr).policy, XS_POLICY_NONE);
  EXPECT_EQ(parse({"XSCHED_POLICY=priority"}, nullptr).policy, XS_POLICY_PRIORITY);
  EXPECT_EQ(parse({"XSCHED_LEVEL=auto"}, nullptr).level, XS_LEVEL_AUTO);
  EXPECT_EQ(parse({"XSCHED_LEVEL=1"}, nullptr).level, XS_LEVEL_BLOCK);
  EXPECT_EQ(parse({"XSCHED_LEVEL=3"}, nullptr).level, XS_LEVEL_INTERRUPT);
  EXPECT_EQ(parse({"XSCHED_LOG_LEVEL=error"}, nullptr).log_level, LogLevel::kError);
  EXPECT_EQ(parse({"XSCHED_LOG_LEVEL=info"}, nullptr).log_level, LogLevel::kInfo);
  EXPECT_EQ(parse({"XSCHED_LOG_LEVEL=warn"}, nullptr).log_level, LogLevel::kWarn);
}

TEST(ConfigTest, ChoicesAreCaseInsensitive) {
  std::vector<std::string> warnings;
  const Config c = parse({"XSCHED_POLICY=BandWidth", "XSCHED_LOG_LEVEL=DEBUG", "XSCHED_LEVEL=AUTO"}, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(c.policy, XS_POLICY_BANDWIDTH);
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
  EXPECT_EQ(c.level, XS_LEVEL_AUTO);
}

TEST(ConfigTest, IntegersAllowSignAndSurroundingWhitespace) {
  std::vector<std::string> warnings;
  const Config c = parse({"XSCHED_WINDOW= +16 ", "XSCHED_PRIORITY=\t-1000000\n", "XSCHED_SHARE=+1000000"}, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(c.window, 16u);
  EXPECT_EQ(c.priority, -1'000'000);
  EXPECT_EQ(c.share, 1'000'000u);
}

TEST(ConfigTest, WindowBoundaries) {
  std::vector<std::string> warnings;
  EXPECT_EQ(parse({"XSCHED_WINDOW=1"}, &warnings).window, 1u);
  EXPECT_EQ(parse({"XSCHED_WINDOW=65536"}, &warnings).window, 65536u);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(parse({"XSCHED_WINDOW=0"}, &warnings).window, 8u);
  EXPECT_EQ(parse({"XSCHED_WINDOW=65537"}, &warnings).window, 8u);
  EXPECT_EQ(warnings.size(), 2u);
}

TEST(ConfigTest, GatedWindowIsSeparateFromTheLevelOneWindow) {
  std::vector<std::string> warnings;
  const Config d = parse({}, &warnings);
  EXPECT_EQ(d.gated_window, 32u);
  const Config c = parse({"XSCHED_GATED_WINDOW=64", "XSCHED_WINDOW=4"}, &warnings);
  EXPECT_EQ(c.gated_window, 64u);
  EXPECT_EQ(c.window, 4u);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(parse({"XSCHED_GATED_WINDOW=0"}, &warnings).gated_window, 32u);
  EXPECT_EQ(warnings.size(), 1u);
  warnings.clear();
  parse({"XSCHED_ANNOUNCE=1"}, &warnings);  // read by the CUDA interposer: known, not a typo
  EXPECT_TRUE(warnings.empty());
}

TEST(ConfigTest, BackpressureIsUnsetByDefaultAndBounded) {
  std::vector<std::string> warnings;
  EXPECT_EQ(parse({}, &warnings).backpressure, -1);  // unset: each kind of queue has its default
  EXPECT_EQ(parse({"XSCHED_BACKPRESSURE=0"}, &warnings).backpressure, 0);
  EXPECT_EQ(parse({"XSCHED_BACKPRESSURE=16"}, &warnings).backpressure, 16);
  EXPECT_EQ(parse({"XSCHED_BACKPRESSURE=65536"}, &warnings).backpressure, 65536);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(parse({"XSCHED_BACKPRESSURE=-1"}, &warnings).backpressure, -1);
  EXPECT_EQ(parse({"XSCHED_BACKPRESSURE=65537"}, &warnings).backpressure, -1);
  EXPECT_EQ(warnings.size(), 2u);
}

TEST(ConfigTest, ReservationIsOffByDefaultAndBounded) {
  std::vector<std::string> warnings;
  EXPECT_EQ(parse({}, &warnings).reserve_sms, 0u);
  EXPECT_EQ(parse({}, &warnings).reserve_linger_ns, 500'000'000);
  EXPECT_EQ(parse({"XSCHED_RESERVE_SMS=8"}, &warnings).reserve_sms, 8u);
  EXPECT_EQ(parse({"XSCHED_RESERVE_LINGER_MS=20"}, &warnings).reserve_linger_ns, 20'000'000);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(parse({}, &warnings).request_grace_ns, 1'000'000);
  EXPECT_EQ(parse({"XSCHED_REQUEST_GRACE_US=0"}, &warnings).request_grace_ns, 0);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(parse({"XSCHED_RESERVE_SMS=1025"}, &warnings).reserve_sms, 0u);
  EXPECT_EQ(parse({"XSCHED_RESERVE_LINGER_MS=0"}, &warnings).reserve_linger_ns, 500'000'000);
  EXPECT_EQ(warnings.size(), 2u);
}

TEST(ConfigTest, MicrosecondBoundaries) {
  std::vector<std::string> warnings;
  EXPECT_EQ(parse({"XSCHED_WINDOW_US=0"}, &warnings).window_ns, 0);
  EXPECT_EQ(parse({"XSCHED_WINDOW_US=10000000"}, &warnings).window_ns, 10'000'000'000);
  EXPECT_EQ(parse({"XSCHED_TIMESLICE_US=10000000"}, &warnings).timeslice_ns, 10'000'000'000);
  EXPECT_TRUE(warnings.empty());
}

TEST(ConfigTest, WarningNamesVariableValueRangeAndDefault) {
  std::vector<std::string> warnings;
  parse({"XSCHED_WINDOW=abc"}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "XSCHED_WINDOW=\"abc\" is not an integer in 1..65536; using 8");

  warnings.clear();
  parse({"XSCHED_POLICY=fifo"}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  // Every policy of the registry (core/policy_list.h), in the enum's order.
  EXPECT_EQ(policy_names(", ").rfind("none, priority, bandwidth, deadline", 0), 0u) << policy_names(", ");
  EXPECT_EQ(warnings[0], "XSCHED_POLICY=\"fifo\" is not one of " + policy_names(", ") + "; using priority");

  warnings.clear();
  parse({"XSCHED_TIMESLICE_US=99"}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "XSCHED_TIMESLICE_US=\"99\" is not an integer in 100..10000000; using 2000");
}

struct BadValue {
  const char* entry;
  const char* name;
};

class BadValueTest : public testing::TestWithParam<BadValue> {};

TEST_P(BadValueTest, OneWarningAndTheDefault) {
  std::vector<std::string> warnings;
  const Config c = parse({GetParam().entry}, &warnings);
  expect_defaults(c);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(GetParam().name), std::string::npos) << warnings[0];
  const std::string entry = GetParam().entry;
  const std::string value = entry.substr(entry.find('=') + 1);
  EXPECT_NE(warnings[0].find("\"" + value + "\""), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("; using "), std::string::npos) << warnings[0];
}

INSTANTIATE_TEST_SUITE_P(AllVariables, BadValueTest,
                         testing::Values(BadValue{"XSCHED_POLICY=fifo", "XSCHED_POLICY"},
                                         BadValue{"XSCHED_POLICY=priority2", "XSCHED_POLICY"},
                                         BadValue{"XSCHED_LEVEL=0", "XSCHED_LEVEL"},
                                         BadValue{"XSCHED_LEVEL=4", "XSCHED_LEVEL"},
                                         BadValue{"XSCHED_LEVEL=high", "XSCHED_LEVEL"},
                                         BadValue{"XSCHED_WINDOW=abc", "XSCHED_WINDOW"},
                                         BadValue{"XSCHED_WINDOW=8x", "XSCHED_WINDOW"},
                                         BadValue{"XSCHED_WINDOW=1.5", "XSCHED_WINDOW"},
                                         BadValue{"XSCHED_WINDOW=+-5", "XSCHED_WINDOW"},
                                         BadValue{"XSCHED_WINDOW=+", "XSCHED_WINDOW"},
                                         BadValue{"XSCHED_WINDOW=-", "XSCHED_WINDOW"},
                                         BadValue{"XSCHED_WINDOW=1 2", "XSCHED_WINDOW"},
                                         BadValue{"XSCHED_WINDOW=0x10", "XSCHED_WINDOW"},
                                         BadValue{"XSCHED_WINDOW=99999999999999999999", "XSCHED_WINDOW"},
                                         BadValue{"XSCHED_WINDOW=-4294967288", "XSCHED_WINDOW"},
                                         BadValue{"XSCHED_WINDOW_US=-1", "XSCHED_WINDOW_US"},
                                         BadValue{"XSCHED_WINDOW_US=10000001", "XSCHED_WINDOW_US"},
                                         BadValue{"XSCHED_PRIORITY=1000001", "XSCHED_PRIORITY"},
                                         BadValue{"XSCHED_PRIORITY=-1000001", "XSCHED_PRIORITY"},
                                         BadValue{"XSCHED_PRIORITY=high", "XSCHED_PRIORITY"},
                                         BadValue{"XSCHED_SHARE=0", "XSCHED_SHARE"},
                                         BadValue{"XSCHED_SHARE=1000001", "XSCHED_SHARE"},
                                         BadValue{"XSCHED_TIMESLICE_US=99", "XSCHED_TIMESLICE_US"},
                                         BadValue{"XSCHED_TIMESLICE_US=10000001", "XSCHED_TIMESLICE_US"},
                                         BadValue{"XSCHED_DEADLINE_US=1", "XSCHED_DEADLINE_US"},
                                         BadValue{"XSCHED_DEADLINE_US=99", "XSCHED_DEADLINE_US"},
                                         BadValue{"XSCHED_DEADLINE_US=3600000001", "XSCHED_DEADLINE_US"},
                                         BadValue{"XSCHED_LOG_LEVEL=verbose", "XSCHED_LOG_LEVEL"},
                                         BadValue{"XSCHED_LOG_LEVEL=warning", "XSCHED_LOG_LEVEL"}));

TEST(ConfigTest, BadValueKeepsEarlierGoodOnes) {
  std::vector<std::string> warnings;
  const Config c = parse({"XSCHED_SHARE=5", "XSCHED_WINDOW=zero", "XSCHED_PRIORITY=9"}, &warnings);
  EXPECT_EQ(warnings.size(), 1u);
  EXPECT_EQ(c.share, 5u);
  EXPECT_EQ(c.window, 8u);
  EXPECT_EQ(c.priority, 9);
}

TEST(ConfigTest, EmptyValueIsUnset) {
  std::vector<std::string> warnings;
  expect_defaults(parse({"XSCHED_WINDOW=", "XSCHED_POLICY=", "XSCHED_LOG_LEVEL=  ", "XSCHED_NOPE="}, &warnings));
  EXPECT_TRUE(warnings.empty());
}

TEST(ConfigTest, UnknownXschedNameWarnsWithKnownNames) {
  std::vector<std::string> warnings;
  expect_defaults(parse({"XSCHED_WINDOWS=4"}, &warnings));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].rfind("unknown variable XSCHED_WINDOWS (known: XSCHED_POLICY, ", 0), 0u) << warnings[0];
  for (const char* name : {"XSCHED_LEVEL", "XSCHED_WINDOW_US", "XSCHED_LOG_LEVEL", "XSCHED_REAL_LIBCUDA"})
    EXPECT_NE(warnings[0].find(name), std::string::npos) << name;
}

TEST(ConfigTest, ReservedNamesAreAcceptedSilently) {
  std::vector<std::string> warnings;
  expect_defaults(parse({"XSCHED_TRACE=1",
                         "XSCHED_TRACE_FILE=/tmp/t.json", "XSCHED_REAL_LIBCUDA=/usr/lib/libcuda.so.1",
                         "XSCHED_INTERPOSER=/opt/xsched/lib/libxsched_cuda.so",
                         "XSCHED_LIBRARY=/opt/xsched/lib/libxsched.so"},
                        &warnings));
  EXPECT_TRUE(warnings.empty());
}

TEST(ConfigTest, DaemonVariables) {
  std::vector<std::string> warnings;
  const Config c = parse({"XSCHED_SCHEDULER=Daemon", "XSCHED_SOCKET= /run/x/d.sock ", "XSCHED_DAEMON_TIMEOUT_MS=250",
                          "XSCHED_DEADLINE_US=1500"},
                         &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(c.scheduler, Scheduler::kDaemon);
  EXPECT_EQ(c.socket, "/run/x/d.sock");
  EXPECT_EQ(c.daemon_timeout_ns, 250'000'000);
  EXPECT_EQ(c.deadline_ns, 1'500'000);
  EXPECT_EQ(parse({"XSCHED_SCHEDULER=local"}, nullptr).scheduler, Scheduler::kLocal);
  EXPECT_EQ(Config{}.scheduler, Scheduler::kAuto);

  warnings.clear();
  const Config bad = parse({"XSCHED_SCHEDULER=global", "XSCHED_DAEMON_TIMEOUT_MS=5", "XSCHED_DEADLINE_US=-1"}, &warnings);
  expect_defaults(bad);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_NE(warnings[0].find("is not one of local, daemon, auto; using auto"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("10..60000"), std::string::npos) << warnings[1];
}

TEST(ConfigTest, MetricsFileAndItsInterval) {
  std::vector<std::string> warnings;
  EXPECT_EQ(Config{}.metrics_file, "");
  EXPECT_EQ(Config{}.metrics_interval_ns, 5'000'000'000);
  const Config c = parse({"XSCHED_METRICS_FILE=/var/lib/node_exporter/xsched-%p.prom", "XSCHED_METRICS_INTERVAL_MS=10"},
                         &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(c.metrics_file, "/var/lib/node_exporter/xsched-%p.prom");
  EXPECT_EQ(c.metrics_interval_ns, 10'000'000);
  EXPECT_EQ(parse({"XSCHED_METRICS_INTERVAL_MS=3600000"}, &warnings).metrics_interval_ns, 3'600'000'000'000);
  EXPECT_TRUE(warnings.empty());
  for (const char* bad : {"XSCHED_METRICS_INTERVAL_MS=9", "XSCHED_METRICS_INTERVAL_MS=3600001",
                          "XSCHED_METRICS_INTERVAL_MS=5s"}) {
    warnings.clear();
    EXPECT_EQ(parse({bad}, &warnings).metrics_interval_ns, 5'000'000'000) << bad;
    ASSERT_EQ(warnings.size(), 1u) << bad;
    EXPECT_NE(warnings[0].find("is not an integer in 10..3600000; using 5000"), std::string::npos) << warnings[0];
  }
  EXPECT_EQ(expand_pid("/x/m-%p.prom"), "/x/m-" + std::to_string(getpid()) + ".prom");
  EXPECT_EQ(expand_pid("/x/100%"), "/x/100%");
}

// A deadline is none (0) or at least 100 µs: shorter ones made the deadline
// policy ask for a decision every few nanoseconds.
TEST(ConfigTest, DeadlineIsNoneOrAtLeastTheMinimum) {
  std::vector<std::string> warnings;
  EXPECT_EQ(parse({"XSCHED_DEADLINE_US=0"}, &warnings).deadline_ns, 0);
  EXPECT_EQ(parse({"XSCHED_DEADLINE_US=100"}, &warnings).deadline_ns, 100'000);
  EXPECT_EQ(parse({"XSCHED_DEADLINE_US=3600000000"}, &warnings).deadline_ns, 3'600'000'000'000);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(parse({"XSCHED_DEADLINE_US=1"}, &warnings).deadline_ns, 0);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "XSCHED_DEADLINE_US=\"1\" is not 0 or an integer in 100..3600000000; using 0");
}

TEST(ConfigTest, OtherVariablesAreIgnored) {
  std::vector<std::string> warnings;
  expect_defaults(parse({"PATH=/usr/bin", "XSCHEDULE=1", "xsched_window=3", "MY_XSCHED_WINDOW=3", "XSCHED_WINDOW",
                         "=odd", "XSCHED"},
                        &warnings));
  EXPECT_TRUE(warnings.empty());
}

TEST(ConfigTest, NullWarningsIsAllowed) {
  const Config c = parse({"XSCHED_WINDOW=abc", "XSCHED_FOO=1", "XSCHED_SHARE=2"}, nullptr);
  EXPECT_EQ(c.window, 8u);
  EXPECT_EQ(c.share, 2u);
}

TEST(ConfigTest, ProcessConfigIsParsedOnce) {
  LogLevelGuard guard;
  EXPECT_EQ(&process_config(), &process_config());
}

TEST(LogTest, EnabledFollowsLevel) {
  LogLevelGuard guard;
  EXPECT_EQ(log_level(), LogLevel::kWarn);  // the default, before anything sets it
  set_log_level(LogLevel::kError);
  EXPECT_TRUE(log_enabled(LogLevel::kError));
  EXPECT_FALSE(log_enabled(LogLevel::kWarn));
  set_log_level(LogLevel::kInfo);
  EXPECT_TRUE(log_enabled(LogLevel::kWarn));
  EXPECT_TRUE(log_enabled(LogLevel::kInfo));
  EXPECT_FALSE(log_enabled(LogLevel::kDebug));
  set_log_level(LogLevel::kDebug);
  EXPECT_EQ(log_level(), LogLevel::kDebug);
  EXPECT_TRUE(log_enabled(LogLevel::kDebug));
}

TEST(LogTest, WritesOnePrefixedLine) {
  LogLevelGuard guard;
  set_log_level(LogLevel::kWarn);
  testing::internal::CaptureStderr();
  log(LogLevel::kWarn, "window %d too %s", 3, "small");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "xsched: warning: window 3 too small\n");

  testing::internal::CaptureStderr();
  log(LogLevel::kError, "boom");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "xsched: error: boom\n");
}

TEST(LogTest, DisabledLevelWritesNothing) {
  LogLevelGuard guard;
  set_log_level(LogLevel::kWarn);
  testing::internal::CaptureStderr();
  log(LogLevel::kInfo, "not shown");
  log(LogLevel::kDebug, "not shown");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(LogTest, LongMessageIsTruncatedToOneLine) {
  LogLevelGuard guard;
  set_log_level(LogLevel::kDebug);
  const std::string long_text(5000, 'x');
  testing::internal::CaptureStderr();
  log(LogLevel::kDebug, "%s", long_text.c_str());
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.rfind("xsched: debug: xxx", 0), 0u);
  EXPECT_LE(out.size(), 1024u);
  EXPECT_GT(out.size(), 1000u);
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1);
}

// XSCHED_TRACE and XSCHED_ANNOUNCE: "off" is off (it once turned the announcement on).
TEST(ConfigTest, SwitchValues) {
  bool valid = false;
  for (const char* on : {"1", "on", "ON", "true", "Yes", " yes\n"}) {
    EXPECT_TRUE(switch_value(on, &valid)) << on;
    EXPECT_TRUE(valid) << on;
  }
  for (const char* off : {"0", "off", "Off", "false", "no", "", " "}) {
    EXPECT_FALSE(switch_value(off, &valid)) << off;
    EXPECT_TRUE(valid) << off;
  }
  EXPECT_FALSE(switch_value(nullptr, &valid));
  EXPECT_TRUE(valid);
  for (const char* bad : {"2", "enable", "o"}) {
    EXPECT_FALSE(switch_value(bad, &valid)) << bad;
    EXPECT_FALSE(valid) << bad;
  }
}

}  // namespace
}  // namespace xsched

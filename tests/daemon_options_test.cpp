// xschedd's settings: every option and config key, the command line winning
// over the config file, and bad input rejected with a message that says what
// is wrong and where.
#include "daemon/options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sched.h>

#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace xsched::daemon {
namespace {

// Whether `text` contains `part`; on failure, says what it was.
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

// Runs parse_arguments on the arguments after the program's name.
bool parse(std::initializer_list<const char*> args, Settings* s, std::string* err) {
  const std::vector<const char*> argv(args);
  return parse_arguments(static_cast<int>(argv.size()), argv.data(), s, err);
}

// A private directory for config files, removed after each test.
class DaemonConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "xsched-options-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST(DaemonOptions, NoArgumentsKeepTheDefaults) {
  Settings s;
  std::string err;
  ASSERT_TRUE(parse({}, &s, &err)) << err;
  const Options defaults;
  EXPECT_EQ(s.daemon.policy, XS_POLICY_PRIORITY);
  EXPECT_EQ(s.daemon.socket, defaults.socket);
  EXPECT_EQ(s.daemon.group, defaults.group);
  EXPECT_EQ(s.daemon.timeslice_ns, 2'000'000);
  EXPECT_EQ(s.daemon.max_clients_per_user, defaults.max_clients_per_user);
  EXPECT_EQ(s.daemon.max_clients_per_user, 256u);
  EXPECT_EQ(s.log_level, LogLevel::kInfo);
  EXPECT_FALSE(s.help);
  EXPECT_FALSE(s.version);
}

TEST(DaemonOptions, EveryOptionSetsItsSetting) {
  Settings s;
  std::string err;
  ASSERT_TRUE(parse({"--policy", "bandwidth", "--socket", "/run/x/s.sock", "--group", "video", "--timeslice-us", "500",
                     "--log-level", "debug", "--max-clients-per-user", "12"},
                    &s, &err))
      << err;
  EXPECT_EQ(s.daemon.max_clients_per_user, 12u);
  EXPECT_EQ(s.daemon.policy, XS_POLICY_BANDWIDTH);
  EXPECT_EQ(s.daemon.socket, "/run/x/s.sock");
  EXPECT_EQ(s.daemon.group, "video");
  EXPECT_EQ(s.daemon.timeslice_ns, 500'000);
  EXPECT_EQ(s.log_level, LogLevel::kDebug);
}

TEST(DaemonOptions, UnderscoreSpellingsOfTheTwoWordOptionsWork) {
  Settings s;
  std::string err;
  ASSERT_TRUE(parse({"--timeslice_us", "300", "--log_level", "warn", "--max_clients_per_user", "9"}, &s, &err)) << err;
  EXPECT_EQ(s.daemon.timeslice_ns, 300'000);
  EXPECT_EQ(s.daemon.max_clients_per_user, 9u);
  EXPECT_EQ(s.log_level, LogLevel::kWarn);
}

TEST(DaemonOptions, BusyPollIsAFlagAndABooleanKey) {
  Settings s;
  std::string err;
  EXPECT_FALSE(s.daemon.busy_poll);
  ASSERT_TRUE(parse({"--busy-poll", "--policy", "none"}, &s, &err)) << err;
  EXPECT_TRUE(s.daemon.busy_poll);
  EXPECT_EQ(s.daemon.policy, XS_POLICY_NONE);  // it takes no value
  Settings k;
  ASSERT_TRUE(apply_setting("busy_poll", "true", &k, &err)) << err;
  EXPECT_TRUE(k.daemon.busy_poll);
  ASSERT_TRUE(apply_setting("busy-poll", "false", &k, &err)) << err;
  EXPECT_FALSE(k.daemon.busy_poll);
  EXPECT_FALSE(apply_setting("busy_poll", "yes", &k, &err));
  EXPECT_TRUE(Contains(err, "busy_poll 'yes' is not true or false"));
}

TEST(DaemonOptions, CpuTakesANumberOrOff) {
  Settings s;
  std::string err;
  EXPECT_EQ(s.cpu, -1);
  ASSERT_TRUE(parse({"--cpu", "3"}, &s, &err)) << err;
  EXPECT_EQ(s.cpu, 3);
  ASSERT_TRUE(apply_setting("cpu", "off", &s, &err)) << err;
  EXPECT_EQ(s.cpu, -1);
  for (const char* bad : {"-1", "x", "1000000", ""}) {
    EXPECT_FALSE(apply_setting("cpu", bad, &s, &err)) << bad;
    EXPECT_TRUE(Contains(err, "is not a CPU number")) << err;
  }
}

TEST(DaemonOptions, KeepToCpuRefusesACpuThisProcessMayNotUse) {
  std::string err;
  EXPECT_FALSE(keep_to_cpu(CPU_SETSIZE - 1, &err));
  EXPECT_TRUE(Contains(err, "this process may use CPUs")) << err;
  // A CPU it may use: the thread keeps to it (checked on a thread of its own).
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  int first = 0;
  while (!CPU_ISSET(first, &allowed)) ++first;
  std::thread([&] {
    std::string e;
    ASSERT_TRUE(keep_to_cpu(first, &e)) << e;
    cpu_set_t now;
    ASSERT_EQ(sched_getaffinity(0, sizeof now, &now), 0);
    EXPECT_EQ(CPU_COUNT(&now), 1);
    EXPECT_TRUE(CPU_ISSET(first, &now));
  }).join();
}

TEST(DaemonOptions, HelpAndVersionNeedNoValue) {
  Settings s;
  std::string err;
  ASSERT_TRUE(parse({"--version", "--policy", "none"}, &s, &err)) << err;
  EXPECT_TRUE(s.version);
  EXPECT_EQ(s.daemon.policy, XS_POLICY_NONE);  // what follows is still read
  Settings h1, h2;
  ASSERT_TRUE(parse({"--help"}, &h1, &err)) << err;
  EXPECT_TRUE(h1.help);
  ASSERT_TRUE(parse({"-h"}, &h2, &err)) << err;
  EXPECT_TRUE(h2.help);
}

TEST(DaemonOptions, TheLastOfARepeatedOptionWins) {
  Settings s;
  std::string err;
  ASSERT_TRUE(parse({"--policy", "deadline", "--policy", "none"}, &s, &err)) << err;
  EXPECT_EQ(s.daemon.policy, XS_POLICY_NONE);
}

TEST(DaemonOptions, RejectsAnUnknownPolicyNamingIt) {
  Settings s;
  std::string err;
  EXPECT_FALSE(parse({"--policy", "fastest"}, &s, &err));
  EXPECT_TRUE(Contains(err, "policy 'fastest'"));
  EXPECT_EQ(s.daemon.policy, XS_POLICY_PRIORITY);
}

TEST(DaemonOptions, RejectsASocketThatIsNotAnAbsolutePath) {
  for (const char* bad : {"run/xschedd.sock", "./x.sock", ""}) {
    Settings s;
    std::string err;
    EXPECT_FALSE(parse({"--socket", bad}, &s, &err)) << bad;
    EXPECT_TRUE(Contains(err, "not an absolute path")) << bad;
    EXPECT_TRUE(Contains(err, std::string("'") + bad + "'"));
    EXPECT_TRUE(s.daemon.socket.empty());
  }
}

TEST(DaemonOptions, RejectsATimesliceOutsideItsRangeOrNotAnInteger) {
  for (const char* bad : {"99", "10000001", "0", "-500", "abc", "100us", "1e3", "", " 200", "99999999999999999999999"}) {
    Settings s;
    std::string err;
    EXPECT_FALSE(parse({"--timeslice-us", bad}, &s, &err)) << "'" << bad << "'";
    EXPECT_TRUE(Contains(err, std::string("timeslice_us '") + bad + "'"));
    EXPECT_TRUE(Contains(err, "100..10000000"));
    EXPECT_EQ(s.daemon.timeslice_ns, 2'000'000) << "a rejected value leaves the setting as it was";
  }
}

TEST(DaemonOptions, AcceptsTheTimesliceLimits) {
  Settings s;
  std::string err;
  ASSERT_TRUE(parse({"--timeslice-us", "100"}, &s, &err)) << err;
  EXPECT_EQ(s.daemon.timeslice_ns, 100'000);
  ASSERT_TRUE(parse({"--timeslice-us", "10000000"}, &s, &err)) << err;
  EXPECT_EQ(s.daemon.timeslice_ns, 10'000'000'000);
}

TEST(DaemonOptions, RejectsAClientLimitOutsideItsRangeOrNotAnInteger) {
  for (const char* bad : {"0", "-1", "1000001", "4294967297", "abc", "12k", "1e3", "", " 5", "99999999999999999999999"}) {
    Settings s;
    std::string err;
    EXPECT_FALSE(parse({"--max-clients-per-user", bad}, &s, &err)) << "'" << bad << "'";
    EXPECT_EQ(err, std::string("max_clients_per_user '") + bad + "' is not an integer in 1..1000000");
    EXPECT_EQ(s.daemon.max_clients_per_user, 256u) << "a rejected value leaves the setting as it was";
  }
}

TEST(DaemonOptions, AcceptsTheClientLimitsEnds) {
  Settings s;
  std::string err;
  ASSERT_TRUE(parse({"--max-clients-per-user", "1"}, &s, &err)) << err;
  EXPECT_EQ(s.daemon.max_clients_per_user, 1u);
  ASSERT_TRUE(parse({"--max-clients-per-user", "1000000"}, &s, &err)) << err;
  EXPECT_EQ(s.daemon.max_clients_per_user, 1'000'000u);
}

TEST(DaemonOptions, RejectsAnUnknownLogLevelNamingIt) {
  Settings s;
  std::string err;
  EXPECT_FALSE(parse({"--log-level", "loud"}, &s, &err));
  EXPECT_TRUE(Contains(err, "log_level 'loud'"));
}

TEST(DaemonOptions, RejectsAnUnknownOptionNamingIt) {
  Settings s;
  std::string err;
  EXPECT_FALSE(parse({"--policy", "none", "--colour", "red"}, &s, &err));
  EXPECT_EQ(err, "unknown option '--colour'");
}

// An option the daemon does not have is unknown whether or not a word
// follows it: `xschedd --verbose` must not be answered with "needs a value".
TEST(DaemonOptions, RejectsAnUnknownOptionAtTheEndAsUnknown) {
  Settings s;
  std::string err;
  EXPECT_FALSE(parse({"--verbose"}, &s, &err));
  EXPECT_EQ(err, "unknown option '--verbose'");
}

TEST(DaemonOptions, RejectsAPositionalArgument) {
  Settings s;
  std::string err;
  EXPECT_FALSE(parse({"priority"}, &s, &err));
  EXPECT_EQ(err, "unexpected argument 'priority'");
  EXPECT_FALSE(parse({"-p", "priority"}, &s, &err));  // no short options besides -h
  EXPECT_EQ(err, "unexpected argument '-p'");
}

TEST(DaemonOptions, RejectsAnOptionMissingItsValue) {
  for (const char* opt :
       {"--policy", "--socket", "--group", "--timeslice-us", "--log-level", "--max-clients-per-user", "--config"}) {
    Settings s;
    std::string err;
    EXPECT_FALSE(parse({"--version", opt}, &s, &err)) << opt;
    EXPECT_EQ(err, std::string(opt) + " needs a value");
  }
}

// ---- apply_setting ----

TEST(DaemonApplySetting, EveryKeySetsItsSetting) {
  Settings s;
  std::string err;
  ASSERT_TRUE(apply_setting("policy", "deadline", &s, &err)) << err;
  ASSERT_TRUE(apply_setting("socket", "/tmp/a.sock", &s, &err)) << err;
  ASSERT_TRUE(apply_setting("group", "gpu", &s, &err)) << err;
  ASSERT_TRUE(apply_setting("timeslice_us", "250", &s, &err)) << err;
  ASSERT_TRUE(apply_setting("log_level", "error", &s, &err)) << err;
  ASSERT_TRUE(apply_setting("max_clients_per_user", "64", &s, &err)) << err;
  EXPECT_EQ(s.daemon.max_clients_per_user, 64u);
  EXPECT_EQ(s.daemon.policy, XS_POLICY_DEADLINE);
  EXPECT_EQ(s.daemon.socket, "/tmp/a.sock");
  EXPECT_EQ(s.daemon.group, "gpu");
  EXPECT_EQ(s.daemon.timeslice_ns, 250'000);
  EXPECT_EQ(s.log_level, LogLevel::kError);
}

TEST(DaemonApplySetting, EveryPolicyAndLogLevelName) {
  const std::pair<const char*, xs_policy_t> policies[] = {
      {"none", XS_POLICY_NONE}, {"priority", XS_POLICY_PRIORITY}, {"bandwidth", XS_POLICY_BANDWIDTH},
      {"deadline", XS_POLICY_DEADLINE}};
  for (const auto& [name, p] : policies) {
    Settings s;
    s.daemon.policy = static_cast<xs_policy_t>(99);
    std::string err;
    ASSERT_TRUE(apply_setting("policy", name, &s, &err)) << name << ": " << err;
    EXPECT_EQ(s.daemon.policy, p) << name;
  }
  const std::pair<const char*, LogLevel> levels[] = {
      {"error", LogLevel::kError}, {"warn", LogLevel::kWarn}, {"info", LogLevel::kInfo}, {"debug", LogLevel::kDebug}};
  for (const auto& [name, l] : levels) {
    Settings s;
    s.log_level = static_cast<LogLevel>(99);
    std::string err;
    ASSERT_TRUE(apply_setting("log_level", name, &s, &err)) << name << ": " << err;
    EXPECT_EQ(s.log_level, l) << name;
  }
}

TEST(DaemonApplySetting, DashesAndUnderscoresInAKeyAreAlike) {
  Settings s;
  std::string err;
  ASSERT_TRUE(apply_setting("timeslice-us", "400", &s, &err)) << err;
  EXPECT_EQ(s.daemon.timeslice_ns, 400'000);
  ASSERT_TRUE(apply_setting("--log-level", "debug", &s, &err)) << err;
  EXPECT_EQ(s.log_level, LogLevel::kDebug);
}

TEST(DaemonApplySetting, RejectsAnUnknownKeyAsGiven) {
  Settings s;
  std::string err;
  EXPECT_FALSE(apply_setting("heartbeat", "10", &s, &err));
  EXPECT_EQ(err, "unknown setting 'heartbeat'");
  EXPECT_FALSE(apply_setting("", "x", &s, &err));
  EXPECT_EQ(err, "unknown setting ''");
}

// ---- read_config_file, and --config ----

TEST_F(DaemonConfigFile, ReadsEveryKeyAroundCommentsAndBlankLines) {
  const std::string path = write("xschedd.conf",
                                 "# xschedd settings\n"
                                 "\n"
                                 "policy = bandwidth\n"
                                 "   socket=/run/xsched/test.sock   \n"
                                 "\tgroup = render # who may connect\n"
                                 "   # an indented comment\n"
                                 "timeslice_us = 750\r\n"  // a line from another system
                                 "log-level = warn\n"
                                 "max_clients_per_user = 32\n"
                                 "   \n");
  Settings s;
  std::string err;
  ASSERT_TRUE(read_config_file(path, &s, &err)) << err;
  EXPECT_EQ(s.daemon.policy, XS_POLICY_BANDWIDTH);
  EXPECT_EQ(s.daemon.socket, "/run/xsched/test.sock");
  EXPECT_EQ(s.daemon.group, "render");
  EXPECT_EQ(s.daemon.timeslice_ns, 750'000);
  EXPECT_EQ(s.log_level, LogLevel::kWarn);
  EXPECT_EQ(s.daemon.max_clients_per_user, 32u);
}

TEST_F(DaemonConfigFile, AnEmptyFileChangesNothing) {
  const std::string path = write("empty.conf", "");
  Settings s;
  std::string err;
  ASSERT_TRUE(read_config_file(path, &s, &err)) << err;
  EXPECT_EQ(s.daemon.policy, XS_POLICY_PRIORITY);
  EXPECT_EQ(s.daemon.timeslice_ns, 2'000'000);
}

TEST_F(DaemonConfigFile, TheLastLineOfAKeyWins) {
  const std::string path = write("twice.conf", "policy = none\npolicy = deadline\n");
  Settings s;
  std::string err;
  ASSERT_TRUE(read_config_file(path, &s, &err)) << err;
  EXPECT_EQ(s.daemon.policy, XS_POLICY_DEADLINE);
}

TEST_F(DaemonConfigFile, ALineWithoutEqualsNamesItsFileAndLine) {
  const std::string path = write("noeq.conf", "# top\npolicy = none\npolicy none\n");
  Settings s;
  std::string err;
  EXPECT_FALSE(read_config_file(path, &s, &err));
  EXPECT_EQ(err, path + ":3: expected 'key = value'");
}

TEST_F(DaemonConfigFile, ABadValueNamesItsFileLineAndProblem) {
  const struct {
    const char* text;
    const char* problem;
  } cases[] = {
      {"\n\npolicy = fastest\n", ":3: policy 'fastest' is not one of"},
      {"socket = relative.sock\n", ":1: socket 'relative.sock' is not an absolute path"},
      {"# c\ntimeslice_us = 50\n", ":2: timeslice_us '50' is not an integer in 100..10000000"},
      {"timeslice_us = 20000000\n", ":1: timeslice_us '20000000'"},
      {"log_level = chatty\n", ":1: log_level 'chatty'"},
      {"max_clients_per_user = 0\n", ":1: max_clients_per_user '0' is not an integer in 1..1000000"},
      {"policy = none\nmode = fast\n", ":2: unknown setting 'mode'"},
      {"= none\n", ":1: unknown setting ''"},
  };
  for (const auto& c : cases) {
    const std::string path = write("bad.conf", c.text);
    Settings s;
    std::string err;
    EXPECT_FALSE(read_config_file(path, &s, &err)) << c.text;
    EXPECT_EQ(err.rfind(path + c.problem, 0), 0u) << "got: " << err;
  }
}

TEST_F(DaemonConfigFile, AMissingFileIsAnErrorNamingIt) {
  const std::string path = (dir_ / "absent.conf").string();
  Settings s;
  std::string err;
  EXPECT_FALSE(read_config_file(path, &s, &err));
  EXPECT_TRUE(Contains(err, path));
  EXPECT_TRUE(Contains(err, "cannot read"));
}

// A directory opens like a file but cannot be read: `--config /etc/xsched`
// given by mistake must fail, not start the daemon with no settings read.
TEST_F(DaemonConfigFile, ADirectoryIsAnErrorNotAnEmptyConfig) {
  Settings s;
  std::string err;
  EXPECT_FALSE(read_config_file(dir_.string(), &s, &err));
  EXPECT_TRUE(Contains(err, dir_.string()));
}

TEST_F(DaemonConfigFile, TheCommandLineWinsOverTheFile) {
  const std::string path =
      write("base.conf", "policy = bandwidth\ntimeslice_us = 500\ngroup = video\nlog_level = debug\nmax_clients_per_user = 5\n");
  Settings s;
  std::string err;
  // --config after the option it loses to: the file is read first wherever it stands.
  ASSERT_TRUE(parse({"--policy", "deadline", "--config", path.c_str(), "--log-level", "error", "--max-clients-per-user",
                     "7"},
                    &s, &err))
      << err;
  EXPECT_EQ(s.daemon.max_clients_per_user, 7u);
  EXPECT_EQ(s.daemon.policy, XS_POLICY_DEADLINE);
  EXPECT_EQ(s.log_level, LogLevel::kError);
  // What the command line leaves alone comes from the file.
  EXPECT_EQ(s.daemon.timeslice_ns, 500'000);
  EXPECT_EQ(s.daemon.group, "video");
}

TEST_F(DaemonConfigFile, ABadConfigFileFailsTheCommandLine) {
  const std::string path = write("bad.conf", "policy = none\ntimeslice_us = 1\n");
  Settings s;
  std::string err;
  EXPECT_FALSE(parse({"--policy", "priority", "--config", path.c_str()}, &s, &err));
  EXPECT_EQ(err.rfind(path + ":2: timeslice_us '1'", 0), 0u) << "got: " << err;
  EXPECT_FALSE(parse({"--config", (dir_ / "absent.conf").c_str()}, &s, &err));
  EXPECT_TRUE(Contains(err, "absent.conf"));
}

// ---- an installed xschedd's own config file ----

TEST(DaemonDefaultConfig, IsTheInstallPrefixsSysconfdir) {
  EXPECT_EQ(installed_config_path("/usr/bin/xschedd"), "/etc/xsched/xschedd.conf");
  EXPECT_EQ(installed_config_path("/bin/xschedd"), "/etc/xsched/xschedd.conf");
  EXPECT_EQ(installed_config_path("/usr/sbin/xschedd"), "/etc/xsched/xschedd.conf");
  EXPECT_EQ(installed_config_path("/usr/local/bin/xschedd"), "/usr/local/etc/xsched/xschedd.conf");
  EXPECT_EQ(installed_config_path("/opt/xsched/bin/xschedd"), "/opt/xsched/etc/xsched/xschedd.conf");
  // Not in a bin folder (a build tree): none.
  EXPECT_EQ(installed_config_path("/home/u/xsched/build/release/xschedd"), "");
  EXPECT_EQ(installed_config_path("xschedd"), "");
  EXPECT_EQ(installed_config_path("/xschedd"), "");
}

TEST_F(DaemonConfigFile, TheDefaultFileIsReadWhenPresentAndTheCommandLineWins) {
  const std::string path = write("xschedd.conf", "policy = fair\ntimeslice_us = 700\n");
  Settings s;
  std::string err;
  const std::vector<const char*> argv = {"--timeslice-us", "900"};
  ASSERT_TRUE(parse_arguments(static_cast<int>(argv.size()), argv.data(), &s, &err, path)) << err;
  EXPECT_EQ(s.daemon.policy, XS_POLICY_FAIR);
  EXPECT_EQ(s.daemon.timeslice_ns, 900'000);
  EXPECT_EQ(s.config_file, path);
}

TEST_F(DaemonConfigFile, AnAbsentDefaultFileIsNoError) {
  Settings s;
  std::string err;
  ASSERT_TRUE(parse_arguments(0, nullptr, &s, &err, (dir_ / "absent.conf").string())) << err;
  EXPECT_EQ(s.daemon.policy, XS_POLICY_PRIORITY);
  EXPECT_EQ(s.config_file, "");
}

TEST_F(DaemonConfigFile, ConfigOnTheCommandLineReplacesTheDefaultFile) {
  const std::string fallback = write("default.conf", "policy = fair\nmetrics = nonsense\n");
  const std::string given = write("given.conf", "timeslice_us = 700\n");
  Settings s;
  std::string err;
  const std::vector<const char*> argv = {"--config", given.c_str()};
  ASSERT_TRUE(parse_arguments(static_cast<int>(argv.size()), argv.data(), &s, &err, fallback)) << err;
  EXPECT_EQ(s.daemon.policy, XS_POLICY_PRIORITY) << "the default file was read beside --config";
  EXPECT_EQ(s.daemon.timeslice_ns, 700'000);
  EXPECT_EQ(s.config_file, given);
  // A bad default file is an error, naming it.
  Settings t;
  EXPECT_FALSE(parse_arguments(0, nullptr, &t, &err, fallback));
  EXPECT_TRUE(Contains(err, fallback + ":2:"));
}

}  // namespace
}  // namespace xsched::daemon

// XSCHED_METRICS_FILE: a program with two queues on the CPU reference device
// (metrics_file_prog) writes its queues' metrics to a file, which is read
// back by the text format's rules while it is replaced every 20 ms (never
// seen partial), checked for its labels and counters, and by promtool where
// it is installed; a bad XSCHED_METRICS_INTERVAL_MS warns; a file that cannot
// be written warns once; unset, no thread runs and no file appears.
#include "sched/metrics_file.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "core/device_id.h"
#include "metrics_text_reader.h"
#include "temp_dir.h"

extern char** environ;

namespace xsched::test {
namespace {

using namespace std::chrono_literals;
using metrics_test::find;
using metrics_test::read_exposition;
using metrics_test::Sample;

constexpr char kProg[] = METRICS_FILE_PROG;
constexpr char kPromtool[] = "/usr/bin/promtool";
constexpr int kLow = 300, kHigh = 200;

// The program, with this process's environment less every XSCHED_* variable,
// plus env; its stdout and stderr go to log.
class Prog {
 public:
  Prog(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log) {
    std::vector<std::string> vars;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string_view(*e).rfind("XSCHED_", 0) != 0) vars.emplace_back(*e);
    }
    vars.insert(vars.end(), env.begin(), env.end());
    std::vector<char*> argv{const_cast<char*>(kProg)}, envp;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (std::string& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    pid_ = fork();
    if (pid_ != 0) return;
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execve(kProg, argv.data(), envp.data());
    _exit(127);
  }
  ~Prog() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Prog(const Prog&) = delete;
  Prog& operator=(const Prog&) = delete;
  pid_t pid() const { return pid_; }
  // The exit status, or -1 if it did not exit within limit.
  int wait_exit(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(5ms);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto i = text.find(what); i != std::string::npos; i = text.find(what, i + 1)) ++n;
  return n;
}

// The samples of the file, or none if it is not there.
std::vector<Sample> samples_of(const std::string& path) {
  if (!std::filesystem::exists(path)) return {};
  return read_exposition(read_file(path));
}

double value(const std::vector<Sample>& all, const std::string& name, const std::map<std::string, std::string>& want) {
  const auto got = find(all, name, want);
  return got.size() == 1 ? got[0].value : -1;
}

// A whole file: every queue family has a sample for each queue.
bool whole(const std::string& text, std::string* why) {
  if (text.empty() || text.back() != '\n') return *why = "does not end in a newline", false;
  const std::vector<Sample> all = read_exposition(text);
  if (find(all, "xsched_build_info").size() != 1) return *why = "no xsched_build_info", false;
  const std::size_t queues = find(all, "xsched_queue_running").size();
  for (const char* family : {"xsched_queue_ready", "xsched_queue_priority", "xsched_queue_share",
                             "xsched_queue_commands_submitted_total", "xsched_queue_commands_completed_total",
                             "xsched_queue_preemptions_total", "xsched_queue_held_seconds_total",
                             "xsched_queue_running_seconds_total"}) {
    if (find(all, family).size() != queues) return *why = std::string("a queue without ") + family, false;
  }
  return true;
}

// The comm of a program: its file name, cut to 15 bytes.
std::string comm_of(const std::string& path) { return std::filesystem::path(path).filename().string().substr(0, 15); }

TEST(MetricsFile, AProgramWritesItsQueuesAndTheFileIsReplacedWhole) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/xsched.prom", stop = dir.path() + "/stop", log = dir.path() + "/log";
  Prog prog({std::to_string(kLow), std::to_string(kHigh), stop},
            {"XSCHED_METRICS_FILE=" + path, "XSCHED_METRICS_INTERVAL_MS=20", "XSCHED_SCHEDULER=local"}, log);
  ASSERT_GT(prog.pid(), 0);

  // A reader as node_exporter is: whatever it opens is a whole file.
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::mutex bad_mu;
  std::string bad;
  std::thread reader([&] {
    while (!done.load()) {
      std::ifstream f(path, std::ios::binary);
      if (!f) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      std::string why;
      if (!whole(text, &why)) {
        std::lock_guard lk(bad_mu);
        if (bad.empty()) bad = why + ":\n" + text;
      }
      ++reads;
      std::this_thread::sleep_for(1ms);
    }
  });

  const std::string pid = std::to_string(prog.pid());
  std::vector<Sample> all;
  std::map<std::string, std::string> low_labels, high_labels;
  // Until a write after the program held its low queue for a while.
  const bool seen = eventually(
      [&] {
        all = samples_of(path);
        const auto priorities = find(all, "xsched_queue_priority", {{"pid", pid}});
        if (priorities.size() != 2) return false;
        for (const Sample& s : priorities) (s.value == 10 ? high_labels : low_labels) = s.labels;
        return !low_labels.empty() && !high_labels.empty() && value(all, "xsched_queue_running", low_labels) == 0 &&
               value(all, "xsched_queue_held_seconds_total", low_labels) > 0.05;
      },
      60s);
  done = true;
  reader.join();
  ASSERT_TRUE(seen) << read_file(path) << "\nlog:\n" << read_file(log);
  EXPECT_NE(read_file(log).find("metrics thread: yes"), std::string::npos) << read_file(log);

  const std::string device = host_device_id(0).text("host");
  for (const auto* labels : {&low_labels, &high_labels}) {
    EXPECT_EQ(labels->at("pid"), pid);
    EXPECT_EQ(labels->at("comm"), comm_of(kProg));
    EXPECT_EQ(labels->at("device"), device);
    EXPECT_EQ(labels->at("platform"), "host");
    EXPECT_NE(labels->at("queue"), "0");
    EXPECT_TRUE(labels->at("level") == "1" || labels->at("level") == "2" || labels->at("level") == "3")
        << labels->at("level");
    EXPECT_EQ(labels->size(), 6u);
  }
  EXPECT_NE(low_labels.at("queue"), high_labels.at("queue"));
  EXPECT_EQ(value(all, "xsched_queue_commands_submitted_total", low_labels), kLow);
  EXPECT_EQ(value(all, "xsched_queue_commands_completed_total", low_labels), kLow);
  EXPECT_EQ(value(all, "xsched_queue_commands_submitted_total", high_labels), kHigh);
  EXPECT_EQ(value(all, "xsched_queue_commands_completed_total", high_labels), kHigh);
  EXPECT_EQ(value(all, "xsched_queue_running", high_labels), 1);
  EXPECT_EQ(value(all, "xsched_queue_ready", low_labels), 0) << "its work is done";
  EXPECT_GE(value(all, "xsched_queue_preemptions_total", low_labels), 1) << "the program's own hold at least";
  EXPECT_EQ(value(all, "xsched_queue_share", low_labels), 1);
  EXPECT_GT(value(all, "xsched_queue_running_seconds_total", high_labels), 0);
  const std::map<std::string, std::string> dev = {{"device", device}, {"pid", pid}, {"comm", comm_of(kProg)}};
  EXPECT_EQ(value(all, "xsched_device_queues", dev), 2);
  auto policy = dev;
  policy["policy"] = "priority";
  EXPECT_EQ(value(all, "xsched_device_policy", policy), 1);
  EXPECT_EQ(find(all, "xsched_build_info", {{"pid", pid}}).size(), 1u);
  EXPECT_EQ(find(all, "xsched_build_info", {{"pid", pid}}).at(0).labels.count("version"), 1u);

  {
    std::lock_guard lk(bad_mu);
    EXPECT_EQ(bad, "") << "the reader saw a partial file";
  }
  EXPECT_GE(reads.load(), 5);

  if (access(kPromtool, X_OK) == 0) {
    const std::string copy = dir.path() + "/copy.txt", out = dir.path() + "/promtool.out";
    std::ofstream(copy, std::ios::binary) << read_file(path);
    const int rc = std::system((std::string(kPromtool) + " check metrics < " + copy + " > " + out + " 2>&1").c_str());
    EXPECT_EQ(rc, 0) << "promtool check metrics: " << read_file(out) << "\n" << read_file(copy);
    EXPECT_EQ(read_file(out), "") << "promtool's lint";
  } else {
    std::printf("%s is not installed (Debian package prometheus): the file is not checked by promtool\n", kPromtool);
  }

  std::ofstream(stop) << "stop";
  ASSERT_EQ(prog.wait_exit(60s), 0) << read_file(log);
  // Written once more at exit: the queues the program destroyed are gone.
  const std::vector<Sample> last = samples_of(path);
  EXPECT_EQ(find(last, "xsched_build_info", {{"pid", pid}}).size(), 1u);
  EXPECT_EQ(find(last, "xsched_queue_running").size(), 0u) << read_file(path);
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << "left behind: " << e.path();
  }
  EXPECT_EQ(count(read_file(log), "xsched:"), 0u) << "no warnings: " << read_file(log);
}

TEST(MetricsFile, ABadIntervalWarnsAndTheFileIsWrittenAtExit) {
  TempDir dir;
  const std::string path = dir.path() + "/xsched.prom", log = dir.path() + "/log";
  Prog prog({"5", "7", "-"},
            {"XSCHED_METRICS_FILE=" + path, "XSCHED_METRICS_INTERVAL_MS=often", "XSCHED_SCHEDULER=local"}, log);
  const pid_t pid = prog.pid();
  ASSERT_EQ(prog.wait_exit(60s), 0) << read_file(log);
  const std::string text = read_file(log);
  EXPECT_NE(text.find("XSCHED_METRICS_INTERVAL_MS=\"often\" is not an integer in 10..3600000; using 5000"),
            std::string::npos)
      << text;
  // The interval (5 s) did not come in so short a run: the write at exit made
  // the file. The C API's queues the program left were gone by then (its
  // handles go before the exit's write).
  const std::string file = read_file(path);
  std::string why;
  EXPECT_TRUE(whole(file, &why)) << why << ":\n" << file;
  EXPECT_EQ(find(read_exposition(file), "xsched_build_info", {{"pid", std::to_string(pid)}}).size(), 1u) << file;
}

TEST(MetricsFile, AFileThatCannotBeWrittenWarnsOnce) {
  TempDir dir;
  const std::string path = dir.path() + "/missing/xsched.prom", stop = dir.path() + "/stop", log = dir.path() + "/log";
  Prog prog({"5", "5", stop}, {"XSCHED_METRICS_FILE=" + path, "XSCHED_METRICS_INTERVAL_MS=10", "XSCHED_SCHEDULER=local"},
            log);
  ASSERT_TRUE(eventually([&] { return read_file(log).find("held") != std::string::npos; }, 60s)) << read_file(log);
  std::this_thread::sleep_for(300ms);  // thirty intervals
  std::ofstream(stop) << "stop";
  ASSERT_EQ(prog.wait_exit(60s), 0) << read_file(log);
  const std::string text = read_file(log);
  EXPECT_NE(text.find("metrics thread: yes"), std::string::npos) << text;
  EXPECT_EQ(count(text, "XSCHED_METRICS_FILE: cannot write " + path + ": No such file or directory"), 1u) << text;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/missing"));
}

TEST(MetricsFile, UnsetNoThreadRunsAndNoFileIsWritten) {
  TempDir dir;
  const std::string log = dir.path() + "/log";
  Prog prog({"3", "3", "-"}, {"XSCHED_SCHEDULER=local"}, log);
  ASSERT_EQ(prog.wait_exit(60s), 0) << read_file(log);
  EXPECT_NE(read_file(log).find("metrics thread: no"), std::string::npos) << read_file(log);
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.path().filename() != "log";
  EXPECT_EQ(files, 0u);
}

TEST(MetricsFile, WritesReplaceTheFileOrLeaveNothing) {
  TempDir dir;
  const std::string path = dir.path() + "/a.prom";
  ASSERT_TRUE(metrics_file::write_atomically(path, "one\n"));
  ASSERT_TRUE(metrics_file::write_atomically(path, "two\n"));
  EXPECT_EQ(read_file(path), "two\n");
  errno = 0;
  EXPECT_FALSE(metrics_file::write_atomically(dir.path() + "/missing/a.prom", "x\n"));
  EXPECT_EQ(errno, ENOENT);
  // A directory where the file should be: the temporary file is written, the rename fails, and it goes.
  std::filesystem::create_directory(dir.path() + "/d.prom");
  EXPECT_FALSE(metrics_file::write_atomically(dir.path() + "/d.prom", "x\n"));
  std::size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
    ++entries;
  }
  EXPECT_EQ(entries, 2u);
}

}  // namespace
}  // namespace xsched::test

// The interposer in whole processes: interpose_probe runs with the
// environment each case needs before libxsched_cuda.so loads (the real-driver
// search, tracing, LD_PRELOAD), and this test reads its output, its stderr
// and its trace file, including the summary written at exit.
#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int status = -1;  // exit code, or -1 if it did not exit normally
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream s(text);
  for (std::string l; std::getline(s, l);) lines.push_back(l);
  return lines;
}

class InterposeProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("xsched_interpose_" + std::to_string(getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Runs `program` with this test's environment minus XSCHED_*, LD_PRELOAD
  // and LD_LIBRARY_PATH (so nothing of the caller's leaks in), plus `env`.
  Outcome run(const std::string& program, std::vector<std::string> args, const std::map<std::string, std::string>& env) {
    std::vector<std::string> envs;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv = *e;
      if (kv.starts_with("XSCHED_") || kv.starts_with("LD_PRELOAD=") || kv.starts_with("LD_LIBRARY_PATH=")) continue;
      if (env.count(kv.substr(0, kv.find('='))) != 0) continue;
      envs.push_back(kv);
    }
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    std::vector<char*> envp, argv;
    for (auto& s : envs) envp.push_back(s.data());
    envp.push_back(nullptr);
    args.insert(args.begin(), program);
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);

    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    Outcome r;
    const int rc = posix_spawn(&pid, program.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << program << ": " << std::strerror(rc);
      return r;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  // The probe linked with -lcuda against the interposer (via shim/).
  Outcome probe(std::map<std::string, std::string> env, std::vector<std::string> args = {}) {
    env.emplace("LD_LIBRARY_PATH", XS_SHIM_DIR);
    return run(XS_PROBE, std::move(args), env);
  }

  fs::path dir_;
};

// Whether `line` is `head`, a hexadecimal number, then `tail`: a trace line
// with a pointer in it.
bool matches(const std::string& line, const std::string& head, const std::string& tail) {
  if (line.size() <= head.size() + tail.size() || !line.starts_with(head) || !line.ends_with(tail)) return false;
  for (size_t i = head.size(); i < line.size() - tail.size(); ++i)
    if (std::strchr("0123456789abcdef", line[i]) == nullptr || line[i] == '\0') return false;
  return true;
}

constexpr const char* kCallHead =
    "xsched-trace cuGetProcAddress_v2 symbol=cuDeviceGetCount version=12000 flags=0 pfn=0x";
constexpr const char* kCallTail = " as=cuDeviceGetCount -> 0 CUDA_SUCCESS";

std::string explain(const Outcome& r) { return "status " + std::to_string(r.status) + "\nstdout:\n" + r.out + "stderr:\n" + r.err; }

TEST_F(InterposeProcess, ForwardsToTheDriverNamedByTheVariable) {
  const Outcome r = probe({{"XSCHED_REAL_LIBCUDA", XS_FAKE_MIN_DRIVER}, {"XSCHED_LOG_LEVEL", "info"}});
  ASSERT_EQ(r.status, 0) << explain(r);
  EXPECT_EQ(r.out, "probe interposer=1 count=0/3 gpa=0,0,0,500\n") << explain(r);
  EXPECT_NE(r.err.find(std::string("real driver ") + XS_FAKE_MIN_DRIVER), std::string::npos) << explain(r);
  EXPECT_EQ(r.err.find("xsched-trace"), std::string::npos) << "tracing is off by default\n" << explain(r);
}

TEST_F(InterposeProcess, RejectsItself) {
  for (const std::string& self : {std::string(XS_INTERPOSER), std::string(XS_SHIM_DIR) + "/libcuda.so.1"}) {
    const Outcome r = probe({{"XSCHED_REAL_LIBCUDA", self}});
    ASSERT_EQ(r.status, 0) << explain(r);
    // Every call fails as without a driver; nothing recursed.
    EXPECT_EQ(r.out, "probe interposer=1 count=3/-1 gpa=3,3,3,3\n") << explain(r);
    EXPECT_NE(r.err.find("XSCHED_REAL_LIBCUDA=" + self + ": is the xsched interposer itself"), std::string::npos)
        << explain(r);
    EXPECT_NE(r.err.find("nothing else is tried"), std::string::npos) << explain(r);
  }
}

TEST_F(InterposeProcess, RejectsACopyOfItself) {
  const fs::path copy = dir_ / "libcuda.so.1";
  fs::copy_file(XS_INTERPOSER, copy);
  const Outcome r = probe({{"XSCHED_REAL_LIBCUDA", copy.string()}});
  ASSERT_EQ(r.status, 0) << explain(r);
  EXPECT_EQ(r.out, "probe interposer=1 count=3/-1 gpa=3,3,3,3\n") << explain(r);
  EXPECT_NE(r.err.find("is an xsched interposer, not the driver"), std::string::npos) << explain(r);
}

TEST_F(InterposeProcess, ReportsAMissingPath) {
  const std::string missing = (dir_ / "no-such-dir" / "libcuda.so.1").string();
  const Outcome r = probe({{"XSCHED_REAL_LIBCUDA", missing}});
  ASSERT_EQ(r.status, 0) << explain(r);
  EXPECT_EQ(r.out, "probe interposer=1 count=3/-1 gpa=3,3,3,3\n") << explain(r);
  EXPECT_NE(r.err.find("xsched: error: CUDA interposer: XSCHED_REAL_LIBCUDA=" + missing + ": No such file or directory"),
            std::string::npos)
      << explain(r);
  // Said once, however many calls fail.
  EXPECT_EQ(r.err.find("XSCHED_REAL_LIBCUDA"), r.err.rfind("XSCHED_REAL_LIBCUDA")) << explain(r);
}

TEST_F(InterposeProcess, RejectsALibraryThatIsNoDriver) {
  Dl_info info;
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&std::terminate), &info), 0);  // libstdc++
  const Outcome r = probe({{"XSCHED_REAL_LIBCUDA", info.dli_fname}});
  ASSERT_EQ(r.status, 0) << explain(r);
  EXPECT_EQ(r.out, "probe interposer=1 count=3/-1 gpa=3,3,3,3\n") << explain(r);
  EXPECT_NE(r.err.find("does not export cuInit"), std::string::npos) << explain(r);
}

// The deployment mode: a program linked with -lcuda (here against the fake,
// which it loads by itself) gets the interposer by LD_PRELOAD instead.
TEST_F(InterposeProcess, PreloadTakesThePlaceOfTheDriver) {
  std::string asan = std::getenv("ASAN_OPTIONS") != nullptr ? std::getenv("ASAN_OPTIONS") : "";
  asan += ":verify_asan_link_order=0";  // a preloaded library comes before the ASan runtime
  const std::map<std::string, std::string> base = {{"LD_LIBRARY_PATH", XS_FAKE_MIN_SHIM_DIR}, {"ASAN_OPTIONS", asan}};

  const Outcome direct = run(XS_PROBE_DIRECT, {}, base);
  ASSERT_EQ(direct.status, 0) << explain(direct);
  EXPECT_EQ(direct.out, "probe interposer=0 count=0/3 gpa=0,0,0,500\n") << explain(direct);

  auto env = base;
  env["LD_PRELOAD"] = XS_INTERPOSER;
  env["XSCHED_REAL_LIBCUDA"] = XS_FAKE_MIN_DRIVER;
  env["XSCHED_TRACE"] = "1";
  const Outcome r = run(XS_PROBE_DIRECT, {}, env);
  ASSERT_EQ(r.status, 0) << explain(r);
  EXPECT_EQ(r.out, "probe interposer=1 count=0/3 gpa=0,0,0,500\n") << explain(r);
  EXPECT_NE(r.err.find("xsched-trace cuGetProcAddress_v2 symbol=cuDeviceGetCount"), std::string::npos) << explain(r);
}

TEST_F(InterposeProcess, TracesOneLinePerCallAndASummaryAtExit) {
  const fs::path log = dir_ / "trace.log";
  const Outcome r = probe({{"XSCHED_REAL_LIBCUDA", XS_FAKE_MIN_DRIVER}, {"XSCHED_TRACE", "1"}, {"XSCHED_TRACE_FILE", log}});
  ASSERT_EQ(r.status, 0) << explain(r);
  EXPECT_EQ(r.out, "probe interposer=1 count=0/3 gpa=0,0,0,500\n") << explain(r);
  EXPECT_EQ(r.err.find("xsched-trace"), std::string::npos) << "the trace goes to the file\n" << explain(r);

  const std::vector<std::string> lines = lines_of(slurp(log));
  ASSERT_EQ(lines.size(), 7u) << slurp(log);
  EXPECT_TRUE(matches(lines[0], kCallHead, kCallTail)) << lines[0];
  EXPECT_TRUE(matches(lines[1], kCallHead, kCallTail)) << lines[1];
  EXPECT_TRUE(matches(lines[2], "xsched-trace cuGetProcAddress symbol=cuDriverGetVersion version=11030 flags=0 pfn=0x",
                      " as=cuDriverGetVersion -> 0 CUDA_SUCCESS"))
      << lines[2];
  EXPECT_EQ(lines[3],
            "xsched-trace cuGetProcAddress_v2 symbol=cuNoSuchCall version=12000 flags=0 pfn=(nil) as=? -> 500 "
            "CUDA_ERROR_NOT_FOUND");
  EXPECT_EQ(lines[4], "xsched-trace summary cuGetProcAddress_v2 calls=3 failures=1");
  EXPECT_EQ(lines[5], "xsched-trace summary cuGetProcAddress calls=1 failures=0");
  EXPECT_EQ(lines[6], "xsched-trace summary total calls=4 failures=1");
}

TEST_F(InterposeProcess, TraceLinesOfThreadsDoNotInterleave) {
  const fs::path log = dir_ / "trace.log";
  const Outcome r = probe({{"XSCHED_REAL_LIBCUDA", XS_FAKE_MIN_DRIVER}, {"XSCHED_TRACE", "1"}, {"XSCHED_TRACE_FILE", log}},
                      {"threads", "8", "200"});
  ASSERT_EQ(r.status, 0) << explain(r);
  EXPECT_EQ(r.out, "probe interposer=1 threads=8 ok=1600\n") << explain(r);
  const std::vector<std::string> lines = lines_of(slurp(log));
  ASSERT_EQ(lines.size(), 1600u + 2u);
  for (size_t i = 0; i < 1600; ++i) ASSERT_TRUE(matches(lines[i], kCallHead, kCallTail)) << i << ": " << lines[i];
  EXPECT_EQ(lines[1600], "xsched-trace summary cuGetProcAddress_v2 calls=1600 failures=0");
  EXPECT_EQ(lines[1601], "xsched-trace summary total calls=1600 failures=0");
}

TEST_F(InterposeProcess, TracesToStderrWhenTheFileCannotBeOpened) {
  const std::string bad = (dir_ / "no-such-dir" / "trace.log").string();
  const Outcome r = probe({{"XSCHED_REAL_LIBCUDA", XS_FAKE_MIN_DRIVER}, {"XSCHED_TRACE", "1"}, {"XSCHED_TRACE_FILE", bad}});
  ASSERT_EQ(r.status, 0) << explain(r);
  EXPECT_NE(r.err.find("xsched: warning: XSCHED_TRACE_FILE=" + bad + ": No such file or directory; tracing to stderr"),
            std::string::npos)
      << explain(r);
  size_t calls = 0;
  for (const std::string& l : lines_of(r.err)) calls += l.starts_with("xsched-trace cuGetProcAddress") ? 1 : 0;
  EXPECT_EQ(calls, 4u) << explain(r);
  EXPECT_NE(r.err.find("xsched-trace summary total calls=4 failures=1\n"), std::string::npos) << explain(r);
}

TEST_F(InterposeProcess, NoDriverAtAllFailsCleanly) {
  // Without the variable the search runs over ld.so.cache and the standard
  // folders; on a machine without a driver it ends in one clear error.
  const Outcome r = probe({});
  ASSERT_EQ(r.status, 0) << explain(r);
  if (r.err.find("xsched: error: CUDA interposer") == std::string::npos) GTEST_SKIP() << "this machine has a driver";
  EXPECT_EQ(r.out, "probe interposer=1 count=3/-1 gpa=3,3,3,3\n") << explain(r);
  EXPECT_NE(r.err.find("no libcuda.so.1 of the NVIDIA driver in /etc/ld.so.cache"), std::string::npos) << explain(r);
  EXPECT_NE(r.err.find("set XSCHED_REAL_LIBCUDA to its path"), std::string::npos) << explain(r);
}

}  // namespace

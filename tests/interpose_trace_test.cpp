// The interposer's call tracing, in-process: line format, result names from
// the driver's cuGetErrorName, cut lines, counting and the summary. Run with
// XSCHED_TRACE=1, XSCHED_TRACE_FILE=<a file> and XSCHED_REAL_LIBCUDA=<the
// minimal fake driver> (tests/CMakeLists.txt sets them).
#include "interpose/common/trace.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace xsched::interpose {
namespace {

class InterposeTrace : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = std::getenv("XSCHED_TRACE_FILE") != nullptr ? std::getenv("XSCHED_TRACE_FILE") : "";
    if (!path_.empty()) unlink(path_.c_str());  // before the first trace_enabled() opens it
  }
  void SetUp() override {
    if (path_.empty()) GTEST_SKIP() << "run through ctest: XSCHED_TRACE_FILE is not set";
  }

  // The lines written since the last call.
  static std::vector<std::string> new_lines() {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    const std::string all = s.str();
    std::vector<std::string> lines;
    std::stringstream rest(all.substr(std::min(offset_, all.size())));
    offset_ = all.size();
    for (std::string l; std::getline(rest, l);) lines.push_back(l);
    EXPECT_TRUE(all.empty() || all.back() == '\n');
    return lines;
  }

  static inline std::string path_;
  static inline size_t offset_ = 0;
};

TEST_F(InterposeTrace, IsOn) { EXPECT_TRUE(trace_enabled()); }

TEST_F(InterposeTrace, OneLinePerCall) {
  trace_call("cuMemAlloc_v2", 0, "size=%zu ptr=%p", size_t{1048576}, reinterpret_cast<void*>(0x7f3a00000000));
  trace_call("cuCtxSynchronize", 500, nullptr);
  trace_call("cuStreamQuery", 600, "stream=%p", nullptr);
  trace_call("cuFoo", 12345, "x=%d", 1);  // a code the driver has no name for
  const auto lines = new_lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "xsched-trace cuMemAlloc_v2 size=1048576 ptr=0x7f3a00000000 -> 0 CUDA_SUCCESS");
  EXPECT_EQ(lines[1], "xsched-trace cuCtxSynchronize -> 500 CUDA_ERROR_NOT_FOUND");
  EXPECT_EQ(lines[2], "xsched-trace cuStreamQuery stream=(nil) -> 600 CUDA_ERROR_NOT_READY");
  EXPECT_EQ(lines[3], "xsched-trace cuFoo x=1 -> 12345");
}

TEST_F(InterposeTrace, KeepsErrno) {
  errno = 42;
  trace_call("cuInit", 0, "flags=%u", 0u);
  EXPECT_EQ(errno, 42);
  EXPECT_EQ(new_lines().size(), 1u);
}

TEST_F(InterposeTrace, LongLinesAreCutButKeepTheirResult) {
  const std::string big(5000, 'a');
  trace_call("cuModuleLoadData", 3, "image=%s", big.c_str());
  const auto lines = new_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LT(lines[0].size(), 1024u);
  EXPECT_TRUE(lines[0].starts_with("xsched-trace cuModuleLoadData image=aaaa")) << lines[0];
  EXPECT_TRUE(lines[0].ends_with("a -> 3 CUDA_ERROR_NOT_INITIALIZED")) << lines[0];
}

TEST_F(InterposeTrace, ThreadsWriteWholeLines) {
  constexpr int kThreads = 8, kCalls = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kCalls; ++i) trace_call("cuLaunchKernel", 0, "thread=%d call=%d grid=(1,1,1)", t, i);
    });
  }
  for (auto& t : threads) t.join();
  const auto lines = new_lines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kCalls));
  std::vector<int> seen(kThreads * kCalls, 0);
  for (const auto& l : lines) {
    int t = -1, i = -1;
    ASSERT_EQ(std::sscanf(l.c_str(), "xsched-trace cuLaunchKernel thread=%d call=%d", &t, &i), 2) << l;
    ASSERT_TRUE(t >= 0 && t < kThreads && i >= 0 && i < kCalls) << l;
    ASSERT_EQ(l, "xsched-trace cuLaunchKernel thread=" + std::to_string(t) + " call=" + std::to_string(i) +
                     " grid=(1,1,1) -> 0 CUDA_SUCCESS");
    ++seen[static_cast<size_t>(t * kCalls + i)];
  }
  for (const int n : seen) ASSERT_EQ(n, 1);
}

TEST_F(InterposeTrace, SummaryCountsEveryNameMostCalledFirst) {
  // trace_count counts without a line. Not-ready is not a failure.
  for (int i = 0; i < 5000; ++i) trace_count("cuEventQuery", i % 2 == 0 ? 0 : 600);
  for (int i = 0; i < 4000; ++i) trace_count("cuMemcpyHtoD_v2", i < 10 ? 700 : 0);
  EXPECT_TRUE(new_lines().empty());

  trace_write_summary();
  const auto lines = new_lines();
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0], "xsched-trace summary cuEventQuery calls=5000 failures=0");
  EXPECT_EQ(lines[1], "xsched-trace summary cuMemcpyHtoD_v2 calls=4000 failures=10");
  // The rest: earlier tests' calls, then the total of every line.
  unsigned long long calls = 0, failures = 0, previous = ~0ull;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    char name[64];
    unsigned long long c = 0, f = 0;
    ASSERT_EQ(std::sscanf(lines[i].c_str(), "xsched-trace summary %63s calls=%llu failures=%llu", name, &c, &f), 3)
        << lines[i];
    EXPECT_EQ(lines[i], "xsched-trace summary " + std::string(name) + " calls=" + std::to_string(c) +
                            " failures=" + std::to_string(f));
    EXPECT_LE(c, previous) << lines[i];
    previous = c;
    calls += c;
    failures += f;
  }
  EXPECT_EQ(lines.back(), "xsched-trace summary total calls=" + std::to_string(calls) +
                              " failures=" + std::to_string(failures));
}

}  // namespace
}  // namespace xsched::interpose

// What interpose_sched_test.cpp needs to drive the interposer in front of the
// fake CUDA driver: the fake's test API, kernels that tag the op log or wait
// for the test, a high-priority "holder" stream that keeps the process's
// priority-0 queues suspended for as long as the test wants, and a watchdog
// that opens every gate when a call the test expects to return does not (so a
// regression fails instead of hanging).
//
// The program is linked with -lcuda against libxsched_cuda.so: every cu* call
// here goes through the interposer, which forwards to libfake_cuda.so
// (XSCHED_REAL_LIBCUDA). The fake's test API comes from a dlopen of the same
// file, hence the same loaded object as the interposer's.
#pragma once

#define __CUDA_API_VERSION_INTERNAL 1  // declarations under the exact exported names
#include <cuda.h>
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fake_cuda.h"
#include "fake_kernel.h"

#ifndef FAKE_CUDA_PATH
#error "FAKE_CUDA_PATH must name libfake_cuda.so"
#endif

namespace xs_sched_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- the fake's test API and the process's contexts (set up once) ----

inline FakeCudaApi g_fake{};
inline CUcontext g_ctx = nullptr;  // the primary context: current in every test thread

// The in-flight window of a Level 1 queue (XSCHED_WINDOW, default 8).
inline unsigned window() {
  const char* w = std::getenv("XSCHED_WINDOW");
  const int n = w != nullptr ? std::atoi(w) : 0;
  return n > 0 ? static_cast<unsigned>(n) : 8u;
}

// ---- kernels ----

// A gate the test opens; gate kernels wait for it (10 s at most, so that a
// failed test never hangs the fake's stream thread forever).
struct Gate {
  std::atomic<int> flag{0};
  void open() { flag.store(1, std::memory_order_release); }
  bool is_open() const { return flag.load(std::memory_order_acquire) != 0; }
};

namespace detail {

inline void gate_fn(void* const* p, const FakeLaunch&) {
  auto* flag = fake_param<std::atomic<int>*>(p, 0);
  const auto give_up = Clock::now() + 10s;
  while (flag->load(std::memory_order_acquire) == 0 && Clock::now() < give_up) std::this_thread::sleep_for(100us);
}

inline void work_fn(void* const* p, const FakeLaunch&) {
  const unsigned us = fake_param<unsigned>(p, 1);
  const auto end = Clock::now() + std::chrono::microseconds(us);
  if (us > 300) std::this_thread::sleep_until(end - 200us);
  while (Clock::now() < end) {
  }
}

}  // namespace detail

// gate(std::atomic<int>* flag, int tag): runs until the gate opens. The op log records tag.
inline CUfunction gate_kernel() {
  static const FakeKernel k{&detail::gate_fn, 2, {sizeof(void*), sizeof(int)}, "xs_gate", 1, {}};
  return fake_kernel_function(&k);
}

// work(int tag, unsigned microseconds): keeps its stream busy that long. The op log records tag.
inline CUfunction work_kernel() {
  static const FakeKernel k{&detail::work_fn, 2, {sizeof(int), sizeof(unsigned)}, "xs_work", 0, {}};
  return fake_kernel_function(&k);
}

inline CUresult launch(CUfunction f, CUstream s, void** args, bool ptsz = false) {
  return (ptsz ? cuLaunchKernel_ptsz : cuLaunchKernel)(f, 1, 1, 1, 1, 1, 1, 0, s, args, nullptr);
}

inline CUresult work(CUstream s, int tag, unsigned us = 0, bool ptsz = false) {
  void* args[] = {&tag, &us};
  return launch(work_kernel(), s, args, ptsz);
}

inline CUresult gate(CUstream s, Gate& g, int tag, bool ptsz = false) {
  std::atomic<int>* flag = &g.flag;
  void* args[] = {&flag, &tag};
  return launch(gate_kernel(), s, args, ptsz);
}

// fake_kernel_store: *p = v.
inline CUresult store(CUstream s, int* p, int v, bool ptsz = false) {
  void* args[] = {&v, &p};
  return launch(fake_kernel_store(), s, args, ptsz);
}

// ---- memory (the fake's device memory is host memory) ----

inline int* dalloc_ints(size_t n) {
  CUdeviceptr p = 0;
  EXPECT_EQ(cuMemAlloc_v2(&p, n * sizeof(int)), CUDA_SUCCESS);
  auto* ip = reinterpret_cast<int*>(p);
  for (size_t i = 0; i < n; ++i) ip[i] = 0;  // nothing runs on it yet
  return ip;
}

inline void dfree(int* p) { EXPECT_EQ(cuMemFree_v2(reinterpret_cast<CUdeviceptr>(p)), CUDA_SUCCESS); }

// ---- what the fake saw ----

inline unsigned long long stream_id(CUstream s) {
  unsigned long long id = 0;
  EXPECT_EQ(cuStreamGetId(s, &id), CUDA_SUCCESS);
  return id;
}

struct OpLog {
  std::vector<FakeCudaLogEntry> entries;

  static OpLog read() {
    OpLog l;
    for (;;) {
      const size_t n = g_fake.log_read(nullptr, 0);
      l.entries.resize(n + 256);
      const size_t m = g_fake.log_read(l.entries.data(), l.entries.size());
      if (m <= l.entries.size()) {
        l.entries.resize(m);
        return l;
      }
    }
  }

  static bool is_tagged(const FakeCudaLogEntry& e) {
    return e.op == FAKE_OP_KERNEL && e.name != nullptr &&
           (std::string(e.name) == "xs_work" || std::string(e.name) == "xs_gate");
  }
  // The work or gate kernels that carried tag t.
  std::vector<const FakeCudaLogEntry*> all(long long t) const {
    std::vector<const FakeCudaLogEntry*> out;
    for (const auto& e : entries) {
      if (is_tagged(e) && e.value == t) out.push_back(&e);
    }
    return out;
  }
  // The one kernel that carried tag t; null (and a failure) if it ran not exactly once.
  const FakeCudaLogEntry* one(long long t) const {
    const auto v = all(t);
    EXPECT_EQ(v.size(), 1u) << "kernel tagged " << t << " ran " << v.size() << " times";
    return v.size() == 1 ? v[0] : nullptr;
  }
  bool has(long long t) const { return !all(t).empty(); }
  // Tags of the work kernels run on stream `id`, in start order.
  std::vector<long long> work_tags_on(unsigned long long id) const {
    std::vector<long long> out;
    for (const auto& e : entries) {
      if (is_tagged(e) && std::string(e.name) == "xs_work" && e.stream_id == id) out.push_back(e.value);
    }
    return out;
  }
  size_t kernels_on(unsigned long long id) const {
    size_t n = 0;
    for (const auto& e : entries) n += e.op == FAKE_OP_KERNEL && e.stream_id == id ? 1 : 0;
    return n;
  }
};

// The kernel tagged t has run (once) and finished.
inline bool finished(long long t) {
  const OpLog log = OpLog::read();
  const auto k = log.all(t);
  return k.size() == 1 && k[0]->end_ns != 0;
}

// a finished before b started.
inline bool ran_before(const FakeCudaLogEntry* a, const FakeCudaLogEntry* b) {
  return a != nullptr && b != nullptr && a->seq < b->seq && a->end_ns != 0 && a->end_ns <= b->start_ns;
}

inline std::vector<std::string> calls() {
  std::vector<const char*> raw(g_fake.calls_read(nullptr, 0) + 256);
  raw.resize(std::min(raw.size(), g_fake.calls_read(raw.data(), raw.size())));
  return {raw.begin(), raw.end()};
}

// Polls pred until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5000ms) {
  const auto end = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// ---- the holder: keeps every priority-0 queue suspended ----

// A stream of CUDA priority -1 (xsched priority 1) in a second context. While
// its gate kernel runs, its queue is ready, so the priority policy suspends
// every queue of priority 0, in either context. Being in another context, it
// does not take part in the primary context's implicit synchronisation,
// cuCtxSynchronize or the fake's cuMemFree waits.
class Holder {
 public:
  // Launches the gate kernel; the queues of priority 0 are suspended when it returns.
  void hold() {
    ASSERT_FALSE(held_) << "already held";
    make();
    gates_.push_back(std::make_unique<Gate>());  // earlier gates stay alive: watchdogs may hold them
    gate_ = gates_.back().get();
    ASSERT_EQ(cuCtxPushCurrent_v2(ctx_), CUDA_SUCCESS);
    const CUresult r = gate(stream_, *gate_, kTag);
    CUcontext popped = nullptr;
    EXPECT_EQ(cuCtxPopCurrent_v2(&popped), CUDA_SUCCESS);
    ASSERT_EQ(r, CUDA_SUCCESS);
    held_ = true;
    launches_at_hold_ = g_fake.launch_count();
  }
  // Kernel launches the driver accepted when hold() returned: while held,
  // launches on priority-0 streams must not add to it.
  unsigned long long launches_at_hold() const { return launches_at_hold_; }
  // Opens the gate and waits until the holder's stream is done.
  void release() {
    if (!held_) return;
    gate_->open();
    EXPECT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
    held_ = false;
  }
  // The holder's queue turns idle in the scheduler's view a little after its
  // stream synchronised: until then, priority-0 queues stay suspended. A
  // priority-0 probe that completes shows they run again.
  void settle() {
    if (stream_ == nullptr) return;
    ASSERT_EQ(cuCtxPushCurrent_v2(ctx_), CUDA_SUCCESS);
    const CUresult r = work(probe_, kTag + 1);
    CUcontext popped = nullptr;
    EXPECT_EQ(cuCtxPopCurrent_v2(&popped), CUDA_SUCCESS);
    ASSERT_EQ(r, CUDA_SUCCESS);
    ASSERT_EQ(cuStreamSynchronize(probe_), CUDA_SUCCESS);
  }
  bool held() const { return held_ && !gate_->is_open(); }
  Gate* current_gate() { return gate_; }
  bool made() const { return stream_ != nullptr; }

  static constexpr int kTag = -424242;

 private:
  void make() {
    if (stream_ != nullptr) return;
    ASSERT_EQ(cuCtxCreate_v2(&ctx_, 0, 0), CUDA_SUCCESS);  // pushed: current
    ASSERT_EQ(cuStreamCreateWithPriority(&stream_, CU_STREAM_NON_BLOCKING, -1), CUDA_SUCCESS);
    ASSERT_EQ(cuStreamCreateWithPriority(&probe_, CU_STREAM_NON_BLOCKING, 0), CUDA_SUCCESS);
    CUcontext popped = nullptr;
    ASSERT_EQ(cuCtxPopCurrent_v2(&popped), CUDA_SUCCESS);
    ASSERT_EQ(popped, ctx_);
  }

  CUcontext ctx_ = nullptr;
  CUstream stream_ = nullptr;
  CUstream probe_ = nullptr;
  unsigned long long launches_at_hold_ = 0;
  std::vector<std::unique_ptr<Gate>> gates_;
  Gate* gate_ = nullptr;
  bool held_ = false;
};

inline Holder& holder() {
  static Holder* h = new Holder;  // lives as long as the process (its context too)
  return *h;
}

// Opens the given gates (and the holder's), then calls rescue (if any), if
// it is not destroyed within `after`: a call that should have returned while
// they were closed (or while what rescue undoes held it) then returns late
// instead of never, and fired() says so.
class Watchdog {
 public:
  explicit Watchdog(std::vector<Gate*> gates, std::chrono::milliseconds after = 5000ms,
                    std::function<void()> rescue = {})
      : gates_(std::move(gates)), rescue_(std::move(rescue)) {
    if (Gate* h = holder().current_gate()) gates_.push_back(h);
    thread_ = std::thread([this, after] { run(after); });
  }
  ~Watchdog() {
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  bool fired() const { return fired_.load(); }

 private:
  void run(std::chrono::milliseconds after) {
    std::unique_lock lk(mu_);
    if (cv_.wait_for(lk, after, [&] { return done_; })) return;
    fired_.store(true);
    for (Gate* g : gates_) g->open();
    if (rescue_) rescue_();
  }

  std::vector<Gate*> gates_;
  std::function<void()> rescue_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

// ---- gtest scaffolding ----

// Once per process: the fake is the driver behind the interposer, the
// primary context is current.
class FakeDriverEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    setenv("XSCHED_REAL_LIBCUDA", FAKE_CUDA_PATH, 0);  // for runs outside ctest
    void* self = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(self, nullptr);
    ASSERT_NE(dlsym(self, "xsched_interposer_abi"), nullptr) << "libcuda.so.1 is not the xsched interposer";
    void* fake = dlopen(FAKE_CUDA_PATH, RTLD_NOW | RTLD_LOCAL);  // never closed
    ASSERT_NE(fake, nullptr) << dlerror();
    ASSERT_TRUE(fake_cuda_api_load(fake, &g_fake));
    ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
    CUdevice dev = 0;
    ASSERT_EQ(cuDeviceGet(&dev, 0), CUDA_SUCCESS);
    ASSERT_EQ(cuDevicePrimaryCtxRetain(&g_ctx, dev), CUDA_SUCCESS);
    ASSERT_EQ(cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
    // The fake counts as the driver only if the interposer opened the same file.
    const unsigned long long before = g_fake.launch_count();
    CUstream s = nullptr;
    ASSERT_EQ(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
    ASSERT_EQ(work(s, 0), CUDA_SUCCESS);
    ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
    ASSERT_EQ(cuStreamDestroy_v2(s), CUDA_SUCCESS);
    ASSERT_EQ(g_fake.launch_count(), before + 1) << "the interposer forwards to another driver than " FAKE_CUDA_PATH;
  }
};
// Each test starts with an idle driver, an empty op log and zeroed counters,
// the primary context current, and destroys the streams it made.
class Sched : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
    holder().settle();
    ASSERT_EQ(g_fake.wait_idle(5000), 0);
    g_fake.log_clear();
    g_fake.reset_counters();
  }
  void TearDown() override {
    holder().release();
    g_fake.inject_error("cuLaunchKernel", CUDA_SUCCESS, 0);
    for (CUstream s : streams_) cuStreamDestroy_v2(s);  // a held error may come back here: not this test's concern
    EXPECT_EQ(cuCtxSynchronize(), CUDA_SUCCESS);
    EXPECT_EQ(g_fake.wait_idle(5000), 0);
  }

  // A stream this test owns (destroyed at the end unless the test did).
  CUstream stream(int cuda_priority = 0, unsigned flags = CU_STREAM_DEFAULT) {
    CUstream s = nullptr;
    EXPECT_EQ(cuStreamCreateWithPriority(&s, flags, cuda_priority), CUDA_SUCCESS);
    streams_.push_back(s);
    return s;
  }
  void destroyed(CUstream s) { std::erase(streams_, s); }

  std::vector<CUstream> streams_;
};

}  // namespace xs_sched_test

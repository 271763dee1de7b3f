// The fake CUDA driver's self-test (fake_cuda_selftest_*.cpp): what its files
// share. The fake is loaded with dlopen by path (fake_cuda_selftest.cpp), as the
// interposer loads its "real" driver, and every call goes through dlsym: D(name)
// gives the fake's function, typed from cuda.h. Helpers to launch the ready-made
// kernels and read device memory, a Gate that holds a stream, and the FakeCuda
// fixture (the primary context current, the log cleared; the fake idle after).
#pragma once

// Before cuda.h, in every file of the test: cuda.h then declares the exact exported names.
#define __CUDA_API_VERSION_INTERNAL 1  // declarations under the exact exported names
#include <cuda.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fake_cuda.h"
#include "fake_kernel.h"

namespace fake_cuda_selftest {

inline void* g_lib = nullptr;
inline FakeCudaApi g_api{};
inline CUcontext g_ctx = nullptr;

inline void* sym(const char* name) {
  void* p = g_lib != nullptr ? dlsym(g_lib, name) : nullptr;
  if (p == nullptr) {
    ADD_FAILURE() << "libfake_cuda.so does not export " << name;
    std::abort();
  }
  return p;
}

// D(cuStreamCreate)(&s, 0): the fake's function, typed from cuda.h.
#define D(name) (reinterpret_cast<decltype(&name)>(sym(#name)))
#define CK(call) ASSERT_EQ((call), CUDA_SUCCESS)

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// ---- helpers ----

inline int* iptr(CUdeviceptr p) { return reinterpret_cast<int*>(p); }

inline CUresult launch(CUfunction f, CUstream s, void** args, bool ptsz = false) {
  return (ptsz ? D(cuLaunchKernel_ptsz) : D(cuLaunchKernel))(f, 1, 1, 1, 1, 1, 1, 0, s, args, nullptr);
}

inline CUresult add(CUstream s, CUdeviceptr p, int v, bool ptsz = false) {
  int* ip = iptr(p);
  void* args[] = {&ip, &v};
  return launch(fake_kernel_add(), s, args, ptsz);
}

inline CUresult store(CUstream s, CUdeviceptr p, int v, bool ptsz = false) {
  int* ip = iptr(p);
  void* args[] = {&v, &ip};
  return launch(fake_kernel_store(), s, args, ptsz);
}

inline CUresult sleep_on(CUstream s, unsigned us, bool ptsz = false) {
  void* args[] = {&us};
  return launch(fake_kernel_sleep(), s, args, ptsz);
}

inline CUresult append(CUstream s, CUdeviceptr log, CUdeviceptr cursor, int v) {
  int* l = iptr(log);
  int* c = iptr(cursor);
  void* args[] = {&l, &c, &v};
  return launch(fake_kernel_append(), s, args);
}

// n ints of device memory, zeroed before it returns (cuMemcpyHtoD is synchronous;
// a cuMemsetD32 would still be pending on the legacy stream, unordered with
// non-blocking streams).
inline CUdeviceptr dalloc(size_t n = 1) {
  CUdeviceptr p = 0;
  EXPECT_EQ(D(cuMemAlloc_v2)(&p, n * sizeof(int)), CUDA_SUCCESS);
  const std::vector<int> zeros(n, 0);
  EXPECT_EQ(D(cuMemcpyHtoD_v2)(p, zeros.data(), n * sizeof(int)), CUDA_SUCCESS);
  return p;
}

inline int dread(CUdeviceptr p) {
  int v = -12345;
  EXPECT_EQ(D(cuMemcpyDtoH_v2)(&v, p, sizeof v), CUDA_SUCCESS);
  return v;
}

inline CUstream mkstream(unsigned flags = CU_STREAM_DEFAULT) {
  CUstream s = nullptr;
  EXPECT_EQ(D(cuStreamCreate)(&s, flags), CUDA_SUCCESS);
  return s;
}

inline CUevent mkevent(unsigned flags = CU_EVENT_DEFAULT) {
  CUevent e = nullptr;
  EXPECT_EQ(D(cuEventCreate)(&e, flags), CUDA_SUCCESS);
  return e;
}

inline unsigned long long stream_id(CUstream s, bool ptsz = false) {
  unsigned long long id = 0;
  EXPECT_EQ((ptsz ? D(cuStreamGetId_ptsz) : D(cuStreamGetId))(s, &id), CUDA_SUCCESS);
  return id;
}

inline std::vector<FakeCudaLogEntry> log_entries() {
  std::vector<FakeCudaLogEntry> v(g_api.log_read(nullptr, 0) + 64);
  v.resize(std::min(v.size(), g_api.log_read(v.data(), v.size())));
  return v;
}

// The first log entry of kernel `name` with value `value`.
inline FakeCudaLogEntry find_op(const std::vector<FakeCudaLogEntry>& log, const char* name, long long value) {
  for (const auto& e : log)
    if (std::strcmp(e.name, name) == 0 && e.value == value) return e;
  ADD_FAILURE() << "no " << name << "(" << value << ") in the log";
  return FakeCudaLogEntry{};
}

// A gate word in pinned memory: hold(s) enqueues "wait until open" on s. It
// makes "still pending" checks deterministic. Should the fake wrongly wait for a
// held stream, the watchdog opens the gate (a test failure) instead of hanging.
class Gate {
 public:
  explicit Gate(int watchdog_ms = 3000) {
    EXPECT_EQ(D(cuMemHostAlloc)(reinterpret_cast<void**>(&word_), sizeof(unsigned), CU_MEMHOSTALLOC_DEVICEMAP),
              CUDA_SUCCESS);
    std::atomic_ref<unsigned>(*word_).store(0);
    watchdog_ = std::thread([this, watchdog_ms] {
      std::unique_lock lk(m_);
      if (!cv_.wait_for(lk, std::chrono::milliseconds(watchdog_ms), [&] { return opened_; })) {
        ADD_FAILURE() << "a held gate had to be opened by the watchdog: something waited for it";
        std::atomic_ref<unsigned>(*word_).store(1);
      }
    });
  }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  ~Gate() {
    open();
    watchdog_.join();
    EXPECT_EQ(D(cuMemFreeHost)(word_), CUDA_SUCCESS);
  }
  void hold(CUstream s, bool ptsz = false) {
    EXPECT_EQ((ptsz ? D(cuStreamWaitValue32_v2_ptsz) : D(cuStreamWaitValue32_v2))(
                  s, reinterpret_cast<CUdeviceptr>(word_), 1, CU_STREAM_WAIT_VALUE_EQ),
              CUDA_SUCCESS);
  }
  void open() {
    {
      std::lock_guard lk(m_);
      opened_ = true;
    }
    std::atomic_ref<unsigned>(*word_).store(1);
    cv_.notify_all();
  }

 private:
  unsigned* word_ = nullptr;
  std::mutex m_;
  std::condition_variable cv_;
  bool opened_ = false;
  std::thread watchdog_;
};

class FakeCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(D(cuCtxSetCurrent)(g_ctx), CUDA_SUCCESS);
    g_api.log_clear();
  }
  void TearDown() override { EXPECT_EQ(g_api.wait_idle(5000), 0); }
};

// What host functions and stream callbacks saw (cuLaunchHostFunc, cuStreamAddCallback).
struct CallbackLog {
  std::vector<std::string> items;
  CUstream seen = nullptr;
  CUresult status = CUDA_ERROR_UNKNOWN;
};

inline void host_fn(void* p) { static_cast<CallbackLog*>(p)->items.push_back("host_func"); }
inline void callback_fn(CUstream s, CUresult status, void* p) {
  auto* l = static_cast<CallbackLog*>(p);
  l->items.push_back("callback");
  l->seen = s;
  l->status = status;
}

}  // namespace fake_cuda_selftest

// Checks the fake CUDA driver (libfake_cuda.so) against CUDA's documented
// semantics. The fake is loaded with dlopen by path, as the interposer loads
// its "real" driver, and every call goes through dlsym.
#define __CUDA_API_VERSION_INTERNAL 1  // declarations under the exact exported names
#include <cuda.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fake_cuda.h"
#include "fake_kernel.h"

#ifndef FAKE_CUDA_PATH
#error "FAKE_CUDA_PATH must name libfake_cuda.so"
#endif

namespace {

void* g_lib = nullptr;
FakeCudaApi g_api{};
CUcontext g_ctx = nullptr;

void* sym(const char* name) {
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

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

class FakeCudaEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    g_lib = dlopen(FAKE_CUDA_PATH, RTLD_NOW | RTLD_LOCAL);  // never closed
    ASSERT_NE(g_lib, nullptr) << dlerror();
    ASSERT_TRUE(fake_cuda_api_load(g_lib, &g_api));
    int n = 0;
    EXPECT_EQ(D(cuDeviceGetCount)(&n), CUDA_ERROR_NOT_INITIALIZED);
    int version = 0;
    EXPECT_EQ(D(cuDriverGetVersion)(&version), CUDA_SUCCESS);  // works before cuInit
    EXPECT_EQ(version, 13000);
    ASSERT_EQ(D(cuInit)(0), CUDA_SUCCESS);
    ASSERT_EQ(D(cuDevicePrimaryCtxRetain)(&g_ctx, 0), CUDA_SUCCESS);
  }
};
[[maybe_unused]] ::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new FakeCudaEnv);

// ---- helpers ----

int* iptr(CUdeviceptr p) { return reinterpret_cast<int*>(p); }

CUresult launch(CUfunction f, CUstream s, void** args, bool ptsz = false) {
  return (ptsz ? D(cuLaunchKernel_ptsz) : D(cuLaunchKernel))(f, 1, 1, 1, 1, 1, 1, 0, s, args, nullptr);
}

CUresult add(CUstream s, CUdeviceptr p, int v, bool ptsz = false) {
  int* ip = iptr(p);
  void* args[] = {&ip, &v};
  return launch(fake_kernel_add(), s, args, ptsz);
}

CUresult store(CUstream s, CUdeviceptr p, int v, bool ptsz = false) {
  int* ip = iptr(p);
  void* args[] = {&v, &ip};
  return launch(fake_kernel_store(), s, args, ptsz);
}

CUresult sleep_on(CUstream s, unsigned us, bool ptsz = false) {
  void* args[] = {&us};
  return launch(fake_kernel_sleep(), s, args, ptsz);
}

CUresult append(CUstream s, CUdeviceptr log, CUdeviceptr cursor, int v) {
  int* l = iptr(log);
  int* c = iptr(cursor);
  void* args[] = {&l, &c, &v};
  return launch(fake_kernel_append(), s, args);
}

// n ints of device memory, zeroed before it returns (cuMemcpyHtoD is synchronous;
// a cuMemsetD32 would still be pending on the legacy stream, unordered with
// non-blocking streams).
CUdeviceptr dalloc(size_t n = 1) {
  CUdeviceptr p = 0;
  EXPECT_EQ(D(cuMemAlloc_v2)(&p, n * sizeof(int)), CUDA_SUCCESS);
  const std::vector<int> zeros(n, 0);
  EXPECT_EQ(D(cuMemcpyHtoD_v2)(p, zeros.data(), n * sizeof(int)), CUDA_SUCCESS);
  return p;
}

int dread(CUdeviceptr p) {
  int v = -12345;
  EXPECT_EQ(D(cuMemcpyDtoH_v2)(&v, p, sizeof v), CUDA_SUCCESS);
  return v;
}

CUstream mkstream(unsigned flags = CU_STREAM_DEFAULT) {
  CUstream s = nullptr;
  EXPECT_EQ(D(cuStreamCreate)(&s, flags), CUDA_SUCCESS);
  return s;
}

CUevent mkevent(unsigned flags = CU_EVENT_DEFAULT) {
  CUevent e = nullptr;
  EXPECT_EQ(D(cuEventCreate)(&e, flags), CUDA_SUCCESS);
  return e;
}

unsigned long long stream_id(CUstream s, bool ptsz = false) {
  unsigned long long id = 0;
  EXPECT_EQ((ptsz ? D(cuStreamGetId_ptsz) : D(cuStreamGetId))(s, &id), CUDA_SUCCESS);
  return id;
}

std::vector<FakeCudaLogEntry> log_entries() {
  std::vector<FakeCudaLogEntry> v(g_api.log_read(nullptr, 0) + 64);
  v.resize(std::min(v.size(), g_api.log_read(v.data(), v.size())));
  return v;
}

// The first log entry of kernel `name` with value `value`.
FakeCudaLogEntry find_op(const std::vector<FakeCudaLogEntry>& log, const char* name, long long value) {
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

// ============================ basics ============================

TEST_F(FakeCuda, DeviceAndErrors) {
  int n = 0;
  CK(D(cuDeviceGetCount)(&n));
  EXPECT_EQ(n, 1);
  CUdevice dev = -1;
  CK(D(cuDeviceGet)(&dev, 0));
  EXPECT_EQ(dev, 0);
  EXPECT_EQ(D(cuDeviceGet)(&dev, 1), CUDA_ERROR_INVALID_DEVICE);
  int warp = 0;
  CK(D(cuDeviceGetAttribute)(&warp, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0));
  EXPECT_EQ(warp, 32);
  char name[64];
  CK(D(cuDeviceGetName)(name, sizeof name, 0));
  EXPECT_NE(std::strlen(name), 0u);
  const char* s = nullptr;
  CK(D(cuGetErrorName)(CUDA_ERROR_INVALID_VALUE, &s));
  EXPECT_STREQ(s, "CUDA_ERROR_INVALID_VALUE");
  CK(D(cuGetErrorString)(CUDA_ERROR_NOT_READY, &s));
  EXPECT_STREQ(s, "device not ready");
  EXPECT_EQ(D(cuGetErrorName)(static_cast<CUresult>(12345), &s), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(s, nullptr);
  int least = 1, greatest = 1;
  CK(D(cuCtxGetStreamPriorityRange)(&least, &greatest));
  EXPECT_EQ(least, 0);
  EXPECT_EQ(greatest, -5);
  EXPECT_EQ(D(cuInit)(1), CUDA_ERROR_INVALID_VALUE);
}

TEST_F(FakeCuda, ContextStackIsPerThread) {
  CUcontext cur = nullptr;
  CK(D(cuCtxGetCurrent)(&cur));
  EXPECT_EQ(cur, g_ctx);
  CUdevice dev = -1;
  CK(D(cuCtxGetDevice)(&dev));
  EXPECT_EQ(dev, 0);
  CK(D(cuCtxPushCurrent_v2)(g_ctx));
  CUcontext popped = nullptr;
  CK(D(cuCtxPopCurrent_v2)(&popped));
  EXPECT_EQ(popped, g_ctx);
  CK(D(cuCtxGetCurrent)(&cur));
  EXPECT_EQ(cur, g_ctx);

  std::thread([] {
    CUcontext c = g_ctx;
    EXPECT_EQ(D(cuCtxGetCurrent)(&c), CUDA_SUCCESS);
    EXPECT_EQ(c, nullptr);
    CUstream s = nullptr;
    EXPECT_EQ(D(cuStreamCreate)(&s, 0), CUDA_ERROR_INVALID_CONTEXT);
    CUdeviceptr p = 0;
    EXPECT_EQ(D(cuMemAlloc_v2)(&p, 4), CUDA_ERROR_INVALID_CONTEXT);
    EXPECT_EQ(D(cuCtxSynchronize)(), CUDA_ERROR_INVALID_CONTEXT);
    unsigned us = 1;
    void* args[] = {&us};
    EXPECT_EQ(launch(fake_kernel_sleep(), nullptr, args), CUDA_ERROR_INVALID_CONTEXT);
    EXPECT_EQ(launch(fake_kernel_sleep(), nullptr, args, true), CUDA_ERROR_INVALID_CONTEXT);
    EXPECT_EQ(D(cuCtxPopCurrent_v2)(&c), CUDA_ERROR_INVALID_CONTEXT);
    EXPECT_EQ(D(cuCtxSetCurrent)(g_ctx), CUDA_SUCCESS);
    EXPECT_EQ(launch(fake_kernel_sleep(), nullptr, args), CUDA_SUCCESS);
    EXPECT_EQ(D(cuCtxSynchronize)(), CUDA_SUCCESS);
  }).join();
}

TEST_F(FakeCuda, CreatedContextIsPushedAndDestroyed) {
  CUcontext c2 = nullptr;
  CK(D(cuCtxCreate_v2)(&c2, 0, 0));
  CUcontext cur = nullptr;
  CK(D(cuCtxGetCurrent)(&cur));
  EXPECT_EQ(cur, c2);
  unsigned long long id1 = 0, id2 = 0;
  CK(D(cuCtxGetId)(g_ctx, &id1));
  CK(D(cuCtxGetId)(nullptr, &id2));
  EXPECT_NE(id1, id2);
  CUstream s = mkstream();
  CUcontext sc = nullptr;
  CK(D(cuStreamGetCtx)(s, &sc));
  EXPECT_EQ(sc, c2);
  CK(D(cuCtxDestroy_v2)(c2));
  CK(D(cuCtxGetCurrent)(&cur));
  EXPECT_EQ(cur, g_ctx);  // popped
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(D(cuCtxSetCurrent)(c2), CUDA_ERROR_CONTEXT_IS_DESTROYED);
  EXPECT_EQ(D(cuCtxDestroy_v2)(g_ctx), CUDA_ERROR_INVALID_CONTEXT);  // the primary context
}

// ============================ streams ============================

TEST_F(FakeCuda, StreamRunsInFifoOrder) {
  CUstream s = mkstream();
  CUdeviceptr log = dalloc(64), cursor = dalloc();
  Gate gate;
  gate.hold(s);
  CK(sleep_on(s, 20000));
  for (int i = 0; i < 50; ++i) CK(append(s, log, cursor, i));
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_ERROR_NOT_READY);
  EXPECT_EQ(g_api.stream_pending(s), 52);
  gate.open();
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_SUCCESS);
  EXPECT_EQ(g_api.stream_pending(s), 0);
  std::vector<int> got(50);
  CK(D(cuMemcpyDtoH_v2)(got.data(), log, 50 * sizeof(int)));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[i], i);
  EXPECT_EQ(dread(cursor), 50);
  // The op log saw them start in order, each after the previous one ended.
  const auto entries = log_entries();
  std::vector<FakeCudaLogEntry> mine;
  for (const auto& e : entries)
    if (e.stream_id == stream_id(s)) mine.push_back(e);
  ASSERT_EQ(mine.size(), 52u);
  EXPECT_EQ(mine[0].op, FAKE_OP_WAIT_VALUE);
  EXPECT_STREQ(mine[1].name, "fake_kernel_sleep");
  EXPECT_EQ(mine[1].value, 20000);
  for (size_t i = 1; i < mine.size(); ++i) {
    EXPECT_GE(mine[i].start_ns, mine[i - 1].end_ns);
    EXPECT_EQ(mine[i].stream_kind, FAKE_STREAM_USER);
    EXPECT_EQ(mine[i].op, FAKE_OP_KERNEL);
    if (i >= 2) {
      EXPECT_EQ(mine[i].value, static_cast<long long>(i - 2));
    }
  }
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuMemFree_v2)(log));
  CK(D(cuMemFree_v2)(cursor));
}

TEST_F(FakeCuda, StreamAttributes) {
  CUstream a = nullptr, b = nullptr, c = nullptr;
  CK(D(cuStreamCreateWithPriority)(&a, CU_STREAM_NON_BLOCKING, -3));
  CK(D(cuStreamCreateWithPriority)(&b, 0, -100));
  CK(D(cuStreamCreateWithPriority)(&c, 0, 7));
  int p = 1;
  CK(D(cuStreamGetPriority)(a, &p));
  EXPECT_EQ(p, -3);
  CK(D(cuStreamGetPriority)(b, &p));
  EXPECT_EQ(p, -5);
  CK(D(cuStreamGetPriority)(c, &p));
  EXPECT_EQ(p, 0);
  unsigned flags = 99;
  CK(D(cuStreamGetFlags)(a, &flags));
  EXPECT_EQ(flags, static_cast<unsigned>(CU_STREAM_NON_BLOCKING));
  CK(D(cuStreamGetFlags)(b, &flags));
  EXPECT_EQ(flags, 0u);
  CUcontext ctx = nullptr;
  CK(D(cuStreamGetCtx)(a, &ctx));
  EXPECT_EQ(ctx, g_ctx);
  CUgreenCtx green = reinterpret_cast<CUgreenCtx>(1);
  CK(D(cuStreamGetCtx_v2)(nullptr, &ctx, &green));
  EXPECT_EQ(ctx, g_ctx);
  EXPECT_EQ(green, nullptr);
  CK(D(cuStreamGetCtx_ptsz)(nullptr, &ctx));
  EXPECT_EQ(ctx, g_ctx);
  CUdevice dev = -1;
  CK(D(cuStreamGetDevice)(a, &dev));
  EXPECT_EQ(dev, 0);
  EXPECT_NE(stream_id(a), stream_id(b));
  EXPECT_EQ(stream_id(nullptr), stream_id(CU_STREAM_LEGACY));
  EXPECT_EQ(stream_id(nullptr, true), stream_id(CU_STREAM_PER_THREAD));
  EXPECT_NE(stream_id(nullptr), stream_id(nullptr, true));
  CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_ACTIVE;
  CK(D(cuStreamIsCapturing)(a, &st));
  EXPECT_EQ(st, CU_STREAM_CAPTURE_STATUS_NONE);
  const CUgraphNode* deps = reinterpret_cast<const CUgraphNode*>(1);
  size_t ndeps = 9;
  st = CU_STREAM_CAPTURE_STATUS_ACTIVE;
  CK(D(cuStreamGetCaptureInfo_v3_ptsz)(nullptr, &st, nullptr, nullptr, &deps, nullptr, &ndeps));
  EXPECT_EQ(st, CU_STREAM_CAPTURE_STATUS_NONE);
  EXPECT_EQ(deps, nullptr);
  EXPECT_EQ(ndeps, 0u);
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
  CK(D(cuThreadExchangeStreamCaptureMode)(&mode));
  EXPECT_EQ(mode, CU_STREAM_CAPTURE_MODE_GLOBAL);
  CK(D(cuThreadExchangeStreamCaptureMode)(&mode));
  EXPECT_EQ(mode, CU_STREAM_CAPTURE_MODE_RELAXED);
  CUstream bad = nullptr;
  EXPECT_EQ(D(cuStreamCreate)(&bad, 0x10), CUDA_ERROR_INVALID_VALUE);
  const int live = g_api.live_streams();
  CK(D(cuStreamDestroy_v2)(a));
  EXPECT_EQ(g_api.live_streams(), live - 1);
  EXPECT_EQ(D(cuStreamQuery)(a), CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(D(cuStreamDestroy_v2)(a), CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(D(cuStreamDestroy_v2)(nullptr), CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(D(cuStreamDestroy_v2)(CU_STREAM_LEGACY), CUDA_ERROR_INVALID_HANDLE);
  CK(D(cuStreamDestroy_v2)(b));
  CK(D(cuStreamDestroy_v2)(c));
}

TEST_F(FakeCuda, DestroyReturnsAtOnceAndWorkStillRuns) {
  CUstream s = mkstream();
  CUdeviceptr x = dalloc();
  Gate gate;
  gate.hold(s);
  CK(add(s, x, 1));
  CK(D(cuStreamDestroy_v2)(s));  // returns although s has work pending
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_ERROR_INVALID_HANDLE);
  gate.open();
  CK(D(cuCtxSynchronize)());  // waits for the destroyed stream's work too
  EXPECT_EQ(dread(x), 1);
  CK(D(cuMemFree_v2)(x));
}

// ====================== implicit synchronisation ======================

TEST_F(FakeCuda, LegacyWaitsForBlockingStreams) {
  CUstream b = mkstream();
  CUdeviceptr x = dalloc();
  CK(sleep_on(b, 150000));
  CK(add(nullptr, x, 1));
  CK(D(cuStreamSynchronize)(nullptr));
  EXPECT_EQ(D(cuStreamQuery)(b), CUDA_SUCCESS);
  const auto log = log_entries();
  EXPECT_GE(find_op(log, "fake_kernel_add", 1).start_ns, find_op(log, "fake_kernel_sleep", 150000).end_ns);
  EXPECT_EQ(find_op(log, "fake_kernel_add", 1).stream_kind, FAKE_STREAM_LEGACY);
  CK(D(cuStreamDestroy_v2)(b));
  CK(D(cuMemFree_v2)(x));
}

TEST_F(FakeCuda, BlockingStreamWaitsForLegacy) {
  CUstream b = mkstream();
  CUdeviceptr x = dalloc();
  CK(sleep_on(CU_STREAM_LEGACY, 150000));
  CK(add(b, x, 1));
  CK(D(cuStreamSynchronize)(b));
  EXPECT_EQ(D(cuStreamQuery)(nullptr), CUDA_SUCCESS);
  EXPECT_EQ(dread(x), 1);
  CK(D(cuStreamDestroy_v2)(b));
  CK(D(cuMemFree_v2)(x));
}

TEST_F(FakeCuda, NonBlockingStreamIgnoresLegacy) {
  CUstream n = mkstream(CU_STREAM_NON_BLOCKING);
  CUdeviceptr x = dalloc();
  {
    Gate gate;
    gate.hold(nullptr);
    CK(add(n, x, 1));
    CK(D(cuStreamSynchronize)(n));
    EXPECT_EQ(D(cuStreamQuery)(nullptr), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuCtxSynchronize)());
  {
    // And the legacy stream does not wait for it either.
    Gate gate;
    gate.hold(n);
    CK(add(nullptr, x, 1));
    CK(D(cuStreamSynchronize)(nullptr));
    EXPECT_EQ(D(cuStreamQuery)(n), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuCtxSynchronize)());
  EXPECT_EQ(dread(x), 2);
  CK(D(cuStreamDestroy_v2)(n));
  CK(D(cuMemFree_v2)(x));
}

TEST_F(FakeCuda, BlockingStreamsDoNotWaitForEachOther) {
  CUstream b1 = mkstream(), b2 = mkstream();
  CUdeviceptr x = dalloc();
  {
    Gate gate;
    gate.hold(b1);
    CK(add(b2, x, 1));
    CK(D(cuStreamSynchronize)(b2));
    EXPECT_EQ(D(cuStreamQuery)(b1), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuCtxSynchronize)());
  CK(D(cuStreamDestroy_v2)(b1));
  CK(D(cuStreamDestroy_v2)(b2));
  CK(D(cuMemFree_v2)(x));
}

TEST_F(FakeCuda, ImplicitSyncChainsThroughLegacy) {
  // b1 -> legacy -> b2: each waits for the one before, so appends need no other ordering.
  CUstream b1 = mkstream(), b2 = mkstream();
  CUdeviceptr log = dalloc(4), cursor = dalloc();
  CK(sleep_on(b1, 100000));
  CK(append(b1, log, cursor, 1));
  CK(append(nullptr, log, cursor, 2));
  CK(append(b2, log, cursor, 3));
  CK(D(cuStreamSynchronize)(b2));
  int got[3] = {};
  CK(D(cuMemcpyDtoH_v2)(got, log, sizeof got));
  EXPECT_EQ(got[0], 1);
  EXPECT_EQ(got[1], 2);
  EXPECT_EQ(got[2], 3);
  CK(D(cuStreamDestroy_v2)(b1));
  CK(D(cuStreamDestroy_v2)(b2));
  CK(D(cuMemFree_v2)(log));
  CK(D(cuMemFree_v2)(cursor));
}

TEST_F(FakeCuda, PerThreadStreamSyncsWithLegacyOnly) {
  CUdeviceptr x = dalloc();
  // legacy -> per-thread
  CK(sleep_on(nullptr, 150000));
  CK(add(nullptr, x, 1, /*ptsz=*/true));
  CK(D(cuStreamSynchronize_ptsz)(nullptr));
  EXPECT_EQ(D(cuStreamQuery)(nullptr), CUDA_SUCCESS);
  // per-thread -> legacy
  CK(sleep_on(CU_STREAM_PER_THREAD, 150000));
  CK(add(nullptr, x, 1));
  CK(D(cuStreamSynchronize)(nullptr));
  EXPECT_EQ(D(cuStreamQuery_ptsz)(nullptr), CUDA_SUCCESS);
  // but not with another blocking stream
  CUstream b = mkstream();
  {
    Gate gate;
    gate.hold(b);
    CK(add(CU_STREAM_PER_THREAD, x, 1));
    CK(D(cuStreamSynchronize)(CU_STREAM_PER_THREAD));
    EXPECT_EQ(D(cuStreamQuery)(b), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuCtxSynchronize)());
  EXPECT_EQ(dread(x), 3);
  CK(D(cuStreamDestroy_v2)(b));
  CK(D(cuMemFree_v2)(x));
}

TEST_F(FakeCuda, LegacyDoesNotWaitForOtherContexts) {
  CUdeviceptr x = dalloc();
  Gate gate;
  CUcontext c2 = nullptr;
  CK(D(cuCtxCreate_v2)(&c2, 0, 0));
  CUstream b2 = mkstream();  // blocking, in c2
  gate.hold(b2);
  CK(D(cuCtxPopCurrent_v2)(nullptr));
  CK(add(nullptr, x, 1));
  CK(D(cuStreamSynchronize)(nullptr));
  EXPECT_EQ(D(cuStreamQuery)(b2), CUDA_ERROR_NOT_READY);
  gate.open();
  CK(D(cuCtxDestroy_v2)(c2));  // waits for c2's work
  EXPECT_EQ(dread(x), 1);
  CK(D(cuMemFree_v2)(x));
}

// ============================ events ============================

TEST_F(FakeCuda, EventNeverRecordedIsComplete) {
  CUevent e = mkevent();
  CUstream s = mkstream();
  CUdeviceptr x = dalloc();
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_SUCCESS);
  CK(D(cuEventSynchronize)(e));
  CK(D(cuStreamWaitEvent)(s, e, 0));
  CK(add(s, x, 1));
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(dread(x), 1);
  float ms = 0;
  EXPECT_EQ(D(cuEventElapsedTime_v2)(&ms, e, e), CUDA_ERROR_INVALID_HANDLE);
  CK(D(cuEventDestroy_v2)(e));
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuMemFree_v2)(x));
}

TEST_F(FakeCuda, EventQueryAndSynchronize) {
  CUevent e = mkevent();
  CUstream s = mkstream();
  Gate gate;
  gate.hold(s);
  CK(D(cuEventRecord)(e, s));
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_NOT_READY);
  gate.open();
  CK(D(cuEventSynchronize)(e));
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_SUCCESS);
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_SUCCESS);
  const auto log = log_entries();
  const auto rec = find_op(log, "event_record", static_cast<long long>(g_api.event_id(e)));
  EXPECT_EQ(rec.op, FAKE_OP_EVENT_RECORD);
  CK(D(cuEventDestroy_v2)(e));
  CK(D(cuStreamDestroy_v2)(s));
}

TEST_F(FakeCuda, EventQueryUsesLatestRecord) {
  CUevent e = mkevent();
  CUstream s1 = mkstream(), s2 = mkstream();
  Gate gate;
  gate.hold(s1);
  CK(D(cuEventRecord)(e, s1));
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_NOT_READY);
  CK(D(cuEventRecord)(e, s2));  // s2 is idle: this record completes at once
  CK(D(cuEventSynchronize)(e));
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_SUCCESS);
  EXPECT_EQ(D(cuStreamQuery)(s1), CUDA_ERROR_NOT_READY);
  gate.open();
  CK(D(cuEventDestroy_v2)(e));
  CK(D(cuStreamDestroy_v2)(s1));
  CK(D(cuStreamDestroy_v2)(s2));
}

TEST_F(FakeCuda, StreamWaitUsesRecordAtCallTime) {
  CUevent e = mkevent();
  CUstream s1 = mkstream(CU_STREAM_NON_BLOCKING), s2 = mkstream(CU_STREAM_NON_BLOCKING),
           s3 = mkstream(CU_STREAM_NON_BLOCKING);
  CUdeviceptr x = dalloc();
  // The wait binds to the pending record on s1, not to the later one on idle s3.
  CK(sleep_on(s1, 150000));
  CK(D(cuEventRecord)(e, s1));
  CK(D(cuStreamWaitEvent)(s2, e, 0));
  CK(D(cuEventRecord)(e, s3));
  CK(add(s2, x, 1));
  CK(D(cuStreamSynchronize)(s2));
  EXPECT_EQ(D(cuStreamQuery)(s1), CUDA_SUCCESS);
  // A wait made while the latest record is complete does not wait for a later record.
  CK(D(cuEventSynchronize)(e));
  CK(D(cuStreamWaitEvent)(s2, e, 0));
  {
    Gate gate;
    gate.hold(s1);
    CK(D(cuEventRecord)(e, s1));
    CK(add(s2, x, 1));
    CK(D(cuStreamSynchronize)(s2));
    EXPECT_EQ(D(cuStreamQuery)(s1), CUDA_ERROR_NOT_READY);
    EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuCtxSynchronize)());
  EXPECT_EQ(dread(x), 2);
  EXPECT_EQ(D(cuStreamWaitEvent)(s2, e, 0x8), CUDA_ERROR_INVALID_VALUE);
  CK(D(cuEventDestroy_v2)(e));
  for (CUstream s : {s1, s2, s3}) CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuMemFree_v2)(x));
}

TEST_F(FakeCuda, EventElapsedTime) {
  CUevent a = mkevent(), b = mkevent(), untimed = mkevent(CU_EVENT_DISABLE_TIMING);
  CUstream s = mkstream();
  float ms = -1;
  {
    Gate gate;
    gate.hold(s);
    CK(D(cuEventRecord)(a, s));
    CK(sleep_on(s, 30000));
    CK(D(cuEventRecordWithFlags)(b, s, CU_EVENT_RECORD_DEFAULT));
    EXPECT_EQ(D(cuEventElapsedTime_v2)(&ms, a, b), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuEventSynchronize)(b));
  CK(D(cuEventElapsedTime_v2)(&ms, a, b));
  EXPECT_GE(ms, 29.0f);
  EXPECT_LT(ms, 1000.0f);
  CK(D(cuEventElapsedTime)(&ms, a, b));
  EXPECT_GE(ms, 29.0f);
  CK(D(cuEventRecord)(untimed, s));
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(D(cuEventElapsedTime_v2)(&ms, a, untimed), CUDA_ERROR_INVALID_HANDLE);
  CUevent bad = nullptr;
  EXPECT_EQ(D(cuEventCreate)(&bad, CU_EVENT_INTERPROCESS), CUDA_ERROR_INVALID_VALUE);
  for (CUevent e : {a, b, untimed}) CK(D(cuEventDestroy_v2)(e));
  CK(D(cuStreamDestroy_v2)(s));
}

TEST_F(FakeCuda, EventDestroyWithPendingRecord) {
  CUevent e = mkevent();
  CUstream s = mkstream();
  const int live = g_api.live_events();
  Gate gate;
  gate.hold(s);
  CK(D(cuEventRecord)(e, s));
  CK(D(cuEventDestroy_v2)(e));
  EXPECT_EQ(g_api.live_events(), live - 1);
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_INVALID_HANDLE);
  gate.open();
  CK(D(cuStreamSynchronize)(s));
  CK(D(cuStreamDestroy_v2)(s));
}

TEST_F(FakeCuda, EventRecordPtszUsesPerThreadStream) {
  CUevent e = mkevent();
  {
    Gate gate;
    gate.hold(nullptr, /*ptsz=*/true);
    CK(D(cuEventRecord_ptsz)(e, nullptr));
    EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_NOT_READY);
    EXPECT_EQ(g_api.stream_pending(CU_STREAM_PER_THREAD), 2);
    EXPECT_EQ(g_api.stream_pending(nullptr), 0);  // nothing went to the legacy stream
  }
  CK(D(cuEventSynchronize)(e));
  const auto log = log_entries();
  EXPECT_EQ(find_op(log, "event_record", static_cast<long long>(g_api.event_id(e))).stream_kind,
            FAKE_STREAM_PER_THREAD);
  CK(D(cuEventDestroy_v2)(e));
}

// ============================ kernels ============================

TEST_F(FakeCuda, ArgumentsAreCopiedAtLaunch) {
  CUstream s = mkstream();
  CUdeviceptr x = dalloc();
  Gate gate;
  gate.hold(s);
  int* p = iptr(x);
  int v = 5;
  void* args[] = {&p, &v};
  CK(launch(fake_kernel_add(), s, args));
  v = 100;  // the kernel has not run yet; it must see 5
  p = nullptr;
  gate.open();
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(dread(x), 5);
  EXPECT_EQ(find_op(log_entries(), "fake_kernel_add", 5).op, FAKE_OP_KERNEL);
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuMemFree_v2)(x));
}

TEST_F(FakeCuda, StructArgumentIsCopiedExactly) {
  CUstream s = mkstream();
  CUdeviceptr out = dalloc(10);
  FakeStruct40 st{};
  st.a = 0x1122334455667788LL;
  for (int i = 0; i < 8; ++i) st.b[i] = 1000 + i;
  const FakeStruct40 original = st;
  int* o = iptr(out);
  void* args[] = {&st, &o};
  Gate gate;
  gate.hold(s);
  CK(launch(fake_kernel_struct(), s, args));
  std::memset(&st, 0xFF, sizeof st);
  gate.open();
  CK(D(cuStreamSynchronize)(s));
  FakeStruct40 got{};
  CK(D(cuMemcpyDtoH_v2)(&got, out, sizeof got));
  EXPECT_EQ(std::memcmp(&got, &original, sizeof got), 0);
  size_t off = 0, size = 0;
  CK(D(cuFuncGetParamInfo)(fake_kernel_struct(), 0, &off, &size));
  EXPECT_EQ(off, 0u);
  EXPECT_EQ(size, 40u);
  CK(D(cuFuncGetParamInfo)(fake_kernel_struct(), 1, &off, &size));
  EXPECT_EQ(off, 40u);
  EXPECT_EQ(size, sizeof(int*));
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuMemFree_v2)(out));
}

TEST_F(FakeCuda, ExtraBufferAndParamInfo) {
  CUstream s = mkstream();
  CUdeviceptr x = dalloc();
  size_t off0 = 9, size0 = 9, off1 = 9, size1 = 9;
  CK(D(cuFuncGetParamInfo)(fake_kernel_store(), 0, &off0, &size0));
  CK(D(cuFuncGetParamInfo)(fake_kernel_store(), 1, &off1, &size1));
  EXPECT_EQ(off0, 0u);
  EXPECT_EQ(size0, sizeof(int));
  EXPECT_EQ(off1, 8u);  // padded
  EXPECT_EQ(size1, sizeof(int*));
  EXPECT_EQ(D(cuFuncGetParamInfo)(fake_kernel_store(), 2, &off1, &size1), CUDA_ERROR_INVALID_VALUE);

  alignas(8) unsigned char buf[16] = {};
  const int v = 77;
  int* p = iptr(x);
  std::memcpy(buf + off0, &v, sizeof v);
  std::memcpy(buf + off1, &p, sizeof p);
  size_t buf_size = sizeof buf;
  void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &buf_size, CU_LAUNCH_PARAM_END};
  {
    Gate gate;
    gate.hold(s);
    CK(D(cuLaunchKernel)(fake_kernel_store(), 1, 1, 1, 1, 1, 1, 0, s, nullptr, extra));
    std::memset(buf, 0, sizeof buf);  // copied at launch
  }
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(dread(x), 77);

  size_t small = 12;
  void* extra_small[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &small,
                         CU_LAUNCH_PARAM_END};
  EXPECT_EQ(D(cuLaunchKernel)(fake_kernel_store(), 1, 1, 1, 1, 1, 1, 0, s, nullptr, extra_small),
            CUDA_ERROR_INVALID_VALUE);
  void* args[] = {const_cast<int*>(&v), &p};
  EXPECT_EQ(D(cuLaunchKernel)(fake_kernel_store(), 1, 1, 1, 1, 1, 1, 0, s, args, extra), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(D(cuLaunchKernel)(fake_kernel_store(), 1, 1, 1, 1, 1, 1, 0, s, nullptr, nullptr),
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(D(cuLaunchKernel)(fake_kernel_store(), 0, 1, 1, 1, 1, 1, 0, s, args, nullptr), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(D(cuLaunchKernel)(fake_kernel_store(), 1, 1, 1, 2048, 1, 1, 0, s, args, nullptr),
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(D(cuLaunchKernel)(nullptr, 1, 1, 1, 1, 1, 1, 0, s, args, nullptr), CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(D(cuLaunchKernel)(fake_kernel_store(), 1, 1, 1, 1, 1, 1, 0, reinterpret_cast<CUstream>(0x1234), args,
                              nullptr),
            CUDA_ERROR_INVALID_HANDLE);
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuMemFree_v2)(x));
}

FakeLaunch g_seen{};
void record_launch(void* const*, const FakeLaunch& l) { g_seen = l; }

TEST_F(FakeCuda, LaunchKernelExAndLaunchInfo) {
  static const FakeKernel k{&record_launch, 0, {}, "record_launch", -1, {}};
  CUstream s = mkstream();
  CUlaunchConfig cfg{};
  cfg.gridDimX = 4;
  cfg.gridDimY = 2;
  cfg.gridDimZ = 1;
  cfg.blockDimX = 128;
  cfg.blockDimY = 1;
  cfg.blockDimZ = 1;
  cfg.sharedMemBytes = 1024;
  cfg.hStream = s;
  CK(D(cuLaunchKernelEx)(&cfg, fake_kernel_function(&k), nullptr, nullptr));
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(g_seen.grid[0], 4u);
  EXPECT_EQ(g_seen.grid[1], 2u);
  EXPECT_EQ(g_seen.block[0], 128u);
  EXPECT_EQ(g_seen.shared_mem_bytes, 1024u);
  EXPECT_EQ(g_seen.stream_id, stream_id(s));
  EXPECT_EQ(g_seen.ctx, g_ctx);
  cfg.hStream = nullptr;
  CK(D(cuLaunchKernelEx_ptsz)(&cfg, fake_kernel_function(&k), nullptr, nullptr));
  CK(D(cuStreamSynchronize_ptsz)(nullptr));
  EXPECT_EQ(g_seen.stream_id, stream_id(CU_STREAM_PER_THREAD));
  CK(D(cuLaunchKernelEx)(&cfg, fake_kernel_function(&k), nullptr, nullptr));
  CK(D(cuStreamSynchronize)(nullptr));
  EXPECT_EQ(g_seen.stream_id, stream_id(CU_STREAM_LEGACY));
  EXPECT_EQ(D(cuLaunchKernelEx)(nullptr, fake_kernel_function(&k), nullptr, nullptr), CUDA_ERROR_INVALID_VALUE);

  const char* name = nullptr;
  CK(D(cuFuncGetName)(&name, fake_kernel_add()));
  EXPECT_STREQ(name, "fake_kernel_add");
  int maxt = 0;
  CK(D(cuFuncGetAttribute)(&maxt, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fake_kernel_add()));
  EXPECT_EQ(maxt, 1024);
  CUfunctionLoadingState st = CU_FUNCTION_LOADING_STATE_UNLOADED;
  CK(D(cuFuncIsLoaded)(&st, fake_kernel_add()));
  EXPECT_EQ(st, CU_FUNCTION_LOADING_STATE_LOADED);
  CK(D(cuFuncLoad)(fake_kernel_add()));
  CK(D(cuStreamDestroy_v2)(s));
}

// ============================ memory ============================

TEST_F(FakeCuda, MemFreeWaitsForAllStreams) {
  CUstream b = mkstream(), n = mkstream(CU_STREAM_NON_BLOCKING);
  CUdeviceptr x = dalloc(), y = dalloc();
  CK(sleep_on(b, 150000));
  CK(add(b, x, 1));
  CK(sleep_on(n, 150000));
  CK(add(n, y, 1));
  auto t0 = Clock::now();
  CK(D(cuMemFree_v2)(x));  // an interposer that frees before queued work ran would let it write freed memory
  EXPECT_GE(ms_since(t0), 100);
  EXPECT_EQ(D(cuStreamQuery)(b), CUDA_SUCCESS);
  EXPECT_EQ(D(cuStreamQuery)(n), CUDA_SUCCESS);
  EXPECT_EQ(D(cuMemFree_v2)(x), CUDA_ERROR_INVALID_VALUE);  // already freed

  void* h = nullptr;
  CK(D(cuMemAllocHost_v2)(&h, 64));
  CK(sleep_on(n, 100000));
  CK(store(n, reinterpret_cast<CUdeviceptr>(h), 3));
  t0 = Clock::now();
  CK(D(cuMemFreeHost)(h));
  EXPECT_GE(ms_since(t0), 60);
  EXPECT_EQ(D(cuStreamQuery)(n), CUDA_SUCCESS);
  CK(D(cuMemFree_v2)(y));
  CK(D(cuStreamDestroy_v2)(b));
  CK(D(cuStreamDestroy_v2)(n));
}

TEST_F(FakeCuda, SyncCopiesAreOrderedOnLegacy) {
  CUstream b = mkstream(), n = mkstream(CU_STREAM_NON_BLOCKING);
  CUdeviceptr x = dalloc(), y = dalloc();
  CK(sleep_on(b, 100000));
  CK(store(b, x, 7));
  int h = 0;
  CK(D(cuMemcpyDtoH_v2)(&h, x, sizeof h));  // waits for b through the legacy stream
  EXPECT_EQ(h, 7);
  {
    Gate gate;
    gate.hold(n);
    const int v = 9;
    CK(D(cuMemcpyHtoD_v2)(y, &v, sizeof v));  // does not wait for the non-blocking stream
    EXPECT_EQ(D(cuStreamQuery)(n), CUDA_ERROR_NOT_READY);
    EXPECT_EQ(dread(y), 9);
  }
  CK(D(cuMemcpy)(reinterpret_cast<CUdeviceptr>(&h), y, sizeof h));
  EXPECT_EQ(h, 9);
  CK(D(cuCtxSynchronize)());
  const auto log = log_entries();
  EXPECT_EQ(find_op(log, "memcpy_dtoh", 0).stream_kind, FAKE_STREAM_LEGACY);
  CK(D(cuStreamDestroy_v2)(b));
  CK(D(cuStreamDestroy_v2)(n));
  CK(D(cuMemFree_v2)(x));
  CK(D(cuMemFree_v2)(y));
}

TEST_F(FakeCuda, DeviceMemsetAndDtoDAreAsyncToHost) {
  CUstream b = mkstream();
  CUdeviceptr x = dalloc(), y = dalloc();
  void* pinned = nullptr;
  CK(D(cuMemAllocHost_v2)(&pinned, 4));
  {
    Gate gate;
    gate.hold(b);
    CK(D(cuMemsetD32_v2)(x, 5, 1));  // device memory: returns before it runs
    EXPECT_EQ(D(cuStreamQuery)(b), CUDA_ERROR_NOT_READY);
    CK(D(cuMemcpyDtoD_v2)(y, x, 4));  // device to device: likewise
    EXPECT_EQ(D(cuStreamQuery)(b), CUDA_ERROR_NOT_READY);
    EXPECT_EQ(g_api.stream_pending(nullptr), 2);
  }
  EXPECT_EQ(dread(y), 5);  // ordered after both
  CK(sleep_on(b, 100000));
  CK(D(cuMemsetD32_v2)(reinterpret_cast<CUdeviceptr>(pinned), 6, 1));  // host memory: synchronous
  EXPECT_EQ(D(cuStreamQuery)(b), CUDA_SUCCESS);
  EXPECT_EQ(*static_cast<int*>(pinned), 6);
  CK(D(cuMemFreeHost)(pinned));
  CK(D(cuStreamDestroy_v2)(b));
  CK(D(cuMemFree_v2)(x));
  CK(D(cuMemFree_v2)(y));
}

TEST_F(FakeCuda, AsyncCopiesAndMemsets) {
  CUstream s = mkstream(CU_STREAM_NON_BLOCKING);
  CUdeviceptr a = 0, b = 0;
  CK(D(cuMemAlloc_v2)(&a, 64));
  CK(D(cuMemAlloc_v2)(&b, 64));
  unsigned char* host = nullptr;
  CK(D(cuMemHostAlloc)(reinterpret_cast<void**>(&host), 64, CU_MEMHOSTALLOC_PORTABLE));
  for (int i = 0; i < 64; ++i) host[i] = static_cast<unsigned char>(i);
  CK(sleep_on(s, 20000));
  CK(D(cuMemcpyHtoDAsync_v2)(a, host, 64, s));
  CK(D(cuMemsetD8Async)(a, 0xAB, 4, s));
  CK(D(cuMemsetD16Async)(a + 4, 0x1234, 2, s));
  CK(D(cuMemcpyDtoDAsync_v2)(b, a, 64, s));
  CK(D(cuMemsetD32Async)(a, 0, 16, s));
  CK(D(cuMemcpyAsync)(b + 60, a, 4, s));
  CK(D(cuMemcpyDtoHAsync_v2)(host, b, 64, s));
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(host[0], 0xAB);
  EXPECT_EQ(host[3], 0xAB);
  EXPECT_EQ(host[4], 0x34);
  EXPECT_EQ(host[5], 0x12);
  EXPECT_EQ(host[8], 8);
  EXPECT_EQ(host[59], 59);
  EXPECT_EQ(host[60], 0);
  EXPECT_EQ(D(cuMemsetD32Async)(a + 2, 0, 1, s), CUDA_ERROR_INVALID_VALUE);  // misaligned
  int pageable = 0;
  EXPECT_EQ(D(cuMemcpyHtoD_v2)(reinterpret_cast<CUdeviceptr>(&pageable), host, 4), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(D(cuMemcpyHtoDAsync_v2)(a, host, 65, s), CUDA_ERROR_INVALID_VALUE);  // past the end
  CK(D(cuMemFreeHost)(host));
  CK(D(cuMemFree_v2)(a));
  CK(D(cuMemFree_v2)(b));
  CK(D(cuStreamDestroy_v2)(s));
}

TEST_F(FakeCuda, AsyncCopiesWithPageableMemory) {
  CUstream s = mkstream();
  CUdeviceptr x = dalloc(), y = dalloc();
  {
    // From pageable memory: staged at the call, so the buffer can be reused at once.
    Gate gate;
    gate.hold(s);
    int v = 1;
    CK(D(cuMemcpyHtoDAsync_v2)(x, &v, sizeof v, s));
    v = 2;
    CK(D(cuMemcpyAsync)(y, reinterpret_cast<CUdeviceptr>(&v), sizeof v, s));
    v = 3;
    EXPECT_EQ(g_api.stream_pending(s), 3);
  }
  // Into pageable memory: returns when done.
  int out[2] = {};
  {
    Gate gate;
    gate.hold(s);
    const auto t0 = Clock::now();
    std::thread opener([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      gate.open();
    });
    CK(D(cuMemcpyDtoHAsync_v2)(&out[0], x, sizeof(int), s));
    EXPECT_GE(ms_since(t0), 45);
    opener.join();
  }
  CK(D(cuMemcpyAsync)(reinterpret_cast<CUdeviceptr>(&out[1]), y, sizeof(int), s));
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1], 2);
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuMemFree_v2)(x));
  CK(D(cuMemFree_v2)(y));
}

TEST_F(FakeCuda, AllocAsyncAndFreeAsync) {
  CUstream s = mkstream();
  const int live = g_api.live_allocations();
  CUdeviceptr p = 0;
  CK(D(cuMemAllocAsync)(&p, 16, s));
  CK(D(cuMemsetD32Async)(p, 4, 4, s));
  int h[4] = {};
  CK(D(cuMemcpyDtoHAsync_v2)(h, p, sizeof h, s));  // pageable: synchronous
  CK(D(cuMemFreeAsync)(p, s));
  EXPECT_EQ(D(cuMemFreeAsync)(p, s), CUDA_ERROR_INVALID_VALUE);  // already being freed
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(h[3], 4);
  EXPECT_EQ(g_api.live_allocations(), live);
  const auto log = log_entries();
  EXPECT_EQ(find_op(log, "mem_alloc_async", 0).op, FAKE_OP_MEM_ALLOC);
  EXPECT_EQ(find_op(log, "mem_free_async", 0).op, FAKE_OP_MEM_FREE);
  CK(D(cuMemAllocAsync_ptsz)(&p, 16, nullptr));
  CK(D(cuMemFreeAsync_ptsz)(p, nullptr));
  CK(D(cuStreamSynchronize_ptsz)(nullptr));
  CK(D(cuStreamDestroy_v2)(s));
}

TEST_F(FakeCuda, PtdsCopiesUsePerThreadStream) {
  CUdeviceptr x = dalloc();
  g_api.log_clear();
  CK(sleep_on(nullptr, 50000, /*ptsz=*/true));
  CK(store(nullptr, x, 9, /*ptsz=*/true));
  int h = 0;
  CK(D(cuMemcpyDtoH_v2_ptds)(&h, x, sizeof h));  // ordered after the store
  EXPECT_EQ(h, 9);
  const int v = 10;
  CK(D(cuMemcpyHtoD_v2_ptds)(x, &v, sizeof v));
  CK(D(cuMemsetD8_v2_ptds)(x + 3, 0, 1));
  CK(D(cuMemcpy_ptds)(reinterpret_cast<CUdeviceptr>(&h), x, sizeof h));
  EXPECT_EQ(h, 10);
  const auto log = log_entries();
  EXPECT_EQ(find_op(log, "memcpy_dtoh", 0).stream_kind, FAKE_STREAM_PER_THREAD);
  EXPECT_EQ(find_op(log, "memcpy_htod", 0).stream_kind, FAKE_STREAM_PER_THREAD);
  EXPECT_EQ(find_op(log, "memset_d8", 0).stream_kind, FAKE_STREAM_PER_THREAD);
  CK(D(cuMemFree_v2)(x));
}

TEST_F(FakeCuda, HostRegisterAndDevicePointer) {
  alignas(64) static unsigned words[16];
  CK(D(cuMemHostRegister_v2)(words, sizeof words, CU_MEMHOSTREGISTER_DEVICEMAP));
  EXPECT_EQ(D(cuMemHostRegister_v2)(words + 1, 4, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
  CUdeviceptr d = 0;
  CK(D(cuMemHostGetDevicePointer_v2)(&d, words, 0));
  EXPECT_EQ(d, reinterpret_cast<CUdeviceptr>(words));
  CUstream s = mkstream();
  CK(D(cuStreamWriteValue32_v2)(s, d + 4, 11, 0));
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(std::atomic_ref<unsigned>(words[1]).load(), 11u);
  CK(D(cuMemHostUnregister)(words));
  EXPECT_EQ(D(cuMemHostUnregister)(words), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
  CK(D(cuStreamDestroy_v2)(s));
  size_t free_b = 0, total = 0;
  CK(D(cuMemGetInfo_v2)(&free_b, &total));
  EXPECT_GT(total, 0u);
  EXPECT_LE(free_b, total);
}

// ======================= per-thread default streams =======================

TEST_F(FakeCuda, PerThreadStreamsAreDistinctPerThread) {
  const unsigned long long main_id = stream_id(CU_STREAM_PER_THREAD);
  EXPECT_EQ(main_id, stream_id(nullptr, /*ptsz=*/true));
  CUevent busy = mkevent();
  Gate gate;
  unsigned long long id_a = 0, id_b = 0, id_a2 = 0;
  std::thread([&] {
    EXPECT_EQ(D(cuCtxSetCurrent)(g_ctx), CUDA_SUCCESS);
    id_a = stream_id(CU_STREAM_PER_THREAD);
    EXPECT_EQ(id_a, stream_id(nullptr, true));
    gate.hold(nullptr, /*ptsz=*/true);
    EXPECT_EQ(D(cuEventRecord_ptsz)(busy, nullptr), CUDA_SUCCESS);
    // exits with work pending on its per-thread stream
  }).join();
  std::thread([&] {
    EXPECT_EQ(D(cuCtxSetCurrent)(g_ctx), CUDA_SUCCESS);
    id_b = stream_id(CU_STREAM_PER_THREAD);
    unsigned us = 1;
    void* args[] = {&us};
    EXPECT_EQ(launch(fake_kernel_sleep(), nullptr, args, true), CUDA_SUCCESS);
    EXPECT_EQ(D(cuStreamSynchronize_ptsz)(nullptr), CUDA_SUCCESS);
    EXPECT_EQ(D(cuEventQuery)(busy), CUDA_ERROR_NOT_READY);  // the first thread's stream is not this one
  }).join();
  std::thread([&] {
    EXPECT_EQ(D(cuCtxSetCurrent)(g_ctx), CUDA_SUCCESS);
    id_a2 = stream_id(CU_STREAM_PER_THREAD);
  }).join();
  EXPECT_NE(id_a, main_id);
  EXPECT_NE(id_b, main_id);
  EXPECT_NE(id_a, id_b);
  EXPECT_NE(id_a2, id_a);  // a new thread gets a new stream even if its thread id is reused
  EXPECT_EQ(D(cuEventQuery)(busy), CUDA_ERROR_NOT_READY);
  gate.open();
  CK(D(cuCtxSynchronize)());  // includes the exited thread's stream
  EXPECT_EQ(D(cuEventQuery)(busy), CUDA_SUCCESS);
  CK(D(cuEventDestroy_v2)(busy));
}

// ============================ stream operations ============================

struct CallbackLog {
  std::vector<std::string> items;
  CUstream seen = nullptr;
  CUresult status = CUDA_ERROR_UNKNOWN;
};

void host_fn(void* p) { static_cast<CallbackLog*>(p)->items.push_back("host_func"); }
void callback_fn(CUstream s, CUresult status, void* p) {
  auto* l = static_cast<CallbackLog*>(p);
  l->items.push_back("callback");
  l->seen = s;
  l->status = status;
}

TEST_F(FakeCuda, HostFunctionsRunInOrder) {
  CUstream s = mkstream();
  CallbackLog cl;
  CK(sleep_on(s, 20000));
  CK(D(cuLaunchHostFunc)(s, &host_fn, &cl));
  CK(D(cuStreamAddCallback)(s, &callback_fn, &cl, 0));
  CK(D(cuLaunchHostFunc)(s, &host_fn, &cl));
  CK(D(cuStreamSynchronize)(s));
  ASSERT_EQ(cl.items.size(), 3u);
  EXPECT_EQ(cl.items[0], "host_func");
  EXPECT_EQ(cl.items[1], "callback");
  EXPECT_EQ(cl.items[2], "host_func");
  EXPECT_EQ(cl.seen, s);
  EXPECT_EQ(cl.status, CUDA_SUCCESS);
  EXPECT_EQ(D(cuStreamAddCallback)(s, &callback_fn, &cl, 1), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(D(cuLaunchHostFunc)(s, nullptr, &cl), CUDA_ERROR_INVALID_VALUE);
  CK(D(cuLaunchHostFunc_ptsz)(nullptr, &host_fn, &cl));
  CK(D(cuStreamSynchronize_ptsz)(nullptr));
  EXPECT_EQ(cl.items.size(), 4u);
  CK(D(cuStreamDestroy_v2)(s));
}

TEST_F(FakeCuda, WaitValueGatesAStream) {
  unsigned* gate = nullptr;
  CK(D(cuMemHostAlloc)(reinterpret_cast<void**>(&gate), 64, CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_PORTABLE));
  CUdeviceptr dgate = 0;
  CK(D(cuMemHostGetDevicePointer_v2)(&dgate, gate, 0));
  std::atomic_ref<unsigned> g0(gate[0]), g1(gate[1]), g2(gate[2]), g3(gate[3]);
  g0.store(0);
  g1.store(5);
  g2.store(4);
  g3.store(1);
  CUstream s = mkstream(CU_STREAM_NON_BLOCKING);
  CUdeviceptr x = dalloc();
  CK(D(cuStreamWaitValue32_v2)(s, dgate, 1, CU_STREAM_WAIT_VALUE_EQ));
  CK(add(s, x, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(g_api.stream_pending(s), 2);
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_ERROR_NOT_READY);
  g0.store(1);  // open
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(dread(x), 1);

  CK(D(cuStreamWaitValue32_v2)(s, dgate + 4, 3, CU_STREAM_WAIT_VALUE_GEQ));  // 5 >= 3: passes
  CK(D(cuStreamSynchronize)(s));
  CK(D(cuStreamWaitValue32)(s, dgate + 8, 2, CU_STREAM_WAIT_VALUE_AND));  // 4 & 2 == 0: blocks
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_ERROR_NOT_READY);
  g2.store(6);
  CK(D(cuStreamSynchronize)(s));
  CK(D(cuStreamWaitValue32_v2)(s, dgate + 12, 0xFFFFFFFEu, CU_STREAM_WAIT_VALUE_NOR));  // ~(1|~1) == 0: blocks
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_ERROR_NOT_READY);
  g3.store(0);
  CK(D(cuStreamSynchronize)(s));

  CK(D(cuStreamWriteValue32_v2)(s, dgate + 16, 42, CU_STREAM_WRITE_VALUE_DEFAULT));
  CK(D(cuStreamWriteValue64_v2)(s, dgate + 24, 0x100000000ULL, 0));
  CK(D(cuStreamWaitValue64_v2)(s, dgate + 24, 0x100000000ULL, CU_STREAM_WAIT_VALUE_EQ));
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(std::atomic_ref<unsigned>(gate[4]).load(), 42u);

  // The per-thread flavour gates the calling thread's default stream.
  g0.store(0);
  CK(D(cuStreamWaitValue32_v2_ptsz)(nullptr, dgate, 1, CU_STREAM_WAIT_VALUE_EQ));
  EXPECT_EQ(D(cuStreamQuery_ptsz)(nullptr), CUDA_ERROR_NOT_READY);
  CK(D(cuStreamWriteValue32_v2)(s, dgate, 1, 0));  // opened by another stream
  CK(D(cuStreamSynchronize_ptsz)(nullptr));

  EXPECT_EQ(D(cuStreamWaitValue32_v2)(s, dgate + 2, 1, 0), CUDA_ERROR_INVALID_VALUE);  // misaligned
  int pageable = 0;
  EXPECT_EQ(D(cuStreamWaitValue32_v2)(s, reinterpret_cast<CUdeviceptr>(&pageable), 1, 0), CUDA_ERROR_INVALID_VALUE);
  const auto log = log_entries();
  EXPECT_EQ(find_op(log, "wait_value32", 1).op, FAKE_OP_WAIT_VALUE);
  EXPECT_EQ(find_op(log, "write_value32", 42).op, FAKE_OP_WRITE_VALUE);
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuMemFree_v2)(x));
  CK(D(cuMemFreeHost)(gate));
}

// ============================ green contexts ============================

CUdevResource device_sms() {
  CUdevResource r{};
  EXPECT_EQ(D(cuDeviceGetDevResource)(0, &r, CU_DEV_RESOURCE_TYPE_SM), CUDA_SUCCESS);
  return r;
}

CUresult split(CUdevResource* result, unsigned* n, const CUdevResource* input, CUdevResource* rest,
               unsigned min_count, unsigned flags = 0) {
  return D(cuDevSmResourceSplitByCount)(result, n, input, rest, flags, min_count);
}

// A green context of the first group of a split of the device into groups of min_count SMs.
CUgreenCtx mkgreen(unsigned min_count) {
  CUdevResource dev = device_sms();
  CUdevResource group{};
  unsigned n = 1;
  EXPECT_EQ(split(&group, &n, &dev, nullptr, min_count), CUDA_SUCCESS);
  CUdevResourceDesc desc = nullptr;
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&desc, &group, 1), CUDA_SUCCESS);
  CUgreenCtx g = nullptr;
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, desc, 0, CU_GREEN_CTX_DEFAULT_STREAM), CUDA_SUCCESS);
  return g;
}

CUcontext ctx_of(CUgreenCtx g) {
  CUcontext c = nullptr;
  EXPECT_EQ(D(cuCtxFromGreenCtx)(&c, g), CUDA_SUCCESS);
  return c;
}

unsigned long long ctx_id(CUcontext c) {
  unsigned long long id = 0;
  EXPECT_EQ(D(cuCtxGetId)(c, &id), CUDA_SUCCESS);
  return id;
}

CUstream mkgreenstream(CUgreenCtx g, int priority = 0) {
  CUstream s = nullptr;
  EXPECT_EQ(D(cuGreenCtxStreamCreate)(&s, g, CU_STREAM_NON_BLOCKING, priority), CUDA_SUCCESS);
  return s;
}

CUgreenCtx green_of(CUstream s) {
  CUgreenCtx g = reinterpret_cast<CUgreenCtx>(1);
  EXPECT_EQ(D(cuStreamGetGreenCtx)(s, &g), CUDA_SUCCESS);
  return g;
}

TEST_F(FakeCuda, GreenSmResourceSplit) {
  const CUdevResource dev = device_sms();
  EXPECT_EQ(dev.type, CU_DEV_RESOURCE_TYPE_SM);
  EXPECT_EQ(dev.sm.smCount, 132u);
  EXPECT_EQ(dev.sm.minSmPartitionSize, 8u);
  EXPECT_EQ(dev.sm.smCount % dev.sm.smCoscheduledAlignment, 0u);
  int sms = 0;
  CK(D(cuDeviceGetAttribute)(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
  EXPECT_EQ(sms, 132);

  // A NULL result asks how many groups would be made: 132 / 16.
  unsigned n = 0;
  CK(split(nullptr, &n, &dev, nullptr, 16));
  EXPECT_EQ(n, 8u);
  // 20 rounds up to 24 SMs a group: 5 fit.
  n = 0;
  CK(split(nullptr, &n, &dev, nullptr, 20));
  EXPECT_EQ(n, 5u);
  // Two asked for: two groups of 24, the other 84 SMs remain.
  CUdevResource groups[4]{};
  CUdevResource rest{};
  n = 2;
  CK(split(groups, &n, &dev, &rest, 20));
  ASSERT_EQ(n, 2u);
  for (unsigned i = 0; i < n; ++i) {
    EXPECT_EQ(groups[i].type, CU_DEV_RESOURCE_TYPE_SM);
    EXPECT_EQ(groups[i].sm.smCount, 24u);
    EXPECT_EQ(groups[i].sm.smCoscheduledAlignment, 8u);
  }
  EXPECT_EQ(rest.type, CU_DEV_RESOURCE_TYPE_SM);
  EXPECT_EQ(rest.sm.smCount, 84u);
  // minCount 0: groups of the minimum, 8; more asked for than fit: what fits.
  std::vector<CUdevResource> many(100);
  n = 100;
  CK(split(many.data(), &n, &dev, &rest, 0));
  EXPECT_EQ(n, 16u);
  EXPECT_EQ(many[0].sm.smCount, 8u);
  EXPECT_EQ(many[15].sm.smCount, 8u);
  EXPECT_EQ(rest.sm.smCount, 4u);
  n = 3;
  CK(split(groups, &n, &dev, nullptr, 1));  // remaining may be NULL
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(groups[2].sm.smCount, 8u);
  // Ignoring coscheduling, groups are multiples of 2.
  n = 1;
  CK(split(groups, &n, &dev, &rest, 3, CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING));
  EXPECT_EQ(groups[0].sm.smCount, 4u);
  EXPECT_EQ(rest.sm.smCount, 128u);

  EXPECT_EQ(split(groups, nullptr, &dev, nullptr, 8), CUDA_ERROR_INVALID_VALUE);
  n = 1;
  EXPECT_EQ(split(groups, &n, nullptr, nullptr, 8), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(split(groups, &n, &dev, nullptr, 133), CUDA_ERROR_INVALID_VALUE);  // more than the input
  EXPECT_EQ(split(groups, &n, &dev, nullptr, 130), CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);  // 136 > 132
  EXPECT_EQ(split(groups, &n, &dev, nullptr, 8, 0x100), CUDA_ERROR_INVALID_VALUE);
  n = 0;
  EXPECT_EQ(split(groups, &n, &dev, nullptr, 8), CUDA_ERROR_INVALID_VALUE);  // an empty result array
  n = 1;
  CUdevResource invalid{};
  EXPECT_EQ(split(groups, &n, &invalid, nullptr, 8), CUDA_ERROR_INVALID_RESOURCE_TYPE);
  CUdevResource forged{};
  forged.type = CU_DEV_RESOURCE_TYPE_SM;
  forged.sm.smCount = 64;
  EXPECT_EQ(split(groups, &n, &forged, nullptr, 8), CUDA_ERROR_INVALID_VALUE);  // not made by the driver
  CUdevResource again[2]{};
  EXPECT_EQ(split(again, &n, &many[0], nullptr, 8), CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);  // a split's output
  CUdevResource r{};
  EXPECT_EQ(D(cuDeviceGetDevResource)(1, &r, CU_DEV_RESOURCE_TYPE_SM), CUDA_ERROR_INVALID_DEVICE);
  EXPECT_EQ(D(cuDeviceGetDevResource)(0, &r, CU_DEV_RESOURCE_TYPE_INVALID), CUDA_ERROR_INVALID_RESOURCE_TYPE);
  EXPECT_EQ(D(cuDeviceGetDevResource)(0, nullptr, CU_DEV_RESOURCE_TYPE_SM), CUDA_ERROR_INVALID_VALUE);

  // The SM count is one setting: the attribute and the resource.
  g_api.set_sm_count(64);
  CK(D(cuDeviceGetAttribute)(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
  EXPECT_EQ(sms, 64);
  const CUdevResource small = device_sms();
  EXPECT_EQ(small.sm.smCount, 64u);
  n = 0;
  CK(split(nullptr, &n, &small, nullptr, 16));
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(g_api.ctx_sm_count(ctx_id(g_ctx)), 64u);
  g_api.set_sm_count(132);
  EXPECT_EQ(g_api.ctx_sm_count(ctx_id(g_ctx)), 132u);
}

TEST_F(FakeCuda, GreenCtxCreateAndDestroy) {
  const CUdevResource dev = device_sms();
  CUdevResource groups[2]{};
  CUdevResource rest{};
  unsigned n = 2;
  CK(split(groups, &n, &dev, &rest, 16));
  // A descriptor of one resource, or of several outputs of one split.
  CUdevResourceDesc one = nullptr, two = nullptr, bad = nullptr;
  CK(D(cuDevResourceGenerateDesc)(&one, groups, 1));
  CUdevResource pair[2] = {groups[1], rest};
  CK(D(cuDevResourceGenerateDesc)(&two, pair, 2));
  CUdevResource other{};
  n = 1;
  CK(split(&other, &n, &dev, nullptr, 8));
  CUdevResource mixed[2] = {groups[0], other};
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&bad, mixed, 2), CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);
  CUdevResource twice[2] = {groups[0], groups[0]};
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&bad, twice, 2), CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);
  CUdevResource wholes[2] = {dev, dev};
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&bad, wholes, 2), CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&bad, groups, 0), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(nullptr, groups, 1), CUDA_ERROR_INVALID_VALUE);

  CUgreenCtx g = nullptr, g2 = nullptr;
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, one, 0, 0), CUDA_ERROR_INVALID_VALUE);  // CU_GREEN_CTX_DEFAULT_STREAM is required
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, one, 1, CU_GREEN_CTX_DEFAULT_STREAM), CUDA_ERROR_INVALID_DEVICE);
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, reinterpret_cast<CUdevResourceDesc>(&rest), 0, CU_GREEN_CTX_DEFAULT_STREAM),
            CUDA_ERROR_INVALID_VALUE);
  CK(D(cuGreenCtxCreate)(&g, one, 0, CU_GREEN_CTX_DEFAULT_STREAM));
  CK(D(cuGreenCtxCreate)(&g2, two, 0, CU_GREEN_CTX_DEFAULT_STREAM));
  CUcontext cur = nullptr;
  CK(D(cuCtxGetCurrent)(&cur));
  EXPECT_EQ(cur, g_ctx);  // not made current

  // A context of its own, on the primary context's device.
  const CUcontext gc = ctx_of(g);
  ASSERT_NE(gc, nullptr);
  EXPECT_NE(gc, g_ctx);
  EXPECT_NE(static_cast<void*>(gc), static_cast<void*>(g));
  const unsigned long long gid = ctx_id(gc);
  EXPECT_NE(gid, ctx_id(g_ctx));
  EXPECT_NE(gid, ctx_id(ctx_of(g2)));
  unsigned long long id = 0;
  CK(D(cuGreenCtxGetId)(g, &id));
  EXPECT_EQ(id, gid);
  EXPECT_EQ(D(cuGreenCtxGetId)(nullptr, &id), CUDA_ERROR_INVALID_CONTEXT);  // the current context is not green
  CUdevice d = -1;
  CK(D(cuCtxGetDevice_v2)(&d, gc));
  EXPECT_EQ(d, 0);

  // Its SMs, through every way of asking.
  CUdevResource res{};
  CK(D(cuGreenCtxGetDevResource)(g, &res, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(res.sm.smCount, 16u);
  CK(D(cuCtxGetDevResource)(gc, &res, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(res.sm.smCount, 16u);
  EXPECT_EQ(D(cuGreenCtxGetDevResource)(g, &res, CU_DEV_RESOURCE_TYPE_INVALID), CUDA_ERROR_INVALID_RESOURCE_TYPE);
  CUdevResource g2res{};
  CK(D(cuGreenCtxGetDevResource)(g2, &g2res, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(g2res.sm.smCount, 116u);  // a group of 16 and the 100 that remained
  CK(D(cuCtxGetDevResource)(g_ctx, &res, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(res.sm.smCount, 132u);
  EXPECT_EQ(g_api.ctx_sm_count(gid), 16u);
  EXPECT_EQ(g_api.ctx_sm_count(ctx_id(ctx_of(g2))), 116u);
  EXPECT_EQ(g_api.ctx_sm_count(ctx_id(g_ctx)), 132u);
  EXPECT_EQ(g_api.ctx_sm_count(0), 0u);
  // A green context's resource can be split in turn.
  CK(D(cuGreenCtxGetDevResource)(g, &res, CU_DEV_RESOURCE_TYPE_SM));
  n = 0;
  CK(split(nullptr, &n, &res, nullptr, 8));
  EXPECT_EQ(n, 2u);

  // Made current through its CUcontext.
  CK(D(cuCtxPushCurrent_v2)(gc));
  CK(D(cuGreenCtxGetId)(nullptr, &id));
  EXPECT_EQ(id, gid);
  CK(D(cuCtxGetDevResource)(nullptr, &res, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(res.sm.smCount, 16u);
  CK(D(cuCtxPopCurrent_v2)(nullptr));

  // Destroyed by cuGreenCtxDestroy only; it waits for the context's work. A
  // stream left behind stays a handle that answers CUDA_ERROR_CONTEXT_IS_DESTROYED.
  EXPECT_EQ(D(cuCtxDestroy_v2)(gc), CUDA_ERROR_INVALID_CONTEXT);
  CUstream left = mkgreenstream(g2);
  CK(sleep_on(left, 30000));
  const int live = g_api.live_streams();
  CK(D(cuGreenCtxDestroy)(g2));
  EXPECT_NE(find_op(log_entries(), "fake_kernel_sleep", 30000).end_ns, 0u);
  EXPECT_EQ(D(cuStreamQuery)(left), CUDA_ERROR_CONTEXT_IS_DESTROYED);
  EXPECT_EQ(D(cuStreamDestroy_v2)(left), CUDA_ERROR_CONTEXT_IS_DESTROYED);
  EXPECT_EQ(g_api.live_streams(), live);  // leaked, as cuda.h warns
  EXPECT_EQ(D(cuGreenCtxDestroy)(g2), CUDA_ERROR_CONTEXT_IS_DESTROYED);
  CUcontext dead = nullptr;
  EXPECT_EQ(D(cuCtxFromGreenCtx)(&dead, g2), CUDA_ERROR_CONTEXT_IS_DESTROYED);
  EXPECT_EQ(D(cuGreenCtxDestroy)(nullptr), CUDA_ERROR_INVALID_CONTEXT);
  EXPECT_EQ(D(cuGreenCtxDestroy)(reinterpret_cast<CUgreenCtx>(g_ctx)), CUDA_ERROR_INVALID_CONTEXT);
  EXPECT_EQ(D(cuCtxFromGreenCtx)(nullptr, g), CUDA_ERROR_INVALID_VALUE);
  CK(D(cuGreenCtxDestroy)(g));
}

TEST_F(FakeCuda, GreenStreamTakesPrimaryContextWork) {
  const CUgreenCtx g = mkgreen(16);
  const CUcontext gc = ctx_of(g);
  CUstream bad = nullptr;
  EXPECT_EQ(D(cuGreenCtxStreamCreate)(&bad, g, 0, 0), CUDA_ERROR_INVALID_VALUE);  // must be non-blocking
  EXPECT_EQ(D(cuGreenCtxStreamCreate)(nullptr, g, CU_STREAM_NON_BLOCKING, 0), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(D(cuGreenCtxStreamCreate)(&bad, nullptr, CU_STREAM_NON_BLOCKING, 0), CUDA_ERROR_INVALID_CONTEXT);
  const CUstream s = mkgreenstream(g, -2), hi = mkgreenstream(g, -100);
  int p = 1;
  CK(D(cuStreamGetPriority)(s, &p));
  EXPECT_EQ(p, -2);
  CK(D(cuStreamGetPriority)(hi, &p));
  EXPECT_EQ(p, -5);  // clamped
  unsigned flags = 0;
  CK(D(cuStreamGetFlags)(s, &flags));
  EXPECT_EQ(flags, static_cast<unsigned>(CU_STREAM_NON_BLOCKING));

  // Its contexts: the green context's CUcontext; for _v2 the primary context and the green context.
  CUcontext c = nullptr;
  CK(D(cuStreamGetCtx)(s, &c));
  EXPECT_EQ(c, gc);
  CUgreenCtx gr = nullptr;
  CK(D(cuStreamGetCtx_v2)(s, &c, &gr));
  EXPECT_EQ(c, g_ctx);
  EXPECT_EQ(gr, g);
  EXPECT_EQ(green_of(s), g);
  EXPECT_EQ(green_of(nullptr), nullptr);  // the primary context's legacy stream
  CUdevice dev = -1;
  CK(D(cuStreamGetDevice)(s, &dev));
  EXPECT_EQ(dev, 0);

  // With the primary context current: kernels (the primary context's
  // CUfunctions), a memset, copies, a host function, a gate, an event record.
  CUdeviceptr x = dalloc(4);
  CUevent e = mkevent();
  CallbackLog cl;
  {
    Gate gate;
    gate.hold(s);
    CK(add(s, x, 5));
    CK(D(cuMemsetD32Async)(x + 4, 7, 1, s));
    CK(D(cuMemcpyDtoDAsync_v2)(x + 8, x, sizeof(int), s));
    CK(D(cuLaunchHostFunc)(s, &host_fn, &cl));
    CK(D(cuEventRecord)(e, s));
    EXPECT_EQ(g_api.stream_pending(s), 6);
    EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_NOT_READY);
  }
  const int staged = 9;
  CK(D(cuMemcpyHtoDAsync_v2)(x + 12, &staged, sizeof staged, s));
  CK(D(cuStreamSynchronize)(s));
  int got[4] = {};
  CK(D(cuMemcpyDtoH_v2)(got, x, sizeof got));
  EXPECT_EQ(got[0], 5);
  EXPECT_EQ(got[1], 7);
  EXPECT_EQ(got[2], 5);
  EXPECT_EQ(got[3], 9);
  EXPECT_EQ(cl.items.size(), 1u);
  EXPECT_EQ(D(cuGraphLaunch)(nullptr, s), CUDA_ERROR_NOT_SUPPORTED);

  // Its work is logged under the green context's id, which has the green SM count.
  const unsigned long long gid = ctx_id(gc), pid = ctx_id(g_ctx);
  CK(add(nullptr, x, 1));
  CK(D(cuStreamSynchronize)(nullptr));
  const auto log = log_entries();
  const auto k = find_op(log, "fake_kernel_add", 5);
  EXPECT_EQ(k.ctx_id, gid);
  EXPECT_EQ(k.stream_id, stream_id(s));
  EXPECT_EQ(k.stream_kind, FAKE_STREAM_USER);
  EXPECT_EQ(g_api.ctx_sm_count(k.ctx_id), 16u);
  const auto primary = find_op(log, "fake_kernel_add", 1);
  EXPECT_EQ(primary.ctx_id, pid);
  EXPECT_NE(primary.ctx_id, k.ctx_id);
  EXPECT_EQ(g_api.ctx_sm_count(primary.ctx_id), 132u);
  int on_s = 0;
  for (const auto& entry : log) {
    if (entry.stream_id != stream_id(s)) continue;
    ++on_s;
    EXPECT_EQ(entry.ctx_id, gid) << entry.name;
  }
  EXPECT_EQ(on_s, 7);

  // With the green context current, ordinary stream calls make streams in it.
  CK(D(cuCtxPushCurrent_v2)(gc));
  CUstream q = nullptr;
  CK(D(cuStreamCreateWithPriority)(&q, 0, -4));
  CK(D(cuStreamGetPriority)(q, &p));
  EXPECT_EQ(p, -4);
  EXPECT_EQ(green_of(q), g);
  EXPECT_EQ(green_of(nullptr), g);  // the green context's legacy stream
  EXPECT_EQ(D(cuStreamGetCtx_v2)(CU_STREAM_PER_THREAD, &c, &gr), CUDA_ERROR_INVALID_HANDLE);
  CK(add(q, x, 100));
  CK(D(cuStreamSynchronize)(q));
  EXPECT_EQ(find_op(log_entries(), "fake_kernel_add", 100).ctx_id, gid);
  CK(D(cuStreamDestroy_v2)(q));
  CK(D(cuCtxPopCurrent_v2)(nullptr));

  CK(D(cuEventDestroy_v2)(e));
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuStreamDestroy_v2)(hi));
  CK(D(cuMemFree_v2)(x));
  CK(D(cuGreenCtxDestroy)(g));
}

TEST_F(FakeCuda, GreenStreamIsOutsideThePrimaryContext) {
  const CUgreenCtx g = mkgreen(16);
  const CUstream s = mkgreenstream(g);
  CUdeviceptr x = dalloc();
  {
    // No implicit synchronisation with the primary context's legacy stream, either way.
    Gate gate;
    gate.hold(nullptr);
    CK(add(s, x, 1));
    CK(D(cuStreamSynchronize)(s));
    EXPECT_EQ(D(cuStreamQuery)(nullptr), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuCtxSynchronize)());
  // cuCtxSynchronize of the primary context waits for it (as on the H100).
  CK(sleep_on(s, 30000));
  CK(D(cuCtxSynchronize)());
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_SUCCESS);
  // Synchronising the green context does.
  CK(sleep_on(s, 30000));
  CK(D(cuCtxSynchronize_v2)(ctx_of(g)));
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_SUCCESS);
  // cuMemFree of the primary context's memory waits for it (the memory is shared).
  CK(sleep_on(s, 80000));
  CK(add(s, x, 3));
  CK(D(cuMemFree_v2)(x));
  const unsigned long long freed = g_api.now_ns();
  const auto done = find_op(log_entries(), "fake_kernel_add", 3);
  EXPECT_NE(done.end_ns, 0u);
  EXPECT_LE(done.end_ns, freed);
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuGreenCtxDestroy)(g));
}

TEST_F(FakeCuda, GreenCrossContextEvents) {
  const CUgreenCtx g = mkgreen(16);
  const CUstream s = mkgreenstream(g), s2 = mkgreenstream(g);
  const CUstream b = mkstream(CU_STREAM_NON_BLOCKING);  // in the primary context
  CUdeviceptr order = dalloc(8), cursor = dalloc();
  CUevent e = mkevent();  // in the primary context

  // Recorded on the green stream, waited on by a primary-context stream.
  CK(sleep_on(s, 100000));
  CK(append(s, order, cursor, 1));
  CK(D(cuEventRecord)(e, s));
  CK(D(cuStreamWaitEvent)(b, e, 0));
  CK(append(b, order, cursor, 2));
  CK(D(cuStreamSynchronize)(b));
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_SUCCESS);
  // And the other way round.
  {
    Gate gate;
    gate.hold(b);
    CK(append(b, order, cursor, 3));
    CK(D(cuEventRecord)(e, b));
    CK(D(cuStreamWaitEvent)(s, e, 0));
    CK(append(s, order, cursor, 4));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(D(cuStreamQuery)(s), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuStreamSynchronize)(s));

  // cuGreenCtxRecordEvent captures the work of all the green context's streams.
  CK(sleep_on(s, 60000));
  CK(sleep_on(s2, 80000));
  CK(D(cuGreenCtxRecordEvent)(g, e));
  CK(D(cuStreamWaitEvent)(b, e, 0));
  CK(append(b, order, cursor, 5));
  CK(D(cuStreamSynchronize)(b));
  EXPECT_EQ(D(cuStreamQuery)(s2), CUDA_SUCCESS);
  auto log = log_entries();
  const auto after = find_op(log, "fake_kernel_append", 5);
  EXPECT_GE(after.start_ns, find_op(log, "fake_kernel_sleep", 60000).end_ns);
  EXPECT_GE(after.start_ns, find_op(log, "fake_kernel_sleep", 80000).end_ns);
  int got[5] = {};
  CK(D(cuStreamSynchronize)(s));
  CK(D(cuMemcpyDtoH_v2)(got, order, sizeof got));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got[i], i + 1);

  // cuGreenCtxWaitEvent holds up all later work of the green context, on
  // streams made afterwards too, and nothing of the primary context.
  CUdeviceptr y = dalloc(3);
  {
    Gate gate;
    gate.hold(b);
    CK(D(cuEventRecord)(e, b));
    CK(D(cuGreenCtxWaitEvent)(g, e));
    const CUstream late = mkgreenstream(g);
    CK(add(s2, y, 1));
    CK(add(late, y + 4, 1));
    CK(add(CU_STREAM_PER_THREAD, y + 8, 1));
    CK(D(cuStreamSynchronize)(CU_STREAM_PER_THREAD));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(D(cuStreamQuery)(s2), CUDA_ERROR_NOT_READY);
    EXPECT_EQ(D(cuStreamQuery)(late), CUDA_ERROR_NOT_READY);
    gate.open();
    CK(D(cuStreamSynchronize)(late));
    CK(D(cuStreamDestroy_v2)(late));
  }
  CK(D(cuStreamSynchronize)(s2));
  int ys[3] = {};
  CK(D(cuMemcpyDtoH_v2)(ys, y, sizeof ys));
  EXPECT_EQ(ys[0], 1);
  EXPECT_EQ(ys[1], 1);
  EXPECT_EQ(ys[2], 1);

  // An event of an unrelated context cannot capture a green context.
  CUcontext c2 = nullptr;
  CK(D(cuCtxCreate_v2)(&c2, 0, 0));
  CUevent foreign = mkevent();
  CK(D(cuCtxPopCurrent_v2)(nullptr));
  EXPECT_EQ(D(cuGreenCtxRecordEvent)(g, foreign), CUDA_ERROR_INVALID_HANDLE);
  CK(D(cuCtxDestroy_v2)(c2));
  EXPECT_EQ(D(cuGreenCtxRecordEvent)(g, nullptr), CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(D(cuGreenCtxWaitEvent)(nullptr, e), CUDA_ERROR_INVALID_CONTEXT);

  CK(D(cuEventDestroy_v2)(e));
  for (CUstream st : {s, s2, b}) CK(D(cuStreamDestroy_v2)(st));
  for (CUdeviceptr p : {order, cursor, y}) CK(D(cuMemFree_v2)(p));
  CK(D(cuGreenCtxDestroy)(g));
}

TEST_F(FakeCuda, GreenContextsSwitchedOff) {
  g_api.set_green_supported(0);
  CUdevResource r{};
  unsigned n = 1;
  CUdevResourceDesc desc = nullptr;
  CUgreenCtx g = nullptr;
  CUcontext c = nullptr;
  CUstream s = nullptr;
  unsigned long long id = 0;
  EXPECT_EQ(D(cuDeviceGetDevResource)(0, &r, CU_DEV_RESOURCE_TYPE_SM), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuCtxGetDevResource)(g_ctx, &r, CU_DEV_RESOURCE_TYPE_SM), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(split(&r, &n, &r, nullptr, 8), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&desc, &r, 1), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, desc, 0, CU_GREEN_CTX_DEFAULT_STREAM), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxDestroy)(g), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuCtxFromGreenCtx)(&c, g), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxGetId)(g, &id), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxGetDevResource)(g, &r, CU_DEV_RESOURCE_TYPE_SM), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxStreamCreate)(&s, g, CU_STREAM_NON_BLOCKING, 0), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxRecordEvent)(g, nullptr), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxWaitEvent)(g, nullptr), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuStreamGetGreenCtx)(nullptr, &g), CUDA_ERROR_NOT_SUPPORTED);
  // The rest of the driver is unaffected.
  int sms = 0;
  CK(D(cuDeviceGetAttribute)(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
  EXPECT_EQ(sms, 132);
  CK(D(cuStreamGetCtx_v2)(nullptr, &c, &g));
  EXPECT_EQ(c, g_ctx);
  EXPECT_EQ(g, nullptr);
  g_api.set_green_supported(1);
  CK(D(cuDeviceGetDevResource)(0, &r, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(r.sm.smCount, 132u);
}

// ============================ cuGetProcAddress ============================

void* self(const char* name) { return dlsym(g_lib, name); }

void* proc(const char* name, int version, cuuint64_t flags, CUresult* res = nullptr,
           CUdriverProcAddressQueryResult* status = nullptr) {
  void* p = reinterpret_cast<void*>(1);
  CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SUCCESS;
  const CUresult r = D(cuGetProcAddress_v2)(name, &p, version, flags, &st);
  if (res != nullptr) *res = r;
  if (status != nullptr) *status = st;
  return p;
}

TEST_F(FakeCuda, GetProcAddressPicksVersionAndFlavour) {
  constexpr cuuint64_t kPtds = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
  constexpr cuuint64_t kLegacy = CU_GET_PROC_ADDRESS_LEGACY_STREAM;
  EXPECT_EQ(proc("cuLaunchKernel", 13000, 0), self("cuLaunchKernel"));
  EXPECT_EQ(proc("cuLaunchKernel", 13000, kLegacy), self("cuLaunchKernel"));
  EXPECT_EQ(proc("cuLaunchKernel", 13000, kPtds), self("cuLaunchKernel_ptsz"));
  EXPECT_EQ(proc("cuMemcpyHtoD", 13000, kPtds), self("cuMemcpyHtoD_v2_ptds"));
  EXPECT_EQ(proc("cuMemcpyHtoD", 13000, 0), self("cuMemcpyHtoD_v2"));
  EXPECT_EQ(proc("cuMemAlloc", 12000, kPtds), self("cuMemAlloc_v2"));  // no per-thread flavour
  EXPECT_EQ(proc("cuStreamWaitValue32", 12000, kPtds), self("cuStreamWaitValue32_v2_ptsz"));
  EXPECT_EQ(proc("cuStreamWaitValue32", 11000, 0), self("cuStreamWaitValue32"));
  EXPECT_EQ(proc("cuStreamGetCtx", 12050, 0), self("cuStreamGetCtx_v2"));
  EXPECT_EQ(proc("cuStreamGetCtx", 12000, kPtds), self("cuStreamGetCtx_ptsz"));
  EXPECT_EQ(proc("cuEventElapsedTime", 12080, 0), self("cuEventElapsedTime_v2"));
  EXPECT_EQ(proc("cuEventElapsedTime", 12000, 0), self("cuEventElapsedTime"));
  EXPECT_EQ(proc("cuGetProcAddress", 12000, 0), self("cuGetProcAddress_v2"));
  EXPECT_EQ(proc("cuGetProcAddress", 11030, 0), self("cuGetProcAddress"));
  EXPECT_EQ(proc("cuCtxCreate", 12050, 0), self("cuCtxCreate_v4"));
  EXPECT_EQ(proc("cuCtxCreate", 11000, 0), self("cuCtxCreate_v2"));
  EXPECT_EQ(proc("cuMemsetD32Async", 13000, kPtds), self("cuMemsetD32Async_ptsz"));
  EXPECT_EQ(proc("cuMemcpy", 13000, kPtds), self("cuMemcpy_ptds"));
  EXPECT_EQ(proc("cuStreamGetCaptureInfo", 12030, kPtds), self("cuStreamGetCaptureInfo_v3_ptsz"));
  EXPECT_EQ(proc("cuStreamGetCaptureInfo", 12000, 0), self("cuStreamGetCaptureInfo_v2"));
  EXPECT_EQ(proc("cuGreenCtxCreate", 12040, 0), self("cuGreenCtxCreate"));
  EXPECT_EQ(proc("cuDevSmResourceSplitByCount", 13000, kPtds), self("cuDevSmResourceSplitByCount"));

  CUresult r = CUDA_SUCCESS;
  CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SUCCESS;
  EXPECT_EQ(proc("cuCtxCreate", 11040, 0, &r, &st), nullptr);  // cuCtxCreate_v3 is not exported
  EXPECT_EQ(r, CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  EXPECT_EQ(proc("cuMemAlloc", 3000, 0, &r, &st), nullptr);  // the 32-bit cuMemAlloc is not exported
  EXPECT_EQ(r, CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(proc("cuStreamGetCtx", 9000, 0, &r, &st), nullptr);
  EXPECT_EQ(st, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
  EXPECT_EQ(proc("cuNoSuchFunction", 13000, 0, &r, &st), nullptr);
  EXPECT_EQ(r, CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  EXPECT_EQ(proc("cuMemAlloc_v2", 13000, 0, &r), nullptr);  // base names only
  EXPECT_EQ(proc("fake_cuda_now_ns", 13000, 0, &r), nullptr);

  void* p = nullptr;
  CK(D(cuGetProcAddress)("cuStreamSynchronize", &p, 13000, kPtds));
  EXPECT_EQ(p, self("cuStreamSynchronize_ptsz"));
  EXPECT_EQ(D(cuGetProcAddress)("cuStreamSynchronize", &p, 13000, 4), CUDA_ERROR_INVALID_VALUE);

  // A fetched pointer works.
  auto sync = reinterpret_cast<decltype(&cuStreamSynchronize_ptsz)>(proc("cuStreamSynchronize", 13000, kPtds));
  CK(sync(nullptr));
}

// ============================ test API ============================

TEST_F(FakeCuda, CountersDelayAndInjection) {
  CUstream s = mkstream();
  CUdeviceptr x = dalloc();
  g_api.reset_counters();
  for (int i = 0; i < 3; ++i) CK(add(s, x, 1));
  CK(D(cuStreamSynchronize)(s));  // s and the per-thread stream are not ordered with each other
  CK(add(nullptr, x, 1, true));
  CK(D(cuStreamSynchronize_ptsz)(nullptr));
  EXPECT_EQ(g_api.launch_count(), 4u);
  EXPECT_EQ(g_api.call_count("cuLaunchKernel"), 3u);
  EXPECT_EQ(g_api.call_count("cuLaunchKernel_ptsz"), 1u);
  EXPECT_EQ(g_api.call_count("cuNothing"), 0u);
  std::vector<const char*> calls(g_api.calls_read(nullptr, 0));
  g_api.calls_read(calls.data(), calls.size());
  ASSERT_EQ(calls.size(), 6u);
  EXPECT_STREQ(calls[0], "cuLaunchKernel");
  EXPECT_STREQ(calls[3], "cuStreamSynchronize");
  EXPECT_STREQ(calls[4], "cuLaunchKernel_ptsz");
  EXPECT_STREQ(calls[5], "cuStreamSynchronize_ptsz");

  g_api.set_launch_delay_us(30000);
  const auto t0 = Clock::now();
  CK(add(s, x, 1));
  EXPECT_GE(ms_since(t0), 29);
  g_api.set_launch_delay_us(0);

  g_api.inject_error("cuStreamQuery", CUDA_ERROR_LAUNCH_FAILED, 2);
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_ERROR_LAUNCH_FAILED);
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_ERROR_LAUNCH_FAILED);
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_SUCCESS);
  g_api.inject_error("cuLaunchKernel", CUDA_ERROR_OUT_OF_MEMORY, 1);
  EXPECT_EQ(add(s, x, 1), CUDA_ERROR_OUT_OF_MEMORY);  // did nothing
  CK(D(cuCtxSynchronize)());
  EXPECT_EQ(dread(x), 5);
  EXPECT_GE(g_api.now_ns(), 1u);
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuMemFree_v2)(x));
}

// ============================ robustness ============================

TEST_F(FakeCuda, ManyThreadsManyStreams) {
  constexpr int kThreads = 8, kLaunches = 200;
  CUdeviceptr counters = dalloc(kThreads), shared = dalloc();
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      EXPECT_EQ(D(cuCtxSetCurrent)(g_ctx), CUDA_SUCCESS);
      CUstream s = mkstream(t % 2 == 0 ? CU_STREAM_DEFAULT : CU_STREAM_NON_BLOCKING);
      CUevent e = mkevent(CU_EVENT_DISABLE_TIMING);
      for (int i = 0; i < kLaunches; ++i) {
        EXPECT_EQ(add(s, counters + t * sizeof(int), 1), CUDA_SUCCESS);
        if (i % 50 == 0) {
          // cross the legacy stream both ways; all legacy work runs on one worker
          EXPECT_EQ(D(cuEventRecord)(e, s), CUDA_SUCCESS);
          EXPECT_EQ(D(cuStreamWaitEvent)(nullptr, e, 0), CUDA_SUCCESS);
          EXPECT_EQ(add(nullptr, shared, 1), CUDA_SUCCESS);
          EXPECT_EQ(D(cuEventRecord)(e, nullptr), CUDA_SUCCESS);
          EXPECT_EQ(D(cuStreamWaitEvent)(s, e, 0), CUDA_SUCCESS);
        }
      }
      EXPECT_EQ(D(cuStreamSynchronize)(s), CUDA_SUCCESS);
      EXPECT_EQ(D(cuEventDestroy_v2)(e), CUDA_SUCCESS);
      EXPECT_EQ(D(cuStreamDestroy_v2)(s), CUDA_SUCCESS);
    });
  }
  for (auto& th : ts) th.join();
  CK(D(cuCtxSynchronize)());
  std::vector<int> got(kThreads);
  CK(D(cuMemcpyDtoH_v2)(got.data(), counters, kThreads * sizeof(int)));
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(got[t], kLaunches);
  EXPECT_EQ(dread(shared), kThreads * (kLaunches / 50));
  CK(D(cuMemFree_v2)(counters));
  CK(D(cuMemFree_v2)(shared));
}

// Leaves work pending that can never finish (a closed gate, with kernels behind
// it) and more that is still running, then exits.
[[noreturn]] void exit_with_pending_work() {
  unsigned* gate = nullptr;
  D(cuMemAllocHost_v2)(reinterpret_cast<void**>(&gate), 4);
  *gate = 0;
  CUstream s = nullptr;
  CUstream n = nullptr;
  D(cuStreamCreate)(&s, 0);
  D(cuStreamCreate)(&n, CU_STREAM_NON_BLOCKING);
  D(cuStreamWaitValue32_v2)(s, reinterpret_cast<CUdeviceptr>(gate), 1, CU_STREAM_WAIT_VALUE_EQ);  // never opens
  unsigned us = 50000;
  void* args[] = {&us};
  for (int i = 0; i < 4; ++i) {
    launch(fake_kernel_sleep(), s, args);
    launch(fake_kernel_sleep(), n, args);
    launch(fake_kernel_sleep(), nullptr, args, true);
  }
  // Exit once the gate wait and a kernel are running (not merely queued).
  const auto deadline = Clock::now() + std::chrono::seconds(1);
  for (;;) {
    const auto log = log_entries();
    const bool gate_running = std::any_of(log.begin(), log.end(), [](const FakeCudaLogEntry& e) {
      return e.op == FAKE_OP_WAIT_VALUE && e.end_ns == 0;
    });
    const bool kernel_running = std::any_of(log.begin(), log.end(), [](const FakeCudaLogEntry& e) {
      return e.op == FAKE_OP_KERNEL && e.end_ns == 0;
    });
    if ((gate_running && kernel_running) || Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::exit(0);
}

TEST_F(FakeCuda, ExitWithPendingWorkDoesNotHang) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(exit_with_pending_work(), ::testing::ExitedWithCode(0), "");
}

}  // namespace

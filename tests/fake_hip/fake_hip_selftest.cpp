// Checks the fake HIP runtime (libfake_hip.so, linked directly) against the
// HIP semantics it models: devices, kernels and their argument copies, streams,
// events across streams, waits on a memory word, host functions, copies and
// memsets, host memory the device can reach, pointer attributes.

#include "fake_hip_kernel.h"

#include <gtest/gtest.h>
#include <hip/hip_runtime_api.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern "C" unsigned long long fake_hip_launches(void);

namespace {

using Clock = std::chrono::steady_clock;
using fake_hip_detail::AppendArgs;

hipError_t launch(hipFunction_t f, hipStream_t s, const void* args, size_t bytes) {
  size_t size = bytes;
  void* extra[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, const_cast<void*>(args), HIP_LAUNCH_PARAM_BUFFER_SIZE, &size,
                   HIP_LAUNCH_PARAM_END};
  return hipModuleLaunchKernel(f, 1, 1, 1, 64, 1, 1, 0, s, nullptr, extra);
}

hipError_t launch_sleep(hipStream_t s, unsigned us) { return launch(fake_hip_kernel_sleep(), s, &us, sizeof us); }

hipError_t launch_append(hipStream_t s, int* log, int* cursor, int value) {
  const AppendArgs a{log, cursor, value};
  return launch(fake_hip_kernel_append(), s, &a, sizeof a);
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// The device count the environment asks for (FAKE_HIP_DEVICES, as the fake reads it).
int expected_devices() {
  const char* v = std::getenv("FAKE_HIP_DEVICES");
  if (v == nullptr || *v == '\0') return 1;
  for (const char* p = v; *p != '\0'; ++p)
    if (*p < '0' || *p > '9' || p - v > 2) return 1;
  const int n = std::atoi(v);
  return n >= 1 && n <= 8 ? n : 1;
}

class FakeHip : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(hipSuccess, hipInit(0)); }
};

TEST_F(FakeHip, DevicesAndErrors) {
  int n = 0;
  ASSERT_EQ(hipSuccess, hipGetDeviceCount(&n));
  EXPECT_EQ(expected_devices(), n);
  int d = -1;
  ASSERT_EQ(hipSuccess, hipGetDevice(&d));
  EXPECT_EQ(0, d);
  EXPECT_EQ(hipErrorInvalidDevice, hipSetDevice(n));
  EXPECT_EQ(hipErrorInvalidDevice, hipSetDevice(-1));

  for (int i = 0; i < n; ++i) {
    hipDevice_t dev = -1;
    ASSERT_EQ(hipSuccess, hipDeviceGet(&dev, i));
    EXPECT_EQ(i, dev);
    hipUUID uuid{};
    ASSERT_EQ(hipSuccess, hipDeviceGetUuid(&uuid, dev));
    const std::string digits = std::to_string(i);
    const std::string want = "fakehip-dev-" + std::string(4 - digits.size(), '0') + digits;
    EXPECT_EQ(want, std::string(uuid.bytes, sizeof uuid.bytes));
    char name[64];
    ASSERT_EQ(hipSuccess, hipDeviceGetName(name, sizeof name, dev));
    EXPECT_EQ("Fake HIP Device " + std::to_string(i) + " (CPU)", std::string(name));
    int v = 0;
    ASSERT_EQ(hipSuccess, hipDeviceGetAttribute(&v, hipDeviceAttributeCanUseStreamWaitValue, dev));
    EXPECT_EQ(1, v);
    ASSERT_EQ(hipSuccess, hipDeviceGetAttribute(&v, hipDeviceAttributeMultiprocessorCount, dev));
    EXPECT_EQ(4, v);
    EXPECT_EQ(hipErrorInvalidValue, hipDeviceGetAttribute(&v, hipDeviceAttributeWarpSize, dev));
  }
  hipDevice_t dev = 0;
  EXPECT_EQ(hipErrorInvalidDevice, hipDeviceGet(&dev, n));

  EXPECT_STREQ("hipSuccess", hipGetErrorName(hipSuccess));
  EXPECT_STREQ("hipErrorNotReady", hipGetErrorName(hipErrorNotReady));
  EXPECT_STREQ("device not ready", hipGetErrorString(hipErrorNotReady));
}

TEST_F(FakeHip, CurrentDeviceIsPerThreadAndStreamsKeepTheirs) {
  int n = 0;
  ASSERT_EQ(hipSuccess, hipGetDeviceCount(&n));
  if (n < 2) GTEST_SKIP() << "needs FAKE_HIP_DEVICES >= 2";
  ASSERT_EQ(hipSuccess, hipSetDevice(1));
  hipStream_t s1 = nullptr;
  ASSERT_EQ(hipSuccess, hipStreamCreate(&s1));
  int other = -1;
  std::thread([&] { EXPECT_EQ(hipSuccess, hipGetDevice(&other)); }).join();
  EXPECT_EQ(0, other);
  // A kernel on device 1's stream; device 0's synchronize does not wait for it.
  ASSERT_EQ(hipSuccess, launch_sleep(s1, 200000));
  ASSERT_EQ(hipSuccess, hipSetDevice(0));
  ASSERT_EQ(hipSuccess, hipDeviceSynchronize());
  EXPECT_EQ(hipErrorNotReady, hipStreamQuery(s1));
  ASSERT_EQ(hipSuccess, hipSetDevice(1));
  ASSERT_EQ(hipSuccess, hipDeviceSynchronize());
  EXPECT_EQ(hipSuccess, hipStreamQuery(s1));
  ASSERT_EQ(hipSuccess, hipStreamDestroy(s1));
  ASSERT_EQ(hipSuccess, hipSetDevice(0));
}

TEST_F(FakeHip, KernelsRunInOrderWithArgumentCopies) {
  hipStream_t s = nullptr;
  ASSERT_EQ(hipSuccess, hipStreamCreate(&s));
  const unsigned long long before = fake_hip_launches();
  int log[16] = {};
  int cursor = 0;
  ASSERT_EQ(hipSuccess, launch_sleep(s, 50000));
  EXPECT_EQ(hipErrorNotReady, hipStreamQuery(s));
  // One argument buffer, changed after each launch: each kernel sees its own copy.
  AppendArgs a{log, &cursor, 0};
  size_t size = sizeof a;
  void* extra[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, &a, HIP_LAUNCH_PARAM_BUFFER_SIZE, &size, HIP_LAUNCH_PARAM_END};
  for (int i = 0; i < 10; ++i) {
    a.value = 100 + i;
    ASSERT_EQ(hipSuccess, hipModuleLaunchKernel(fake_hip_kernel_append(), 2, 2, 1, 32, 1, 1, 0, s, nullptr, extra));
  }
  a.value = -1;
  ASSERT_EQ(hipSuccess, hipStreamSynchronize(s));
  EXPECT_EQ(hipSuccess, hipStreamQuery(s));
  ASSERT_EQ(10, cursor);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(100 + i, log[i]);
  EXPECT_EQ(before + 11, fake_hip_launches());
  ASSERT_EQ(hipSuccess, hipStreamDestroy(s));
}

TEST_F(FakeHip, LaunchArgumentsAreChecked) {
  unsigned us = 1;
  size_t size = sizeof us;
  void* extra[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, &us, HIP_LAUNCH_PARAM_BUFFER_SIZE, &size, HIP_LAUNCH_PARAM_END};
  void* params[] = {&us};
  EXPECT_EQ(hipErrorInvalidResourceHandle, hipModuleLaunchKernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, extra));
  EXPECT_EQ(hipErrorInvalidValue,
            hipModuleLaunchKernel(fake_hip_kernel_sleep(), 1, 1, 1, 1, 1, 1, 0, nullptr, params, nullptr));
  void* no_size[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, &us, HIP_LAUNCH_PARAM_END};
  EXPECT_EQ(hipErrorInvalidValue,
            hipModuleLaunchKernel(fake_hip_kernel_sleep(), 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, no_size));
  hipStream_t unknown = reinterpret_cast<hipStream_t>(&us);
  EXPECT_EQ(hipErrorInvalidHandle,
            hipModuleLaunchKernel(fake_hip_kernel_sleep(), 1, 1, 1, 1, 1, 1, 0, unknown, nullptr, extra));
  // The null stream: a stream of the current device, made on first use.
  int log[2] = {};
  int cursor = 0;
  ASSERT_EQ(hipSuccess, launch_append(nullptr, log, &cursor, 7));
  ASSERT_EQ(hipSuccess, hipStreamSynchronize(nullptr));
  EXPECT_EQ(1, cursor);
  EXPECT_EQ(7, log[0]);
}

TEST_F(FakeHip, StreamsFlagsAndDestroy) {
  hipStream_t s = nullptr, nb = nullptr, pr = nullptr;
  ASSERT_EQ(hipSuccess, hipStreamCreate(&s));
  ASSERT_EQ(hipSuccess, hipStreamCreateWithFlags(&nb, hipStreamNonBlocking));
  ASSERT_EQ(hipSuccess, hipStreamCreateWithPriority(&pr, 0, -1));
  hipStream_t bad = nullptr;
  EXPECT_EQ(hipErrorInvalidValue, hipStreamCreateWithFlags(&bad, 0x10));
  unsigned flags = 99;
  ASSERT_EQ(hipSuccess, hipStreamGetFlags(nb, &flags));
  EXPECT_EQ(unsigned{hipStreamNonBlocking}, flags);
  ASSERT_EQ(hipSuccess, hipStreamGetFlags(s, &flags));
  EXPECT_EQ(0u, flags);
  ASSERT_EQ(hipSuccess, hipStreamGetFlags(nullptr, &flags));
  EXPECT_EQ(0u, flags);
  // Destroy waits for the stream's work.
  int log[2] = {};
  int cursor = 0;
  ASSERT_EQ(hipSuccess, launch_sleep(pr, 30000));
  ASSERT_EQ(hipSuccess, launch_append(pr, log, &cursor, 5));
  ASSERT_EQ(hipSuccess, hipStreamDestroy(pr));
  EXPECT_EQ(1, cursor);
  EXPECT_EQ(hipErrorInvalidHandle, hipStreamQuery(pr));
  EXPECT_EQ(hipErrorInvalidHandle, hipStreamDestroy(pr));
  EXPECT_EQ(hipErrorInvalidHandle, hipStreamDestroy(nullptr));
  // hipDeviceSynchronize waits for every stream of the device.
  ASSERT_EQ(hipSuccess, launch_sleep(s, 30000));
  ASSERT_EQ(hipSuccess, launch_sleep(nb, 30000));
  ASSERT_EQ(hipSuccess, hipDeviceSynchronize());
  EXPECT_EQ(hipSuccess, hipStreamQuery(s));
  EXPECT_EQ(hipSuccess, hipStreamQuery(nb));
  ASSERT_EQ(hipSuccess, hipStreamDestroy(s));
  ASSERT_EQ(hipSuccess, hipStreamDestroy(nb));
}

TEST_F(FakeHip, EventsAcrossStreams) {
  hipStream_t s1 = nullptr, s2 = nullptr;
  ASSERT_EQ(hipSuccess, hipStreamCreate(&s1));
  ASSERT_EQ(hipSuccess, hipStreamCreate(&s2));
  hipEvent_t ev = nullptr;
  ASSERT_EQ(hipSuccess, hipEventCreate(&ev));
  // Never recorded: complete.
  EXPECT_EQ(hipSuccess, hipEventQuery(ev));
  EXPECT_EQ(hipSuccess, hipEventSynchronize(ev));

  int log[4] = {};
  int cursor = 0;
  ASSERT_EQ(hipSuccess, launch_sleep(s1, 100000));
  ASSERT_EQ(hipSuccess, launch_append(s1, log, &cursor, 1));
  ASSERT_EQ(hipSuccess, hipEventRecord(ev, s1));
  EXPECT_EQ(hipErrorNotReady, hipEventQuery(ev));
  ASSERT_EQ(hipSuccess, hipStreamWaitEvent(s2, ev, 0));
  ASSERT_EQ(hipSuccess, launch_append(s2, log, &cursor, 2));
  EXPECT_EQ(hipErrorNotReady, hipStreamQuery(s2));  // held by the event, on its worker
  ASSERT_EQ(hipSuccess, hipStreamSynchronize(s2));
  EXPECT_EQ(hipSuccess, hipEventQuery(ev));
  ASSERT_EQ(2, cursor);
  EXPECT_EQ(1, log[0]);
  EXPECT_EQ(2, log[1]);
  EXPECT_EQ(hipErrorInvalidValue, hipStreamWaitEvent(s2, ev, 1));

  // A wait uses the record newest at the call: a later record does not hold it.
  ASSERT_EQ(hipSuccess, hipStreamWaitEvent(s2, ev, 0));   // the reached record
  ASSERT_EQ(hipSuccess, launch_sleep(s1, 300000));
  ASSERT_EQ(hipSuccess, hipEventRecord(ev, s1));          // recorded again: not reached
  ASSERT_EQ(hipSuccess, hipStreamSynchronize(s2));
  EXPECT_EQ(hipErrorNotReady, hipEventQuery(ev));
  const auto t0 = Clock::now();
  ASSERT_EQ(hipSuccess, hipEventSynchronize(ev));  // waits for the newest record
  EXPECT_GT(ms_since(t0), 50.0);
  EXPECT_EQ(hipSuccess, hipStreamQuery(s1));

  // Elapsed time between two reached records.
  hipEvent_t a = nullptr, b = nullptr, nt = nullptr;
  ASSERT_EQ(hipSuccess, hipEventCreate(&a));
  ASSERT_EQ(hipSuccess, hipEventCreateWithFlags(&b, hipEventBlockingSync));
  ASSERT_EQ(hipSuccess, hipEventCreateWithFlags(&nt, hipEventDisableTiming));
  float ms = 0;
  EXPECT_EQ(hipErrorInvalidHandle, hipEventElapsedTime(&ms, a, b));  // not recorded
  ASSERT_EQ(hipSuccess, hipEventRecord(a, s1));
  ASSERT_EQ(hipSuccess, launch_sleep(s1, 20000));
  ASSERT_EQ(hipSuccess, hipEventRecord(b, s1));
  ASSERT_EQ(hipSuccess, hipEventRecord(nt, s1));
  ASSERT_EQ(hipSuccess, hipEventSynchronize(b));
  ASSERT_EQ(hipSuccess, hipEventElapsedTime(&ms, a, b));
  EXPECT_GE(ms, 19.0f);
  EXPECT_LT(ms, 5000.0f);
  EXPECT_EQ(hipErrorInvalidHandle, hipEventElapsedTime(&ms, a, nt));

  ASSERT_EQ(hipSuccess, hipEventDestroy(a));
  ASSERT_EQ(hipSuccess, hipEventDestroy(b));
  ASSERT_EQ(hipSuccess, hipEventDestroy(nt));
  ASSERT_EQ(hipSuccess, hipEventDestroy(ev));
  EXPECT_EQ(hipErrorInvalidHandle, hipEventQuery(ev));
  ASSERT_EQ(hipSuccess, hipStreamDestroy(s1));
  ASSERT_EQ(hipSuccess, hipStreamDestroy(s2));
}

TEST_F(FakeHip, WaitValue32HoldsOnlyItsStream) {
  void* mem = nullptr;
  ASSERT_EQ(hipSuccess, hipHostMalloc(&mem, sizeof(uint32_t), 0));
  auto* word = static_cast<uint32_t*>(mem);
  std::atomic_ref<uint32_t>(*word).store(0, std::memory_order_release);
  hipStream_t held = nullptr, free_stream = nullptr;
  ASSERT_EQ(hipSuccess, hipStreamCreate(&held));
  ASSERT_EQ(hipSuccess, hipStreamCreate(&free_stream));
  EXPECT_EQ(hipErrorInvalidValue, hipStreamWaitValue32(held, word, 1, hipStreamWaitValueEq, 0xFFFFFFFFu));
  EXPECT_EQ(hipErrorInvalidValue, hipStreamWaitValue32(held, nullptr, 1, hipStreamWaitValueGte, 0xFFFFFFFFu));

  int log[4] = {};
  int cursor = 0;
  ASSERT_EQ(hipSuccess, hipStreamWaitValue32(held, word, 1, hipStreamWaitValueGte, 0xFFu));
  ASSERT_EQ(hipSuccess, launch_append(held, log, &cursor, 1));
  int other_log[1] = {};
  int other_cursor = 0;
  ASSERT_EQ(hipSuccess, launch_append(free_stream, other_log, &other_cursor, 9));
  ASSERT_EQ(hipSuccess, hipStreamSynchronize(free_stream));  // not held
  EXPECT_EQ(1, other_cursor);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(hipErrorNotReady, hipStreamQuery(held));

  // Bits outside the mask do not count.
  std::atomic_ref<uint32_t>(*word).store(0x100, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(hipErrorNotReady, hipStreamQuery(held));

  const auto t0 = Clock::now();
  std::atomic_ref<uint32_t>(*word).store(0x101, std::memory_order_release);
  ASSERT_EQ(hipSuccess, hipStreamSynchronize(held));
  EXPECT_LT(ms_since(t0), 1000.0);  // promptly (polled every ~20 us)
  EXPECT_EQ(1, cursor);
  EXPECT_EQ(1, log[0]);

  ASSERT_EQ(hipSuccess, hipStreamDestroy(held));
  ASSERT_EQ(hipSuccess, hipStreamDestroy(free_stream));
  ASSERT_EQ(hipSuccess, hipHostFree(mem));
}

struct HostLog {
  int log[8];
  int cursor;
};

void host_append(void* p) {
  auto* h = static_cast<HostLog*>(p);
  const int i = h->cursor++;
  h->log[i] = -(i + 1);
}

TEST_F(FakeHip, HostFunctionsRunInStreamOrder) {
  hipStream_t s = nullptr;
  ASSERT_EQ(hipSuccess, hipStreamCreate(&s));
  HostLog h{};
  EXPECT_EQ(hipErrorInvalidValue, hipLaunchHostFunc(s, nullptr, &h));
  ASSERT_EQ(hipSuccess, launch_sleep(s, 20000));
  ASSERT_EQ(hipSuccess, hipLaunchHostFunc(s, host_append, &h));          // log[0] = -1
  ASSERT_EQ(hipSuccess, launch_append(s, h.log, &h.cursor, 10));         // log[1] = 10
  ASSERT_EQ(hipSuccess, hipLaunchHostFunc(s, host_append, &h));          // log[2] = -3
  ASSERT_EQ(hipSuccess, launch_append(s, h.log, &h.cursor, 20));         // log[3] = 20
  ASSERT_EQ(hipSuccess, hipStreamSynchronize(s));
  ASSERT_EQ(4, h.cursor);
  EXPECT_EQ(-1, h.log[0]);
  EXPECT_EQ(10, h.log[1]);
  EXPECT_EQ(-3, h.log[2]);
  EXPECT_EQ(20, h.log[3]);
  ASSERT_EQ(hipSuccess, hipStreamDestroy(s));
}

TEST_F(FakeHip, CopiesAndMemsets) {
  constexpr size_t n = 4096;
  void* dev = nullptr;
  ASSERT_EQ(hipSuccess, hipMalloc(&dev, n));
  ASSERT_NE(nullptr, dev);
  std::vector<unsigned char> host(n, 0), src(n);
  for (size_t i = 0; i < n; ++i) src[i] = static_cast<unsigned char>(i * 7);
  hipStream_t s = nullptr;
  ASSERT_EQ(hipSuccess, hipStreamCreate(&s));

  // Enqueued behind a kernel: nothing happens until the stream gets there.
  ASSERT_EQ(hipSuccess, launch_sleep(s, 20000));
  ASSERT_EQ(hipSuccess, hipMemsetAsync(dev, 0x5a, n, s));
  ASSERT_EQ(hipSuccess, hipMemcpyAsync(host.data(), dev, n, hipMemcpyDeviceToHost, s));
  ASSERT_EQ(hipSuccess, hipStreamSynchronize(s));
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(0x5a, host[i]) << i;

  ASSERT_EQ(hipSuccess, hipMemcpyAsync(dev, src.data(), n, hipMemcpyHostToDevice, s));
  ASSERT_EQ(hipSuccess, hipMemcpyAsync(host.data(), dev, n, hipMemcpyDefault, s));
  ASSERT_EQ(hipSuccess, hipStreamSynchronize(s));
  EXPECT_EQ(src, host);

  // Synchronous: done on return.
  ASSERT_EQ(hipSuccess, hipMemset(dev, 0x11, n / 2));
  ASSERT_EQ(hipSuccess, hipMemcpy(host.data(), dev, n, hipMemcpyDeviceToHost));
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(i < n / 2 ? 0x11 : src[i], host[i]) << i;

  EXPECT_EQ(hipErrorInvalidMemcpyDirection,
            hipMemcpyAsync(host.data(), dev, n, static_cast<hipMemcpyKind>(7), s));
  EXPECT_EQ(hipErrorInvalidValue, hipMemcpy(nullptr, dev, n, hipMemcpyDeviceToHost));

  // hipFree waits for the streams.
  ASSERT_EQ(hipSuccess, launch_sleep(s, 50000));
  ASSERT_EQ(hipSuccess, hipFree(dev));
  EXPECT_EQ(hipSuccess, hipStreamQuery(s));
  EXPECT_EQ(hipErrorInvalidValue, hipFree(dev));
  EXPECT_EQ(hipErrorInvalidValue, hipFree(host.data()));
  EXPECT_EQ(hipSuccess, hipFree(nullptr));
  ASSERT_EQ(hipSuccess, hipStreamDestroy(s));
}

TEST_F(FakeHip, HostRegisterAndDevicePointers) {
  std::vector<char> buf(1024);
  void* p = nullptr;
  EXPECT_EQ(hipErrorInvalidValue, hipHostGetDevicePointer(&p, buf.data(), 0));
  ASSERT_EQ(hipSuccess, hipHostRegister(buf.data(), buf.size(), hipHostRegisterDefault));
  EXPECT_EQ(hipErrorHostMemoryAlreadyRegistered, hipHostRegister(buf.data() + 8, 8, 0));
  ASSERT_EQ(hipSuccess, hipHostGetDevicePointer(&p, buf.data(), 0));
  EXPECT_EQ(buf.data(), p);
  ASSERT_EQ(hipSuccess, hipHostGetDevicePointer(&p, buf.data() + 1000, 0));
  EXPECT_EQ(buf.data() + 1000, p);
  EXPECT_EQ(hipErrorInvalidValue, hipHostGetDevicePointer(&p, buf.data() + 1024, 0));
  EXPECT_EQ(hipErrorInvalidValue, hipHostGetDevicePointer(&p, buf.data(), 1));
  EXPECT_EQ(hipErrorHostMemoryNotRegistered, hipHostUnregister(buf.data() + 8));
  ASSERT_EQ(hipSuccess, hipHostUnregister(buf.data()));
  EXPECT_EQ(hipErrorInvalidValue, hipHostGetDevicePointer(&p, buf.data(), 0));
  EXPECT_EQ(hipErrorHostMemoryNotRegistered, hipHostUnregister(buf.data()));

  void* pinned = nullptr;
  ASSERT_EQ(hipSuccess, hipHostMalloc(&pinned, 256, hipHostMallocMapped));
  ASSERT_EQ(hipSuccess, hipHostGetDevicePointer(&p, static_cast<char*>(pinned) + 16, 0));
  EXPECT_EQ(static_cast<char*>(pinned) + 16, p);
  // Device memory is not host memory.
  void* dev = nullptr;
  ASSERT_EQ(hipSuccess, hipMalloc(&dev, 64));
  EXPECT_EQ(hipErrorInvalidValue, hipHostGetDevicePointer(&p, dev, 0));
  EXPECT_EQ(hipErrorInvalidValue, hipHostFree(dev));
  ASSERT_EQ(hipSuccess, hipFree(dev));
  ASSERT_EQ(hipSuccess, hipHostFree(pinned));
}

TEST_F(FakeHip, PointerAttributes) {
  void* dev = nullptr;
  void* pinned = nullptr;
  std::vector<char> buf(512);
  ASSERT_EQ(hipSuccess, hipMalloc(&dev, 128));
  ASSERT_EQ(hipSuccess, hipHostMalloc(&pinned, 128, 0));
  ASSERT_EQ(hipSuccess, hipHostRegister(buf.data(), buf.size(), 0));

  hipPointerAttribute_t at{};
  ASSERT_EQ(hipSuccess, hipPointerGetAttributes(&at, static_cast<char*>(dev) + 4));
  EXPECT_EQ(hipMemoryTypeDevice, at.memoryType);
  EXPECT_EQ(0, at.device);
  EXPECT_EQ(static_cast<char*>(dev) + 4, at.devicePointer);
  ASSERT_EQ(hipSuccess, hipPointerGetAttributes(&at, pinned));
  EXPECT_EQ(hipMemoryTypeHost, at.memoryType);
  EXPECT_EQ(pinned, at.hostPointer);
  ASSERT_EQ(hipSuccess, hipPointerGetAttributes(&at, buf.data() + 511));
  EXPECT_EQ(hipMemoryTypeHost, at.memoryType);
  int local = 0;
  EXPECT_EQ(hipErrorInvalidValue, hipPointerGetAttributes(&at, &local));
  EXPECT_EQ(hipErrorInvalidValue, hipPointerGetAttributes(&at, static_cast<char*>(dev) + 128));

  ASSERT_EQ(hipSuccess, hipHostUnregister(buf.data()));
  EXPECT_EQ(hipErrorInvalidValue, hipPointerGetAttributes(&at, buf.data()));
  ASSERT_EQ(hipSuccess, hipFree(dev));
  ASSERT_EQ(hipSuccess, hipHostFree(pinned));
}

}  // namespace

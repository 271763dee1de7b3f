// Checks the fake HIP runtime's entry points beyond the module API: the
// runtime API's hipLaunchKernel and `<<<>>>`'s call configuration,
// hipExtModuleLaunchKernel, the per-thread default stream and the _spt
// flavours, hipGetProcAddress, and the symbol versions of its exports.

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <hip/hip_runtime_api.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "fake_hip_kernel.h"

extern "C" unsigned long long fake_hip_launches(void);
extern "C" unsigned long long fake_hip_ext_launches(void);

namespace {

using fake_hip_detail::AppendArgs;
using ExtLaunch = hipError_t (*)(hipFunction_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, size_t,
                                 hipStream_t, void**, void**, hipEvent_t, hipEvent_t, uint32_t);
using GetProcAddress = hipError_t (*)(const char*, void**, int, uint64_t, int*);

template <class Fn>
Fn entry(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

TEST(FakeHipEntry, CallConfigurationAndRuntimeApiLaunch) {
  ASSERT_EQ(hipSuccess, __hipPushCallConfiguration(dim3(3, 2, 1), dim3(32, 1, 1), 64, nullptr));
  dim3 grid, block;
  size_t shared = 0;
  hipStream_t s = reinterpret_cast<hipStream_t>(0x1);
  ASSERT_EQ(hipSuccess, __hipPopCallConfiguration(&grid, &block, &shared, &s));
  EXPECT_EQ(3u, grid.x);
  EXPECT_EQ(2u, grid.y);
  EXPECT_EQ(32u, block.x);
  EXPECT_EQ(64u, shared);
  EXPECT_EQ(nullptr, s);
  EXPECT_EQ(hipErrorInvalidConfiguration, __hipPopCallConfiguration(&grid, &block, &shared, &s));

  std::vector<int> log(4, 0);
  int cursor = 0;
  AppendArgs a{log.data(), &cursor, 7};
  void* args[] = {&a};
  const void* k = fake_hip_kernel_append();
  ASSERT_EQ(hipSuccess, hipLaunchKernel(k, dim3(1), dim3(1), args, 0, nullptr));
  a.value = -1;  // the fake copied the arguments at the call
  ASSERT_EQ(hipSuccess, hipStreamSynchronize(nullptr));
  EXPECT_EQ(7, log[0]);
  EXPECT_EQ(hipErrorInvalidValue, hipLaunchKernel(k, dim3(0), dim3(1), args, 0, nullptr));
  EXPECT_EQ(hipErrorInvalidValue, hipLaunchKernel(k, dim3(1), dim3(1), nullptr, 0, nullptr));
  EXPECT_EQ(hipErrorInvalidDeviceFunction, hipLaunchKernel(nullptr, dim3(1), dim3(1), args, 0, nullptr));
}

TEST(FakeHipEntry, ExtModuleLaunchKernelRecordsItsEvents) {
  const auto ext = entry<ExtLaunch>("hipExtModuleLaunchKernel");
  ASSERT_NE(nullptr, ext);
  hipStream_t s = nullptr;
  ASSERT_EQ(hipSuccess, hipStreamCreate(&s));
  hipEvent_t start = nullptr, stop = nullptr;
  ASSERT_EQ(hipSuccess, hipEventCreate(&start));
  ASSERT_EQ(hipSuccess, hipEventCreate(&stop));
  unsigned us = 2000;
  size_t bytes = sizeof us;
  void* extra[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, &us, HIP_LAUNCH_PARAM_BUFFER_SIZE, &bytes, HIP_LAUNCH_PARAM_END};
  const unsigned long long before = fake_hip_ext_launches();
  ASSERT_EQ(hipSuccess, ext(fake_hip_kernel_sleep(), 100, 1, 1, 64, 1, 1, 0, s, nullptr, extra, start, stop, 0));
  ASSERT_EQ(hipSuccess, hipEventSynchronize(stop));
  float ms = 0;
  ASSERT_EQ(hipSuccess, hipEventElapsedTime(&ms, start, stop));
  EXPECT_GE(ms, 1.5f) << "the events are not around the kernel";
  EXPECT_EQ(before + 1, fake_hip_ext_launches());
  EXPECT_EQ(hipErrorInvalidValue, ext(fake_hip_kernel_sleep(), 16, 1, 1, 64, 1, 1, 0, s, nullptr, extra, nullptr,
                                      nullptr, 0))
      << "fewer work-items than the block's";
  EXPECT_EQ(hipSuccess, hipEventDestroy(start));
  EXPECT_EQ(hipSuccess, hipEventDestroy(stop));
  EXPECT_EQ(hipSuccess, hipStreamDestroy(s));
}

// hipStreamPerThread, and 0 in an _spt call, name the calling thread's own stream.
TEST(FakeHipEntry, PerThreadStreamIsTheThreadsOwn) {
  using MemsetSpt = hipError_t (*)(void*, int, size_t, hipStream_t);
  const auto memset_spt = entry<MemsetSpt>("hipMemsetAsync_spt");
  ASSERT_NE(nullptr, memset_spt);
  unsigned us = 100'000;
  size_t bytes = sizeof us;
  void* extra[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, &us, HIP_LAUNCH_PARAM_BUFFER_SIZE, &bytes, HIP_LAUNCH_PARAM_END};
  ASSERT_EQ(hipSuccess, hipModuleLaunchKernel(fake_hip_kernel_sleep(), 1, 1, 1, 1, 1, 1, 0, hipStreamPerThread,
                                              nullptr, extra));
  EXPECT_EQ(hipErrorNotReady, hipStreamQuery_spt(nullptr)) << "0 of an _spt call is not hipStreamPerThread";
  EXPECT_EQ(hipSuccess, hipStreamQuery(nullptr)) << "the null stream has the per-thread stream's work";
  std::thread other([] { EXPECT_EQ(hipSuccess, hipStreamQuery(hipStreamPerThread)) << "another thread's is shared"; });
  other.join();
  void* dev = nullptr;
  ASSERT_EQ(hipSuccess, hipMalloc(&dev, 16));
  ASSERT_EQ(hipSuccess, memset_spt(dev, 1, 16, nullptr));
  ASSERT_EQ(hipSuccess, hipDeviceSynchronize());
  EXPECT_EQ(hipSuccess, hipStreamQuery(hipStreamPerThread)) << "hipDeviceSynchronize left the per-thread stream";
  EXPECT_EQ(hipSuccess, hipFree(dev));
  EXPECT_EQ(hipErrorInvalidHandle, hipStreamDestroy(hipStreamPerThread));
}

TEST(FakeHipEntry, GetProcAddressAnswersWithItsOwnFunctions) {
  const auto get = entry<GetProcAddress>("hipGetProcAddress");
  ASSERT_NE(nullptr, get);
  void* fn = nullptr;
  int status = -1;
  ASSERT_EQ(hipSuccess, get("hipLaunchKernel", &fn, 600, 0, &status));
  EXPECT_EQ(reinterpret_cast<void*>(&hipLaunchKernel), fn);
  EXPECT_EQ(0, status);
  ASSERT_EQ(hipSuccess, get("hipLaunchKernel", &fn, 600, 1u << 1, &status));  // per-thread default stream
  EXPECT_EQ(reinterpret_cast<void*>(&hipLaunchKernel_spt), fn);
  ASSERT_EQ(hipSuccess, get("hipGetDeviceCount", &fn, 600, 1u << 1, &status)) << "no _spt flavour: the plain one";
  EXPECT_EQ(reinterpret_cast<void*>(&hipGetDeviceCount), fn);
  EXPECT_EQ(hipErrorInvalidValue, get("hipNoSuchCall", &fn, 600, 0, &status));
  EXPECT_EQ(1, status);
  EXPECT_EQ(hipErrorInvalidValue, get(nullptr, &fn, 600, 0, nullptr));
}

// The exports carry AMD's versions, so programs linked with the fake ask for them.
TEST(FakeHipEntry, ExportsCarryTheRuntimesVersions) {
  EXPECT_EQ(reinterpret_cast<void*>(&hipModuleLaunchKernel), dlvsym(RTLD_DEFAULT, "hipModuleLaunchKernel", "hip_4.2"));
  EXPECT_EQ(reinterpret_cast<void*>(&hipStreamWaitValue32), dlvsym(RTLD_DEFAULT, "hipStreamWaitValue32", "hip_4.4"));
  EXPECT_EQ(reinterpret_cast<void*>(&hipLaunchKernel_spt), dlvsym(RTLD_DEFAULT, "hipLaunchKernel_spt", "hip_5.2"));
  EXPECT_NE(nullptr, dlvsym(RTLD_DEFAULT, "hipGetProcAddress", "hip_6.1"));
  EXPECT_EQ(nullptr, dlvsym(RTLD_DEFAULT, "hipModuleLaunchKernel", "hip_5.2"));
}

}  // namespace

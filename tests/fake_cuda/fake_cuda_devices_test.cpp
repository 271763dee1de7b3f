// Checks the fake CUDA driver's devices: FAKE_CUDA_DEVICES physical devices,
// of which CUDA_VISIBLE_DEVICES selects and orders the visible ones.
//
// The driver reads the environment once per process, so ctest runs this
// program once per environment (fake_cuda_devices_*, tests/fake_cuda/CMakeLists.txt)
// and tells it what cuInit must see there: FAKE_CUDA_EXPECT_VISIBLE, the
// physical device of each visible ordinal ("1,0") for the suite Devices, or
// "none" for NoDevice, where cuInit must fail. VisibleDevicesParse checks the
// parser itself, without the driver.
#define __CUDA_API_VERSION_INTERNAL 1  // declarations under the exact exported names
#include <cuda.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fake_cuda.h"
#include "fake_cuda_devices.h"
#include "fake_kernel.h"

#ifndef FAKE_CUDA_PATH
#error "FAKE_CUDA_PATH must name libfake_cuda.so"
#endif

namespace {

using fake_cuda::parse_device_count;
using fake_cuda::parse_visible;
using Devs = std::vector<int>;

// ============================ the parser ============================

std::string text_of(int i) { return fake_cuda::uuid_text(fake_cuda::physical_uuid(i)); }

TEST(VisibleDevicesParse, UuidsAndNames) {
  EXPECT_EQ(text_of(0), "GPU-66616b65-2d63-7564-612d-6465762d3030");  // "fake-cuda-dev-00"
  EXPECT_EQ(text_of(1), "GPU-66616b65-2d63-7564-612d-6465762d3031");
  EXPECT_EQ(text_of(7), "GPU-66616b65-2d63-7564-612d-6465762d3037");
  EXPECT_EQ(fake_cuda::physical_name(0), "Fake CUDA Device (CPU)");
  EXPECT_EQ(fake_cuda::physical_name(3), "Fake CUDA Device 3 (CPU)");
}

TEST(VisibleDevicesParse, DeviceCount) {
  EXPECT_EQ(parse_device_count(nullptr), 1);
  EXPECT_EQ(parse_device_count("2"), 2);
  EXPECT_EQ(parse_device_count("8"), 8);
  for (const char* bad : {"", "0", "9", "-2", "2x", " 2", "x", "99999999999999999999999"})
    EXPECT_EQ(parse_device_count(bad), 1) << bad;
}

TEST(VisibleDevicesParse, Indices) {
  EXPECT_EQ(parse_visible(nullptr, 3), (Devs{0, 1, 2}));
  EXPECT_EQ(parse_visible("", 3), Devs{});
  EXPECT_EQ(parse_visible("2,0", 3), (Devs{2, 0}));
  EXPECT_EQ(parse_visible("01", 3), Devs{1});
  // The list stops at the first invalid, unknown or repeated entry.
  EXPECT_EQ(parse_visible("1,7,0", 2), Devs{1});
  EXPECT_EQ(parse_visible("1,1,0", 2), Devs{1});
  EXPECT_EQ(parse_visible("0,", 2), Devs{0});
  EXPECT_EQ(parse_visible("0,,1", 2), Devs{0});
  EXPECT_EQ(parse_visible("1, 0", 2), Devs{1});
  for (const char* none : {",0", "-1", "x,0", " 0", "2", "0x1", "MIG-0", "99999999999999999999999"})
    EXPECT_EQ(parse_visible(none, 2), Devs{}) << none;
}

TEST(VisibleDevicesParse, Uuids) {
  EXPECT_EQ(parse_visible(text_of(1).c_str(), 2), Devs{1});
  EXPECT_EQ(parse_visible((text_of(2) + ",0," + text_of(1)).c_str(), 3), (Devs{2, 0, 1}));
  std::string upper = text_of(1);
  std::transform(upper.begin() + 4, upper.end(), upper.begin() + 4, [](char c) {
    return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  });
  EXPECT_EQ(parse_visible(upper.c_str(), 2), Devs{1});
  // A prefix names the one device whose UUID starts with it.
  EXPECT_EQ(parse_visible("GPU-66616b65", 1), Devs{0});
  EXPECT_EQ(parse_visible("GPU-66616b65", 2), Devs{});  // both devices: ambiguous
  EXPECT_EQ(parse_visible("1,GPU-66616b65", 2), Devs{1});
  EXPECT_EQ(parse_visible(("0," + text_of(0)).c_str(), 2), Devs{0});  // the same device twice
  EXPECT_EQ(parse_visible(text_of(2).c_str(), 2), Devs{});            // no such device
  for (const char* none : {"GPU-", "GPU-zz", "gpu-66616b65", "GPU-6661 6b65", "66616b65"})
    EXPECT_EQ(parse_visible(none, 1), Devs{}) << none;
}

// ============================ the driver ============================

void* g_lib = nullptr;

void* sym(const char* name) {
  if (g_lib == nullptr) {
    g_lib = dlopen(FAKE_CUDA_PATH, RTLD_NOW | RTLD_LOCAL);  // never closed
    if (g_lib == nullptr) {
      ADD_FAILURE() << dlerror();
      std::abort();
    }
  }
  void* p = dlsym(g_lib, name);
  if (p == nullptr) {
    ADD_FAILURE() << "libfake_cuda.so does not export " << name;
    std::abort();
  }
  return p;
}

// D(cuStreamCreate)(&s, 0): the fake's function, typed from cuda.h.
#define D(name) (reinterpret_cast<decltype(&name)>(sym(#name)))
#define CK(call) ASSERT_EQ((call), CUDA_SUCCESS)

// The physical devices this process must see, by visible ordinal; empty: none.
Devs expected_visible() {
  const char* v = std::getenv("FAKE_CUDA_EXPECT_VISIBLE");
  if (v == nullptr) {
    ADD_FAILURE() << "FAKE_CUDA_EXPECT_VISIBLE is not set (run this through ctest)";
    std::abort();
  }
  Devs out;
  if (std::string_view(v) == "none") return out;
  for (const char* p = v; *p != '\0';) {
    char* end = nullptr;
    out.push_back(static_cast<int>(std::strtol(p, &end, 10)));
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

class Devices : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    expect_ = expected_visible();
    init_ = D(cuInit)(0);
  }
  void SetUp() override {
    ASSERT_FALSE(expect_.empty()) << "no device is visible here: run NoDevice.*";
    ASSERT_EQ(init_, CUDA_SUCCESS);
  }
  void TearDown() override { D(cuCtxSetCurrent)(nullptr); }

  static int count() { return static_cast<int>(expect_.size()); }

  static Devs expect_;
  static CUresult init_;
};
Devs Devices::expect_;
CUresult Devices::init_ = CUDA_ERROR_UNKNOWN;

// Where no device is visible, initialisation fails and so does everything after.
class NoDevice : public Devices {
 protected:
  void SetUp() override { ASSERT_TRUE(expect_.empty()) << "devices are visible here: run Devices.*"; }
};
TEST_F(NoDevice, InitFails) {
  EXPECT_EQ(init_, CUDA_ERROR_NO_DEVICE);
  EXPECT_EQ(D(cuInit)(0), CUDA_ERROR_NO_DEVICE);
  int n = -1;
  EXPECT_EQ(D(cuDeviceGetCount)(&n), CUDA_ERROR_NOT_INITIALIZED);
  CUdevice dev = -1;
  EXPECT_EQ(D(cuDeviceGet)(&dev, 0), CUDA_ERROR_NOT_INITIALIZED);
  CUcontext ctx = nullptr;
  EXPECT_EQ(D(cuDevicePrimaryCtxRetain)(&ctx, 0), CUDA_ERROR_NOT_INITIALIZED);
}

TEST_F(Devices, CountUuidsAndNames) {
  int n = -1;
  CK(D(cuDeviceGetCount)(&n));
  ASSERT_EQ(n, count());
  for (int k = 0; k < n; ++k) {
    SCOPED_TRACE("visible ordinal " + std::to_string(k));
    const int phys = expect_[static_cast<size_t>(k)];
    CUdevice dev = -1;
    CK(D(cuDeviceGet)(&dev, k));
    EXPECT_EQ(dev, k);
    CUuuid uuid{};
    CK(D(cuDeviceGetUuid_v2)(&uuid, dev));
    const std::string bytes = "fake-cuda-dev-0" + std::to_string(phys);
    EXPECT_EQ(std::string(uuid.bytes, sizeof uuid.bytes), bytes);
    char name[64] = {};
    CK(D(cuDeviceGetName)(name, sizeof name, dev));
    const std::string want =
        phys == 0 ? "Fake CUDA Device (CPU)" : "Fake CUDA Device " + std::to_string(phys) + " (CPU)";
    EXPECT_EQ(std::string(name), want);
    size_t total = 0;
    CK(D(cuDeviceTotalMem_v2)(&total, dev));
    EXPECT_GT(total, 0u);
    int sms = 0;
    CK(D(cuDeviceGetAttribute)(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
    EXPECT_EQ(sms, 132);
  }
}

TEST_F(Devices, OrdinalOutOfRange) {
  for (const int bad : {count(), -1, fake_cuda::kMaxDevices}) {
    SCOPED_TRACE("ordinal " + std::to_string(bad));
    CUdevice dev = -1;
    EXPECT_EQ(D(cuDeviceGet)(&dev, bad), CUDA_ERROR_INVALID_DEVICE);
    CUuuid uuid{};
    EXPECT_EQ(D(cuDeviceGetUuid_v2)(&uuid, bad), CUDA_ERROR_INVALID_DEVICE);
    char name[64];
    EXPECT_EQ(D(cuDeviceGetName)(name, sizeof name, bad), CUDA_ERROR_INVALID_DEVICE);
    size_t total = 0;
    EXPECT_EQ(D(cuDeviceTotalMem_v2)(&total, bad), CUDA_ERROR_INVALID_DEVICE);
    int v = 0;
    EXPECT_EQ(D(cuDeviceGetAttribute)(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, bad), CUDA_ERROR_INVALID_DEVICE);
    CUcontext ctx = nullptr;
    EXPECT_EQ(D(cuDevicePrimaryCtxRetain)(&ctx, bad), CUDA_ERROR_INVALID_DEVICE);
    EXPECT_EQ(D(cuDevicePrimaryCtxRelease_v2)(bad), CUDA_ERROR_INVALID_DEVICE);
    unsigned flags = 0;
    int active = 0;
    EXPECT_EQ(D(cuDevicePrimaryCtxGetState)(bad, &flags, &active), CUDA_ERROR_INVALID_DEVICE);
    EXPECT_EQ(D(cuDevicePrimaryCtxSetFlags_v2)(bad, 0), CUDA_ERROR_INVALID_DEVICE);
    EXPECT_EQ(D(cuCtxCreate_v2)(&ctx, 0, bad), CUDA_ERROR_INVALID_DEVICE);
    EXPECT_EQ(D(cuCtxCreate_v4)(&ctx, nullptr, 0, bad), CUDA_ERROR_INVALID_DEVICE);
    CUdevResource res{};
    EXPECT_EQ(D(cuDeviceGetDevResource)(bad, &res, CU_DEV_RESOURCE_TYPE_SM), CUDA_ERROR_INVALID_DEVICE);
  }
}

bool primary_active(CUdevice dev) {
  unsigned flags = 0;
  int active = -1;
  EXPECT_EQ(D(cuDevicePrimaryCtxGetState)(dev, &flags, &active), CUDA_SUCCESS);
  return active != 0;
}

unsigned primary_flags(CUdevice dev) {
  unsigned flags = 0;
  int active = -1;
  EXPECT_EQ(D(cuDevicePrimaryCtxGetState)(dev, &flags, &active), CUDA_SUCCESS);
  return flags;
}

CUdevice device_of(CUcontext ctx) {
  CUdevice dev = -1;
  EXPECT_EQ(D(cuCtxGetDevice_v2)(&dev, ctx), CUDA_SUCCESS);
  return dev;
}

TEST_F(Devices, EachDeviceHasItsPrimaryContext) {
  std::vector<CUcontext> primaries;
  for (int k = 0; k < count(); ++k) {
    SCOPED_TRACE("visible ordinal " + std::to_string(k));
    EXPECT_FALSE(primary_active(k));
    CUcontext ctx = nullptr;
    CK(D(cuDevicePrimaryCtxRetain)(&ctx, k));
    EXPECT_EQ(std::count(primaries.begin(), primaries.end(), ctx), 0);
    primaries.push_back(ctx);
    EXPECT_TRUE(primary_active(k));
    EXPECT_EQ(device_of(ctx), k);
    CK(D(cuCtxSetCurrent)(ctx));
    CUdevice dev = -1;
    CK(D(cuCtxGetDevice)(&dev));
    EXPECT_EQ(dev, k);
  }
  // Flags and references are the device's own.
  CK(D(cuDevicePrimaryCtxSetFlags_v2)(count() - 1, CU_CTX_SCHED_YIELD));
  for (int k = 0; k < count(); ++k) EXPECT_EQ(primary_flags(k), k == count() - 1 ? unsigned{CU_CTX_SCHED_YIELD} : 0u);
  CK(D(cuDevicePrimaryCtxSetFlags_v2)(count() - 1, 0));
  CK(D(cuDevicePrimaryCtxRelease_v2)(0));
  EXPECT_FALSE(primary_active(0));
  for (int k = 1; k < count(); ++k) {
    EXPECT_TRUE(primary_active(k));
    CK(D(cuDevicePrimaryCtxRelease_v2)(k));
  }
  EXPECT_EQ(D(cuDevicePrimaryCtxRelease_v2)(0), CUDA_ERROR_INVALID_CONTEXT);
}

TEST_F(Devices, CreatedContextsRecordTheirDevice) {
  for (int k = 0; k < count(); ++k) {
    SCOPED_TRACE("visible ordinal " + std::to_string(k));
    CUcontext a = nullptr, b = nullptr;
    CK(D(cuCtxCreate_v2)(&a, 0, k));
    CK(D(cuCtxCreate_v4)(&b, nullptr, 0, k));  // current now, above a
    EXPECT_EQ(device_of(a), k);
    CUdevice dev = -1;
    CK(D(cuCtxGetDevice)(&dev));
    EXPECT_EQ(dev, k);
    CUstream s = nullptr;
    CK(D(cuStreamCreate)(&s, CU_STREAM_NON_BLOCKING));
    CK(D(cuStreamGetDevice)(s, &dev));
    EXPECT_EQ(dev, k);
    CK(D(cuStreamDestroy_v2)(s));
    CK(D(cuCtxDestroy_v2)(b));
    CK(D(cuCtxDestroy_v2)(a));
  }
}

// A green context of 8 SMs of device dev.
CUgreenCtx make_green(CUdevice dev) {
  CUdevResource whole{}, group{};
  EXPECT_EQ(D(cuDeviceGetDevResource)(dev, &whole, CU_DEV_RESOURCE_TYPE_SM), CUDA_SUCCESS);
  unsigned n = 1;
  EXPECT_EQ(D(cuDevSmResourceSplitByCount)(&group, &n, &whole, nullptr, 0, 8), CUDA_SUCCESS);
  CUdevResourceDesc desc = nullptr;
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&desc, &group, 1), CUDA_SUCCESS);
  CUgreenCtx g = nullptr;
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, desc, dev, CU_GREEN_CTX_DEFAULT_STREAM), CUDA_SUCCESS);
  return g;
}

TEST_F(Devices, GreenContextsRetainTheirDevicesPrimary) {
  for (int k = 0; k < count(); ++k) {
    SCOPED_TRACE("visible ordinal " + std::to_string(k));
    const CUgreenCtx g = make_green(k);
    ASSERT_NE(g, nullptr);
    for (int j = 0; j < count(); ++j) EXPECT_EQ(primary_active(j), j == k) << "device " << j;
    CUcontext gctx = nullptr;
    CK(D(cuCtxFromGreenCtx)(&gctx, g));
    EXPECT_EQ(device_of(gctx), k);
    CK(D(cuCtxSetCurrent)(gctx));
    CUdevice dev = -1;
    CK(D(cuCtxGetDevice)(&dev));
    EXPECT_EQ(dev, k);
    // Its streams belong to the device's primary context.
    CUstream s = nullptr;
    CK(D(cuGreenCtxStreamCreate)(&s, g, CU_STREAM_NON_BLOCKING, 0));
    CUcontext primary = nullptr, owner = nullptr;
    CUgreenCtx green = nullptr;
    CK(D(cuDevicePrimaryCtxRetain)(&primary, k));
    CK(D(cuStreamGetCtx_v2)(s, &owner, &green));
    EXPECT_EQ(owner, primary);
    EXPECT_EQ(green, g);
    CK(D(cuStreamGetDevice)(s, &dev));
    EXPECT_EQ(dev, k);
    CK(D(cuDevicePrimaryCtxRelease_v2)(k));
    CK(D(cuCtxSetCurrent)(nullptr));
    CK(D(cuGreenCtxDestroy)(g));
    EXPECT_FALSE(primary_active(k));
  }
}

TEST_F(Devices, ResourcesStayOnTheirDevice) {
  if (count() < 2) GTEST_SKIP() << "one device";
  CUdevResource whole{}, group{};
  CK(D(cuDeviceGetDevResource)(1, &whole, CU_DEV_RESOURCE_TYPE_SM));
  unsigned n = 1;
  CK(D(cuDevSmResourceSplitByCount)(&group, &n, &whole, nullptr, 0, 8));
  CUdevResourceDesc desc = nullptr;
  CK(D(cuDevResourceGenerateDesc)(&desc, &group, 1));
  CUgreenCtx g = nullptr;
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, desc, 0, CU_GREEN_CTX_DEFAULT_STREAM), CUDA_ERROR_INVALID_VALUE);
  EXPECT_FALSE(primary_active(0));
  EXPECT_FALSE(primary_active(1));
}

CUresult launch(CUfunction f, CUstream s, void** args) {
  return D(cuLaunchKernel)(f, 1, 1, 1, 1, 1, 1, 0, s, args, nullptr);
}

// An event recorded on device 0 holds up a stream of device 1 that waits for
// it, and device 1 can copy device 0's memory (both are host memory).
TEST_F(Devices, StreamWaitsForAnEventOfAnotherDevice) {
  if (count() < 2) GTEST_SKIP() << "one device";
  CUcontext ctx0 = nullptr, ctx1 = nullptr;
  CK(D(cuDevicePrimaryCtxRetain)(&ctx0, 0));
  CK(D(cuDevicePrimaryCtxRetain)(&ctx1, 1));

  CK(D(cuCtxSetCurrent)(ctx0));
  CUdeviceptr src = 0;
  CK(D(cuMemAlloc_v2)(&src, sizeof(int)));
  const int zero = 0;
  CK(D(cuMemcpyHtoD_v2)(src, &zero, sizeof zero));
  CUstream s0 = nullptr;
  CK(D(cuStreamCreate)(&s0, CU_STREAM_NON_BLOCKING));
  CUevent done = nullptr;
  CK(D(cuEventCreate)(&done, CU_EVENT_DISABLE_TIMING));
  unsigned us = 150'000;
  void* sleep_args[] = {&us};
  CK(launch(fake_kernel_sleep(), s0, sleep_args));
  int value = 42;
  int* dst_ptr = reinterpret_cast<int*>(src);
  void* store_args[] = {&value, &dst_ptr};
  CK(launch(fake_kernel_store(), s0, store_args));
  CK(D(cuEventRecord)(done, s0));

  CK(D(cuCtxSetCurrent)(ctx1));
  CUdeviceptr dst = 0;
  CK(D(cuMemAlloc_v2)(&dst, sizeof(int)));
  CK(D(cuMemcpyHtoD_v2)(dst, &zero, sizeof zero));
  CUstream s1 = nullptr;
  CK(D(cuStreamCreate)(&s1, CU_STREAM_NON_BLOCKING));
  CK(D(cuStreamWaitEvent)(s1, done, 0));
  CK(D(cuMemcpyDtoDAsync_v2)(dst, src, sizeof(int), s1));
  EXPECT_EQ(D(cuStreamQuery)(s1), CUDA_ERROR_NOT_READY);  // behind device 0's sleep
  CK(D(cuStreamSynchronize)(s1));
  EXPECT_EQ(D(cuEventQuery)(done), CUDA_SUCCESS);
  int copied = -1;
  CK(D(cuMemcpyDtoH_v2)(&copied, dst, sizeof copied));
  EXPECT_EQ(copied, 42);

  CK(D(cuStreamDestroy_v2)(s1));
  CK(D(cuMemFree_v2)(dst));
  CK(D(cuCtxSetCurrent)(ctx0));
  CK(D(cuEventDestroy_v2)(done));
  CK(D(cuStreamDestroy_v2)(s0));
  CK(D(cuMemFree_v2)(src));
  CK(D(cuDevicePrimaryCtxRelease_v2)(1));
  CK(D(cuDevicePrimaryCtxRelease_v2)(0));
}

}  // namespace

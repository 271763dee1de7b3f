// Checks the fake CUDA driver (libfake_cuda.so) against CUDA's documented
// semantics. The fake is loaded with dlopen by path, as the interposer loads
// its "real" driver, and every call goes through dlsym. This file loads it
// (the test environment) and checks devices and contexts; the other areas are
// in fake_cuda_selftest_*.cpp, the shared helpers in fake_cuda_selftest.h.
#include "fake_cuda_selftest.h"

#ifndef FAKE_CUDA_PATH
#error "FAKE_CUDA_PATH must name libfake_cuda.so"
#endif

namespace fake_cuda_selftest {
namespace {

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

}  // namespace
}  // namespace fake_cuda_selftest

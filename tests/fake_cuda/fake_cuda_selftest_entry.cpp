// The fake CUDA driver's self-test: its entry points (cuGetProcAddress) and the
// test API at every entry (call counting, launch delay, injected errors).
#include "fake_cuda_selftest.h"

namespace fake_cuda_selftest {
namespace {

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

}  // namespace
}  // namespace fake_cuda_selftest

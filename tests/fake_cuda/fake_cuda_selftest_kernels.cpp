// The fake CUDA driver's self-test: kernel launches and their arguments.
#include "fake_cuda_selftest.h"

namespace fake_cuda_selftest {
namespace {

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

}  // namespace
}  // namespace fake_cuda_selftest

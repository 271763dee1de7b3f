// The fake CUDA driver's self-test: allocations, copies and memsets, and how they synchronise.
#include "fake_cuda_selftest.h"

namespace fake_cuda_selftest {
namespace {

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

}  // namespace
}  // namespace fake_cuda_selftest

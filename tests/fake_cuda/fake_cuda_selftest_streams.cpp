// The fake CUDA driver's self-test: streams (FIFO order, attributes, destruction),
// implicit synchronisation with the legacy stream, per-thread default streams,
// host functions and callbacks, stream memory operations.
#include "fake_cuda_selftest.h"

namespace fake_cuda_selftest {
namespace {

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

}  // namespace
}  // namespace fake_cuda_selftest

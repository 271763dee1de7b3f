// The fake CUDA driver's self-test: many threads and streams at once, and process
// exit with work still pending.
#include "fake_cuda_selftest.h"

namespace fake_cuda_selftest {
namespace {

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
}  // namespace fake_cuda_selftest

// Streams on two GPUs of one process, through the interposer on the fake
// driver with two devices (FAKE_CUDA_DEVICES=2; one ctest entry also reverses
// them with CUDA_VISIBLE_DEVICES=1,0). Each GPU is a scheduling domain named
// by its UUID, whatever ordinal the process sees it at: an urgent stream on
// one GPU holds the other streams of that GPU only.
#include <cuda.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "fake_kernel.h"
#include "xsched/xsched_cuda.h"

namespace {

using namespace std::chrono_literals;

// The physical fake device that this process's ordinal names, from
// CUDA_VISIBLE_DEVICES as the ctest entries set it ("1,0" or unset).
int physical(int ordinal) {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  return v != nullptr && std::strcmp(v, "1,0") == 0 ? 1 - ordinal : ordinal;
}

struct Gpu {
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
};

Gpu gpu(int ordinal) {
  Gpu g;
  EXPECT_EQ(cuDeviceGet(&g.dev, ordinal), CUDA_SUCCESS);
  EXPECT_EQ(cuDevicePrimaryCtxRetain(&g.ctx, g.dev), CUDA_SUCCESS);
  return g;
}

CUstream stream_on(const Gpu& g) {
  EXPECT_EQ(cuCtxSetCurrent(g.ctx), CUDA_SUCCESS);
  CUstream s = nullptr;
  EXPECT_EQ(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  return s;
}

uint64_t queue_of(CUstream s) {
  uint64_t q = 0;
  EXPECT_EQ(xs_cuda_stream_queue(s, -1, &q), XS_OK) << xs_cuda_last_error();
  return q;
}

std::string uuid_of(uint64_t q, int32_t* ordinal) {
  uint8_t uuid[16] = {};
  EXPECT_EQ(xs_cuda_queue_device(q, uuid, ordinal), XS_OK) << xs_cuda_last_error();
  return std::string(reinterpret_cast<const char*>(uuid), 16);
}

bool suspended(uint64_t q) {
  xs_queue_info_t i{};
  i.struct_size = sizeof i;
  EXPECT_EQ(xs_cuda_queue_query(q, &i), XS_OK) << xs_cuda_last_error();
  return i.suspended != 0;
}

CUresult sleep_kernel(CUstream s, unsigned us) {
  void* params[] = {&us};
  return cuLaunchKernel(fake_kernel_sleep(), 1, 1, 1, 1, 1, 1, 0, s, params, nullptr);
}

class MultiDeviceCuda : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(cuInit(0), CUDA_SUCCESS); }
};

// Each ordinal's queues carry that GPU's UUID (the driver's, not the ordinal).
TEST_F(MultiDeviceCuda, QueuesCarryTheirGpusUuid) {
  int count = 0;
  ASSERT_EQ(cuDeviceGetCount(&count), CUDA_SUCCESS);
  ASSERT_EQ(count, 2);
  for (int ordinal : {0, 1}) {
    SCOPED_TRACE(ordinal);
    const Gpu g = gpu(ordinal);
    const uint64_t q = queue_of(stream_on(g));
    int32_t seen = -1;
    EXPECT_EQ(uuid_of(q, &seen), "fake-cuda-dev-0" + std::to_string(physical(ordinal)));
    EXPECT_EQ(seen, ordinal);
  }
}

// An urgent stream on GPU 0 holds the low stream on GPU 0 and not the one on GPU 1.
TEST_F(MultiDeviceCuda, AnUrgentStreamHoldsOnlyItsOwnGpusStreams) {
  const Gpu g0 = gpu(0), g1 = gpu(1);
  CUstream urgent = stream_on(g0), low0 = stream_on(g0), low1 = stream_on(g1);
  const uint64_t q_urgent = queue_of(urgent), q_low0 = queue_of(low0), q_low1 = queue_of(low1);
  ASSERT_EQ(xs_cuda_queue_set_priority(q_urgent, 10), XS_OK);
  for (CUstream s : {low0, low1}) {
    ASSERT_EQ(cuCtxSetCurrent(s == low0 ? g0.ctx : g1.ctx), CUDA_SUCCESS);
    for (int i = 0; i < 4; ++i) ASSERT_EQ(sleep_kernel(s, 1000), CUDA_SUCCESS);
  }
  ASSERT_EQ(cuCtxSetCurrent(g0.ctx), CUDA_SUCCESS);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(sleep_kernel(urgent, 20'000), CUDA_SUCCESS);  // 400 ms
  EXPECT_TRUE(suspended(q_low0)) << "the low stream of the urgent one's GPU ran on";
  EXPECT_FALSE(suspended(q_low1)) << "a stream of the other GPU was held";
  ASSERT_EQ(xs_cuda_queue_wait_all(q_low1, -1), XS_OK);  // runs to the end while GPU 0's urgent work goes on
  xs_queue_info_t i{};
  i.struct_size = sizeof i;
  ASSERT_EQ(xs_cuda_queue_query(q_urgent, &i), XS_OK);
  EXPECT_LT(i.completed, i.submitted) << "GPU 1's stream waited for GPU 0's urgent work";
  for (CUstream s : {urgent, low0, low1}) EXPECT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  // The urgent queue's worker reports its idleness after the synchronize may return.
  bool released = false;
  for (int k = 0; k < 500 && !released; ++k) {
    released = !suspended(q_low0);
    if (!released) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(released) << "the low stream stayed held after the urgent work ended";
}

// An event recorded on GPU 0 and waited for on GPU 1: the wait holds GPU 1's
// stream until the record, and a held recorder is expedited (priority inheritance).
TEST_F(MultiDeviceCuda, AWaitOnAnotherGpusEventLendsUrgencyToTheRecorder) {
  const Gpu g0 = gpu(0), g1 = gpu(1);
  CUstream urgent = stream_on(g0), recorder = stream_on(g0), waiter = stream_on(g1);
  const uint64_t q_urgent = queue_of(urgent), q_waiter = queue_of(waiter);
  ASSERT_EQ(xs_cuda_queue_set_priority(q_urgent, 10), XS_OK);
  ASSERT_EQ(xs_cuda_queue_set_priority(q_waiter, 10), XS_OK);
  ASSERT_EQ(cuCtxSetCurrent(g0.ctx), CUDA_SUCCESS);
  CUevent ev = nullptr;
  ASSERT_EQ(cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING), CUDA_SUCCESS);
  for (int i = 0; i < 40; ++i) ASSERT_EQ(sleep_kernel(urgent, 25'000), CUDA_SUCCESS);  // 1 s
  ASSERT_EQ(sleep_kernel(recorder, 2000), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(ev, recorder), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxSetCurrent(g1.ctx), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamWaitEvent(waiter, ev, 0), CUDA_SUCCESS);
  ASSERT_EQ(sleep_kernel(waiter, 1000), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(waiter), CUDA_SUCCESS);
  EXPECT_EQ(cuEventQuery(ev), CUDA_SUCCESS);
  xs_queue_info_t i{};
  i.struct_size = sizeof i;
  ASSERT_EQ(xs_cuda_queue_query(q_urgent, &i), XS_OK);
  EXPECT_LT(i.completed, i.submitted) << "GPU 1's waiter waited for GPU 0's urgent work";
  for (CUstream s : {urgent, recorder}) EXPECT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  EXPECT_EQ(cuEventDestroy(ev), CUDA_SUCCESS);
}

}  // namespace

// The C API's CUDA platform on the fake driver (tests/fake_cuda): a program
// that links libxsched, not the interposer, wraps its own streams in queues
// and submits through them (xs_queue_create(XS_PLATFORM_CUDA, stream, ...)).
// The program calls the fake directly (linked as its libcuda); the library
// finds the same fake through XSCHED_REAL_LIBCUDA.
#include <cuda.h>
#include <dlfcn.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "c_api_backlog.h"
#include "c_api_queue_info.h"
#include "fake_kernel.h"
#include "xsched/xsched.h"

namespace {

struct Device {
  CUcontext ctx = nullptr;
  Device() {
    CUdevice dev = 0;
    EXPECT_EQ(cuInit(0), CUDA_SUCCESS);
    EXPECT_EQ(cuDeviceGet(&dev, 0), CUDA_SUCCESS);
    EXPECT_EQ(cuDevicePrimaryCtxRetain(&ctx, dev), CUDA_SUCCESS);
    EXPECT_EQ(cuCtxSetCurrent(ctx), CUDA_SUCCESS);
  }
  CUstream stream() {
    CUstream s = nullptr;
    EXPECT_EQ(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
    return s;
  }
};

xs_queue_t make_queue(CUstream s, int32_t priority) {
  xs_queue_t q = nullptr;
  EXPECT_EQ(xs_queue_create(XS_PLATFORM_CUDA, s, nullptr, &q), XS_OK);
  if (q != nullptr) {
    EXPECT_EQ(xs_queue_set_priority(q, priority), XS_OK);
  }
  return q;
}

xs_result_t launch(xs_queue_t q, CUfunction f, void** params) {
  xs_cuda_kernel_t k{};
  k.function = f;
  k.grid[0] = k.grid[1] = k.grid[2] = 1;
  k.block[0] = k.block[1] = k.block[2] = 1;
  k.params = params;
  xs_command_t c{};
  c.kind = XS_CMD_KERNEL;
  c.u.kernel.desc = &k;
  c.u.kernel.desc_size = sizeof k;
  return xs_queue_submit(q, &c, nullptr);
}

// Kernels, a fill and a host function run in submission order, then a copy; and
// a kernel's arguments are taken at submit: a held queue launches them later
// with the values they had then.
TEST(CApiCuda, CommandsRunInOrderWithTheArgumentsOfTheirSubmit) {
  Device d;
  CUstream s = d.stream();
  xs_queue_t q = make_queue(s, 0);
  ASSERT_NE(q, nullptr);
  uint8_t uuid[16] = {};
  int32_t ordinal = -1;
  ASSERT_EQ(xs_queue_device(q, uuid, &ordinal), XS_OK);
  EXPECT_EQ(ordinal, 0);
  EXPECT_NE(std::vector<uint8_t>(uuid, uuid + 16), std::vector<uint8_t>(16, 0));  // the fake GPU's UUID

  CUdeviceptr dev_buf = 0;
  ASSERT_EQ(cuMemAlloc(&dev_buf, 64), CUDA_SUCCESS);
  void* pinned = nullptr;
  ASSERT_EQ(cuMemAllocHost(&pinned, 64), CUDA_SUCCESS);
  auto* host = static_cast<uint8_t*>(pinned);
  std::memset(host, 0, 64);
  std::vector<int> log(8, -1);
  int cursor = 0;
  std::atomic<int> host_fn_saw_cursor{-1};

  ASSERT_EQ(xs_queue_suspend(q, 0), XS_OK);  // everything below waits, so it is persisted
  int* log_p = log.data();
  int* cursor_p = &cursor;
  for (int v = 1; v <= 4; ++v) {
    int value = v;
    void* params[] = {&log_p, &cursor_p, &value};
    ASSERT_EQ(launch(q, fake_kernel_append(), params), XS_OK);
    value = -100;  // changed after submit: the queue has its own copy
  }
  xs_command_t fill{};
  fill.kind = XS_CMD_MEMSET;
  fill.u.memset = {reinterpret_cast<void*>(dev_buf), 0x5a, 64};
  ASSERT_EQ(xs_queue_submit(q, &fill, nullptr), XS_OK);
  struct Seen {
    std::atomic<int>* out;
    int* cursor;
  } seen{&host_fn_saw_cursor, &cursor};
  xs_command_t fn{};
  fn.kind = XS_CMD_HOST_FUNC;
  fn.u.host_func = {[](void* a) {
                      auto* what = static_cast<Seen*>(a);
                      what->out->store(*what->cursor);
                    },
                    &seen};
  ASSERT_EQ(xs_queue_submit(q, &fn, nullptr), XS_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(cursor, 0);  // held: nothing ran
  ASSERT_EQ(xs_queue_resume(q), XS_OK);
  ASSERT_EQ(xs_queue_wait_all(q, 10'000'000'000), XS_OK);
  // A copy to host memory the driver cannot vouch for goes at once, on an idle queue.
  xs_command_t copy{};
  copy.kind = XS_CMD_COPY;
  copy.u.copy = {host, reinterpret_cast<const void*>(dev_buf), 64};
  ASSERT_EQ(xs_queue_submit(q, &copy, nullptr), XS_OK);
  ASSERT_EQ(xs_queue_wait_all(q, 10'000'000'000), XS_OK);

  EXPECT_EQ(cursor, 4);
  EXPECT_EQ(std::vector<int>(log.begin(), log.begin() + 4), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(std::vector<uint8_t>(host, host + 64), std::vector<uint8_t>(64, 0x5a));
  EXPECT_EQ(host_fn_saw_cursor.load(), 4);  // after every kernel before it
  const xs_queue_info_t info = info_of(q);
  EXPECT_EQ(info.submitted, 7u);
  EXPECT_EQ(info.completed, 7u);
  EXPECT_EQ(xs_queue_destroy(q), XS_OK);
  EXPECT_EQ(cuMemFree(dev_buf), CUDA_SUCCESS);
  EXPECT_EQ(cuMemFreeHost(pinned), CUDA_SUCCESS);
  EXPECT_EQ(cuStreamDestroy(s), CUDA_SUCCESS);
}

// The point of the platform: while an urgent queue of the program's own has
// work, a less urgent one on the same GPU is held, and only what it had
// launched already completes (c_api_backlog.h).
TEST(CApiCuda, AnUrgentStreamHoldsABackloggedOne) {
  ASSERT_EQ(xs_set_policy(XS_POLICY_PRIORITY), XS_OK);
  Device d;
  CUstream s_lo = d.stream();
  CUstream s_hi = d.stream();
  xs_queue_t lo = make_queue(s_lo, 0);
  xs_queue_t hi = make_queue(s_hi, 10);
  ASSERT_NE(lo, nullptr);
  ASSERT_NE(hi, nullptr);
  xsched::testing::BacklogPlatform cuda;
  cuda.sleep = [](xs_queue_t q, unsigned us) {
    void* params[] = {&us};  // taken at submit
    return launch(q, fake_kernel_sleep(), params);
  };
  cuda.meanwhile = [&](const xs_queue_info_t& held) {
    const xs_queue_info_t after = info_of(lo);
    EXPECT_LE(after.completed - held.completed, held.in_flight) << "the held queue kept launching";
    EXPECT_LT(after.completed, static_cast<uint64_t>(xsched::testing::kBacklog));
  };
  xsched::testing::run_backlog(lo, hi, cuda);
}

TEST(CApiCuda, WhatTheQueuesDoNotTakeIsRefused) {
  Device d;
  CUstream s = d.stream();
  xs_queue_t q = make_queue(s, 0);
  ASSERT_NE(q, nullptr);
  // A copy naming memory the driver does not vouch for (pageable: the caller
  // may reuse it at once) cannot wait in a held queue; it goes when the queue
  // may launch it at once.
  std::vector<uint8_t> pageable(16, 1);
  CUdeviceptr dev_buf = 0;
  ASSERT_EQ(cuMemAlloc(&dev_buf, 16), CUDA_SUCCESS);
  xs_command_t copy{};
  copy.kind = XS_CMD_COPY;
  copy.u.copy = {reinterpret_cast<void*>(dev_buf), pageable.data(), 16};
  ASSERT_EQ(xs_queue_suspend(q, 0), XS_OK);
  EXPECT_EQ(xs_queue_submit(q, &copy, nullptr), XS_ERR_UNSUPPORTED);
  ASSERT_EQ(xs_queue_resume(q), XS_OK);
  EXPECT_EQ(xs_queue_submit(q, &copy, nullptr), XS_OK);
  EXPECT_EQ(xs_queue_wait_all(q, 10'000'000'000), XS_OK);
  EXPECT_EQ(cuMemFree(dev_buf), CUDA_SUCCESS);
  xs_command_t ev{};
  ev.kind = XS_CMD_EVENT_RECORD;
  EXPECT_EQ(xs_queue_submit(q, &ev, nullptr), XS_ERR_UNSUPPORTED);
  xs_host_kernel_t wrong{};  // another platform's descriptor
  xs_command_t k{};
  k.kind = XS_CMD_KERNEL;
  k.u.kernel.desc = &wrong;
  k.u.kernel.desc_size = sizeof wrong;
  EXPECT_EQ(xs_queue_submit(q, &k, nullptr), XS_ERR_INVALID_ARG);
  xs_cuda_kernel_t no_function{};
  k.u.kernel.desc = &no_function;
  k.u.kernel.desc_size = sizeof no_function;
  EXPECT_EQ(xs_queue_submit(q, &k, nullptr), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_queue_destroy(q), XS_OK);
}

// Its own ctest entry, with XSCHED_REAL_LIBCUDA naming no file.
TEST(CApiCudaNoDriver, WithoutADriverAQueueIsRefused) {
  xs_queue_t q = nullptr;
  EXPECT_EQ(xs_queue_create(XS_PLATFORM_CUDA, nullptr, nullptr, &q), XS_ERR_STATE);
  EXPECT_EQ(q, nullptr);
}

// Its own ctest entry: once the interposer is in the process, its streams
// are scheduled by it, and the C API leaves them alone.
TEST(CApiCudaUnderInterposer, AProgramUnderTheInterposerIsRefused) {
  void* interposer = dlopen(INTERPOSER_PATH, RTLD_NOW | RTLD_GLOBAL);
  ASSERT_NE(interposer, nullptr) << dlerror();
  Device d;
  CUstream s = d.stream();
  xs_queue_t q = nullptr;
  EXPECT_EQ(xs_queue_create(XS_PLATFORM_CUDA, s, nullptr, &q), XS_ERR_STATE);
  EXPECT_EQ(q, nullptr);
}

}  // namespace

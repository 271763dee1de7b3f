// The C API's HIP platform on the fake HIP runtime (tests/fake_hip): a
// program that links libxsched wraps its own streams in queues and submits
// through them (xs_queue_create(XS_PLATFORM_HIP, stream, ...)), the
// app-managed use of AMD GPUs. The program calls the fake directly (linked);
// the library finds the same fake through XSCHED_REAL_LIBHIP.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "c_api_backlog.h"
#include "c_api_queue_info.h"
#include "fake_hip_kernel.h"
#include "xsched/xsched.h"

// The fake runtime's count of kernels run so far in the process.
extern "C" unsigned long long fake_hip_launches(void);

namespace {

hipStream_t make_stream() {
  hipStream_t s = nullptr;
  EXPECT_EQ(hipStreamCreateWithFlags(&s, hipStreamNonBlocking), hipSuccess);
  return s;
}

xs_queue_t make_queue(hipStream_t s, int32_t priority, xs_level_t level = XS_LEVEL_AUTO) {
  xs_queue_config_t cfg;
  xs_queue_config_init(&cfg);
  cfg.level = level;
  xs_queue_t q = nullptr;
  EXPECT_EQ(xs_queue_create(XS_PLATFORM_HIP, s, &cfg, &q), XS_OK);
  if (q != nullptr) {
    EXPECT_EQ(xs_queue_set_priority(q, priority), XS_OK);
  }
  return q;
}

template <class Args>
xs_result_t launch(xs_queue_t q, hipFunction_t f, const Args& args) {
  xs_hip_kernel_t k{};
  k.function = f;
  k.grid[0] = k.grid[1] = k.grid[2] = 1;
  k.block[0] = k.block[1] = k.block[2] = 1;
  k.args = &args;
  k.args_bytes = sizeof args;
  xs_command_t c{};
  c.kind = XS_CMD_KERNEL;
  c.u.kernel.desc = &k;
  c.u.kernel.desc_size = sizeof k;
  return xs_queue_submit(q, &c, nullptr);
}

// Kernels and a fill run in submission order, with the arguments they had at
// submit though the queue held them; the queue knows its device.
TEST(CApiHip, CommandsRunInOrderWithTheArgumentsOfTheirSubmit) {
  hipStream_t s = make_stream();
  xs_queue_t q = make_queue(s, 0);
  ASSERT_NE(q, nullptr);
  uint8_t uuid[16] = {};
  int32_t ordinal = -1;
  ASSERT_EQ(xs_queue_device(q, uuid, &ordinal), XS_OK);
  EXPECT_EQ(ordinal, 0);
  EXPECT_EQ(std::memcmp(uuid, "fakehip-dev-0000", 16), 0);

  std::vector<int> log(8, -1);
  int cursor = 0;
  void* dev = nullptr;
  ASSERT_EQ(hipMalloc(&dev, 32), hipSuccess);
  ASSERT_EQ(xs_queue_suspend(q, 0), XS_OK);  // everything below waits, so it is persisted
  fake_hip_detail::AppendArgs args{log.data(), &cursor, 0};
  for (int v = 1; v <= 4; ++v) {
    args.value = v;
    ASSERT_EQ(launch(q, fake_hip_kernel_append(), args), XS_OK);
    args.value = -100;  // changed after submit: the queue has its own copy
  }
  xs_command_t fill{};
  fill.kind = XS_CMD_MEMSET;
  fill.u.memset = {dev, 0x3c, 32};
  ASSERT_EQ(xs_queue_submit(q, &fill, nullptr), XS_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(cursor, 0);  // held: nothing ran
  ASSERT_EQ(xs_queue_resume(q), XS_OK);
  ASSERT_EQ(xs_queue_wait_all(q, 10'000'000'000), XS_OK);
  EXPECT_EQ(cursor, 4);
  EXPECT_EQ(std::vector<int>(log.begin(), log.begin() + 4), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(std::vector<uint8_t>(static_cast<uint8_t*>(dev), static_cast<uint8_t*>(dev) + 32),
            std::vector<uint8_t>(32, 0x3c));
  EXPECT_EQ(info_of(q).completed, 5u);
  EXPECT_EQ(xs_queue_destroy(q), XS_OK);
  EXPECT_EQ(hipFree(dev), hipSuccess);
  EXPECT_EQ(hipStreamDestroy(s), hipSuccess);
}

// An urgent queue of the program's own holds a less urgent one on the same
// device while it has work, at Level 1 and at Level 2, with a gate in the
// stream (c_api_backlog.h).
class CApiHipLevels : public ::testing::TestWithParam<xs_level_t> {};

TEST_P(CApiHipLevels, AnUrgentStreamHoldsABackloggedOne) {
  ASSERT_EQ(xs_set_policy(XS_POLICY_PRIORITY), XS_OK);
  hipStream_t s_lo = make_stream();
  hipStream_t s_hi = make_stream();
  xs_queue_t lo = make_queue(s_lo, 0, GetParam());
  xs_queue_t hi = make_queue(s_hi, 10, GetParam());
  ASSERT_NE(lo, nullptr);
  ASSERT_NE(hi, nullptr);
  EXPECT_EQ(info_of(lo).level, static_cast<uint32_t>(GetParam()));
  uint64_t ran_before = 0;
  xsched::testing::BacklogPlatform hip;
  hip.sleep = [](xs_queue_t q, unsigned us) { return launch(q, fake_hip_kernel_sleep(), us); };
  hip.urgent_runs_first = true;
  hip.before_urgent = [&] { ran_before = fake_hip_launches(); };
  hip.meanwhile = [&](const xs_queue_info_t& held) {
    // While the urgent kernel ran, the low stream ran at most what had started
    // before the hold: at Level 1 its launched window, at Level 2 the kernel in
    // flight at its gate (the rest waits on the device side).
    const uint64_t ran_meanwhile = fake_hip_launches() - ran_before - 1;
    if (GetParam() == XS_LEVEL_DEACTIVATE) {
      EXPECT_LE(ran_meanwhile, 2u) << "the gate did not hold the launched kernels";
    } else {
      EXPECT_LE(ran_meanwhile, held.in_flight + 1);
    }
  };
  xsched::testing::run_backlog(lo, hi, hip);
}

INSTANTIATE_TEST_SUITE_P(Levels, CApiHipLevels, ::testing::Values(XS_LEVEL_BLOCK, XS_LEVEL_DEACTIVATE),
                         [](const auto& p) { return p.param == XS_LEVEL_BLOCK ? "Level1" : "Level2"; });

TEST(CApiHip, WhatTheQueuesDoNotTakeIsRefused) {
  hipStream_t s = make_stream();
  xs_queue_t q = make_queue(s, 0);
  ASSERT_NE(q, nullptr);
  xs_command_t ev{};
  ev.kind = XS_CMD_EVENT_RECORD;
  EXPECT_EQ(xs_queue_submit(q, &ev, nullptr), XS_ERR_UNSUPPORTED);
  xs_cuda_kernel_t wrong{};  // another platform's descriptor
  xs_command_t k{};
  k.kind = XS_CMD_KERNEL;
  k.u.kernel.desc = &wrong;
  k.u.kernel.desc_size = sizeof wrong;
  EXPECT_EQ(xs_queue_submit(q, &k, nullptr), XS_ERR_INVALID_ARG);
  xs_hip_kernel_t too_big{};
  too_big.function = fake_hip_kernel_sleep();
  too_big.args = &too_big;
  too_big.args_bytes = 4097;
  k.u.kernel.desc = &too_big;
  k.u.kernel.desc_size = sizeof too_big;
  EXPECT_EQ(xs_queue_submit(q, &k, nullptr), XS_ERR_INVALID_ARG);
  // A copy from pageable memory cannot wait in a held queue.
  std::vector<uint8_t> pageable(16, 1);
  void* dev = nullptr;
  ASSERT_EQ(hipMalloc(&dev, 16), hipSuccess);
  xs_command_t copy{};
  copy.kind = XS_CMD_COPY;
  copy.u.copy = {dev, pageable.data(), 16};
  ASSERT_EQ(xs_queue_suspend(q, 0), XS_OK);
  EXPECT_EQ(xs_queue_submit(q, &copy, nullptr), XS_ERR_UNSUPPORTED);
  ASSERT_EQ(xs_queue_resume(q), XS_OK);
  EXPECT_EQ(xs_queue_submit(q, &copy, nullptr), XS_OK);
  EXPECT_EQ(xs_queue_wait_all(q, 10'000'000'000), XS_OK);
  EXPECT_EQ(static_cast<uint8_t*>(dev)[15], 1);
  EXPECT_EQ(xs_queue_destroy(q), XS_OK);
  EXPECT_EQ(hipFree(dev), hipSuccess);
}

// Its own ctest entry, with XSCHED_REAL_LIBHIP naming no file.
TEST(CApiHipNoRuntime, WithoutARuntimeAQueueIsRefused) {
  xs_queue_t q = nullptr;
  EXPECT_EQ(xs_queue_create(XS_PLATFORM_HIP, nullptr, nullptr, &q), XS_ERR_STATE);
  EXPECT_EQ(q, nullptr);
}

}  // namespace

// The backlog scenario of the C API's GPU platform tests (c_api_cuda_test,
// c_api_hip_test): while an urgent queue of the program's own has work, a
// less urgent one on the same device is held, and only what it had launched
// already runs meanwhile (the fakes' streams run side by side, so without
// the hold its backlog would keep running). A platform says how a kernel of
// so many microseconds is submitted, and checks in its own way what the held
// queue ran while the urgent kernel ran.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>

#include "c_api_queue_info.h"
#include "xsched/xsched.h"

namespace xsched::testing {

constexpr int kBacklog = 100;  // kernels of 2 ms on the less urgent queue: 200 ms of work

struct BacklogPlatform {
  // Submits to q a kernel that keeps its stream busy for us microseconds.
  std::function<xs_result_t(xs_queue_t q, unsigned us)> sleep;
  // The urgent queue runs a short kernel before the backlog is submitted:
  // where it is only from then on that the low queue's commands go behind
  // gates (a gate costs, so none goes where nothing could preempt).
  bool urgent_runs_first = false;
  // Just before the urgent kernel is submitted.
  std::function<void()> before_urgent = [] {};
  // Once the urgent kernel completed: what the low queue ran meanwhile.
  // held: the low queue's info right after the urgent submit returned.
  std::function<void(const xs_queue_info_t& held)> meanwhile;
};

// lo and hi: queues of one device, hi the more urgent. Both are destroyed.
inline void run_backlog(xs_queue_t lo, xs_queue_t hi, const BacklogPlatform& p) {
  if (p.urgent_runs_first) {
    ASSERT_EQ(p.sleep(hi, 100), XS_OK);
    ASSERT_EQ(xs_queue_wait_all(hi, 10'000'000'000), XS_OK);
  }
  for (int i = 0; i < kBacklog; ++i) ASSERT_EQ(p.sleep(lo, 2000), XS_OK);
  p.before_urgent();
  ASSERT_EQ(p.sleep(hi, 60'000), XS_OK);
  const xs_queue_info_t held = info_of(lo);
  EXPECT_EQ(held.suspended, 1u);  // held before the urgent submit returned
  ASSERT_EQ(xs_queue_wait_all(hi, 10'000'000'000), XS_OK);
  p.meanwhile(held);
  EXPECT_EQ(xs_queue_wait_all(lo, 30'000'000'000), XS_OK);
  EXPECT_EQ(info_of(lo).completed, static_cast<uint64_t>(kBacklog));
  EXPECT_EQ(xs_queue_destroy(hi), XS_OK);
  EXPECT_EQ(xs_queue_destroy(lo), XS_OK);
}

}  // namespace xsched::testing

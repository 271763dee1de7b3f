// Simulations that the policies' tests share: a policy deciding over queues
// whose work the test plays out in steps of simulated time.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "sched/policy.h"

namespace xsched::testing {

// What simulate_jobs_with_switches found: the device time each queue got,
// and how often the device went from one queue's kernels to another's.
struct JobsOutcome {
  std::map<uint64_t, int64_t> got;
  int switches = 0;
};

// Jobs like a training loop: each iteration is `iter` ns of device time,
// then the queue is idle for `gap` (the host synchronises and launches the
// next) and ready again. Plays them out under `policy` with a 2 ms
// timeslice until `horizon`. A switch from one queue's kernels to another's
// costs `switch_cost` ns of device time in which neither makes progress (the
// running kernel ends, the next queue's gate opens).
inline JobsOutcome simulate_jobs_with_switches(xs_policy_t policy, const std::vector<uint32_t>& shares, int64_t iter,
                                               int64_t gap, int64_t horizon, int64_t switch_cost) {
  constexpr int64_t kStep = 10'000;  // 10 us
  auto p = make_policy(policy, 2'000'000);
  std::vector<QueueView> qs;
  for (std::size_t i = 0; i < shares.size(); ++i) qs.push_back(QueueView{i + 1, true, {0, shares[i], 0, 0}, true});
  for (const QueueView& q : qs) p->added(q, 0);
  std::vector<int64_t> left(qs.size(), iter);  // device time left in the iteration
  std::vector<int64_t> idle_until(qs.size(), 0);
  JobsOutcome out;
  uint64_t on_device = 0;      // the queue whose kernels the device ran last
  int64_t switching_until = 0;  // the device is switching until then
  int64_t deadline = p->decide(qs, 0);
  for (int64_t now = kStep; now < horizon; now += kStep) {
    bool changed = false;
    bool device_used = false;  // one queue's kernels per step (the device is time-sliced)
    for (std::size_t i = 0; i < qs.size(); ++i) {
      if (qs[i].ready && qs[i].run && !device_used) {
        device_used = true;
        if (on_device != qs[i].id) {
          if (on_device != 0) {
            ++out.switches;
            switching_until = now + switch_cost;
          }
          on_device = qs[i].id;
        }
        if (now < switching_until) continue;
        out.got[qs[i].id] += kStep;
        if ((left[i] -= kStep) <= 0) {
          qs[i].ready = false;
          idle_until[i] = now + gap;
          changed = true;
        }
      } else if (!qs[i].ready && now >= idle_until[i]) {
        qs[i].ready = true;
        left[i] = iter;
        changed = true;
      }
    }
    if (changed || (deadline != 0 && now >= deadline)) deadline = p->decide(qs, now);
  }
  return out;
}

// simulate_jobs_with_switches with switches that cost nothing: the device
// time each queue (ids 1, 2, ..., one per share) got by `horizon`.
inline std::map<uint64_t, int64_t> simulate_jobs(xs_policy_t policy, const std::vector<uint32_t>& shares, int64_t iter,
                                                 int64_t gap, int64_t horizon) {
  return simulate_jobs_with_switches(policy, shares, iter, gap, horizon, 0).got;
}

}  // namespace xsched::testing

// Bandwidth partition: ready queues take turns of one timeslice each, and the
// turns go to whichever has used the least time for its share (stride
// scheduling on measured time). Over many turns each ready queue receives
// time in proportion to its share; a queue that was idle does not bank time.
#pragma once

#include <vector>

#include "sched/policy.h"

namespace xsched {

class BandwidthPolicy final : public Policy {
 public:
  explicit BandwidthPolicy(int64_t default_timeslice_ns) : default_timeslice_ns_(default_timeslice_ns) {}
  xs_policy_t kind() const override { return XS_POLICY_BANDWIDTH; }
  void added(const QueueView& q, int64_t now_ns) override;
  void removed(uint64_t id) override;
  int64_t decide(std::span<QueueView> queues, int64_t now_ns) override;

 private:
  struct State {
    uint64_t id;
    double vtime;  // ns of device turn divided by share
    bool was_ready;
  };
  State* find(uint64_t id);

  const int64_t default_timeslice_ns_;
  std::vector<State> states_;
  uint64_t current_ = 0;  // the queue whose turn it is; 0 = none
  int64_t turn_end_ns_ = 0;
  int64_t last_ns_ = 0;
};

}  // namespace xsched

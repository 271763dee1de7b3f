// What hints an API accepts (the same ranges as XSCHED_SHARE and
// XSCHED_TIMESLICE_US): one definition for the C API and the CUDA
// interposer's control API.
#pragma once

#include <cstdint>

#include "xsched/xsched.h"

namespace xsched {

constexpr uint32_t kMaxShare = 1'000'000;
constexpr int64_t kMaxTimesliceNs = 10'000'000'000;

constexpr bool valid_share(uint32_t share) { return share >= 1 && share <= kMaxShare; }

constexpr bool valid_hints(const xs_hints_t& h) {
  return valid_share(h.share) && h.timeslice_ns >= 0 && h.timeslice_ns <= kMaxTimesliceNs && h.deadline_ns >= 0;
}

// The fields of xs_set_process_hints (XS_HINT_*) that exist. They are the
// bits of the scheduler's HintsOverride::fields, passed on as they are.
constexpr uint32_t kProcessHintFields = XS_HINT_PRIORITY | XS_HINT_SHARE | XS_HINT_DEADLINE;
static_assert(XS_HINT_PRIORITY == 1u && XS_HINT_SHARE == 2u && XS_HINT_DEADLINE == 4u,
              "XS_HINT_* must match HintsOverride::fields (sched/local_scheduler.h)");

}  // namespace xsched

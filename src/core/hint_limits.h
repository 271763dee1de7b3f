// The ranges of scheduling hints: one definition for every way in (the C
// API, the CUDA interposer's control API, XSCHED_* variables, `xsched set`,
// xschedd's options, requests and boards).
//
// A value from the program or the user that is out of range is refused
// (XS_ERR_INVALID_ARG, an error message, or a warning and the default for an
// environment variable). A value read from another process (a board, a
// message from xschedd) is clamped into range instead: that process cannot be
// refused, and a clamped value keeps its meaning as far as it can.
//
// The lower ends of timeslices and deadlines keep time-based policies from
// asking for a decision every few nanoseconds: 100 µs is the shortest
// XSCHED_TIMESLICE_US has always taken, and a deadline shorter than that
// cannot be met by deciding anyway.
#pragma once

#include <algorithm>
#include <cstdint>

#include "xsched/xsched.h"

namespace xsched {

constexpr int32_t kMinPriority = -1'000'000;
constexpr int32_t kMaxPriority = 1'000'000;
constexpr uint32_t kMaxShare = 1'000'000;  // shares are 1..kMaxShare
// 0 means "the scheduler's default" for a timeslice and "none" for a deadline.
constexpr int64_t kMinTimesliceNs = 100'000;
constexpr int64_t kMaxTimesliceNs = 10'000'000'000;      // 10 s
constexpr int64_t kMinDeadlineNs = 100'000;
constexpr int64_t kMaxDeadlineNs = 3'600'000'000'000;    // 1 hour

constexpr bool valid_priority(int64_t priority) { return priority >= kMinPriority && priority <= kMaxPriority; }
constexpr bool valid_share(uint32_t share) { return share >= 1 && share <= kMaxShare; }
constexpr bool valid_timeslice(int64_t ns) { return ns == 0 || (ns >= kMinTimesliceNs && ns <= kMaxTimesliceNs); }
constexpr bool valid_deadline(int64_t ns) { return ns == 0 || (ns >= kMinDeadlineNs && ns <= kMaxDeadlineNs); }

constexpr bool valid_hints(const xs_hints_t& h) {
  return valid_priority(h.priority) && valid_share(h.share) && valid_timeslice(h.timeslice_ns) &&
         valid_deadline(h.deadline_ns);
}

constexpr int32_t clamp_priority(int64_t priority) {
  return static_cast<int32_t>(std::clamp<int64_t>(priority, kMinPriority, kMaxPriority));
}
constexpr uint32_t clamp_share(uint32_t share) { return std::clamp<uint32_t>(share, 1, kMaxShare); }
// Zero or less: 0 (default / none).
constexpr int64_t clamp_timeslice(int64_t ns) { return ns <= 0 ? 0 : std::clamp(ns, kMinTimesliceNs, kMaxTimesliceNs); }
constexpr int64_t clamp_deadline(int64_t ns) { return ns <= 0 ? 0 : std::clamp(ns, kMinDeadlineNs, kMaxDeadlineNs); }

constexpr xs_hints_t clamp_hints(const xs_hints_t& h) {
  return xs_hints_t{clamp_priority(h.priority), clamp_share(h.share), clamp_timeslice(h.timeslice_ns),
                    clamp_deadline(h.deadline_ns)};
}

// The fields of xs_set_process_hints (XS_HINT_*) that exist. They are the
// bits of the scheduler's HintsOverride::fields, passed on as they are.
constexpr uint32_t kProcessHintFields = XS_HINT_PRIORITY | XS_HINT_SHARE | XS_HINT_DEADLINE;
static_assert(XS_HINT_PRIORITY == 1u && XS_HINT_SHARE == 2u && XS_HINT_DEADLINE == 4u,
              "XS_HINT_* must match HintsOverride::fields (sched/local_scheduler.h)");

// Whether the hints that `fields` (XS_HINT_*) names are in range.
constexpr bool valid_process_hints(uint32_t fields, const xs_hints_t& h) {
  return ((fields & XS_HINT_PRIORITY) == 0 || valid_priority(h.priority)) &&
         ((fields & XS_HINT_SHARE) == 0 || valid_share(h.share)) &&
         ((fields & XS_HINT_DEADLINE) == 0 || valid_deadline(h.deadline_ns));
}

}  // namespace xsched

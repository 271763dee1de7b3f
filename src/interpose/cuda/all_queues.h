// What the interposer does to every queue of the process or of a context at
// once: before calls that release memory, change a kernel, load code or wait
// for a whole context.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "interpose/cuda/streams.h"

namespace xsched::interpose {

// Launches every persisted command of every queue: before calls that free
// memory or otherwise wait for all work.
void flush_all();
// Launches, in every queue, everything up to the last persisted launch of
// kernel f (a CUfunction or CUkernel): before f's attributes change, since a
// launch reads them when it reaches the driver.
void flush_launches_of(CUfunction f);
// Level 2: every queue runs what it has launched, held or not, and is held
// again once that completed. After a call that loads code: the driver's
// loading may leave a barrier on the GPU behind all work launched so far.
void expedite_launched_everywhere();
// Waits until every queue of ctx with persisted commands has completed them
// (what is launched already, the caller's driver wait covers).
CUresult wait_context(CUcontext ctx);

// What each queue of ctx had launched, read before a context-wide driver
// synchronisation; once it returned, caught_up() tells the queues.
struct LaunchMark {
  std::shared_ptr<StreamQueue> queue;
  uint64_t launched = 0;
};
std::vector<LaunchMark> mark_launched(CUcontext ctx);
void caught_up(const std::vector<LaunchMark>& marks);

}  // namespace xsched::interpose

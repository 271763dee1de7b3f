// What the wrappers of calls that are not queued share: forward() (driver.h)
// and a scope with every gate open.
#pragma once

#include "gates/gate_words.h"
#include "interpose/cuda/all_queues.h"
#include "interpose/cuda/driver.h"

namespace xsched::interpose {

inline void* as_ptr(CUdeviceptr p) { return reinterpret_cast<void*>(p); }

// Runs fn (a call that loads code or releases memory) with every gate open:
// the driver waits for every stream of the context then, and a gate kept
// closed while the caller's own work runs would stall it for good. Loading
// may also leave a barrier on the GPU behind the work launched so far, so
// every queue runs that work before it is held again (also a queue held
// only later: the caller's next launch may be why).
template <class Fn>
CUresult with_gates_open(Fn&& fn) {
  CUresult r;
  {
    gates::ForcedOpen open;
    r = fn();
  }
  expedite_launched_everywhere();
  return r;
}

}  // namespace xsched::interpose

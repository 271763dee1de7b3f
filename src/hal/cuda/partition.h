// Spatial reservation ("Level 2.5"): a gate cannot stop a kernel that is
// running, and a kernel sized for the whole device occupies every SM, so an
// urgent kernel waits for it. A green context (CUDA 12.4+) confines the
// kernels of its streams to a subset of the SMs: a less urgent queue that
// launches its kernels there leaves a reserve of SMs free, on which an
// urgent kernel of the same process starts at once (probes/README.md:
// p99 32 µs instead of 983 µs behind 1 ms kernels).
//
// One partition per device and reserve size, made on first use and kept for
// the life of the process (a green context costs device memory and a few
// milliseconds to make; the driver frees it at exit).
#pragma once

#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

struct Partition {
  CUgreenCtx green = nullptr;
  CUcontext ctx = nullptr;  // the green context as a CUcontext (cuCtxFromGreenCtx)
  unsigned sms = 0;         // SMs its kernels may use
  unsigned device_sms = 0;  // SMs of the whole device
};

// The partition of ctx's device that leaves at least reserve_sms SMs free,
// made on first use; nullptr where the driver cannot make one (no green
// contexts, or the reserve leaves no SM to run on), said once per device.
// Thread-safe.
const Partition* partition_for(const Driver& d, CUcontext ctx, unsigned reserve_sms);

}  // namespace xsched::cuda

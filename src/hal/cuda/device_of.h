// Which device a CUDA context is on: its ordinal, its UUID (the scheduling
// domain: a MIG instance's own, the same in every process) and its name,
// as a queue's options carry them. Asked in ctx, not the calling thread's context.
#pragma once

#include "core/xqueue.h"
#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

// Fills o.device, o.device_id and o.device_name where the driver tells them.
void describe_device(const Driver& d, CUcontext ctx, XQueueOptions& o);

}  // namespace xsched::cuda

// The HIP hardware queue: one hipStream_t of one device, Level 1, and Level
// 2 with a gate when the device allows it, in the manner of the CUDA queue
// (hal/cuda/cuda_queue.h).
//
// launch() issues the command's call on the stream (and, for a sync point,
// records an event behind it); sync() waits for that event. At Level 2 a
// gate goes before each preemptible command: hipStreamWaitValue32(word >=
// kOpenFrom) on a word of a page of gate words (gates/gate_words.h) that the
// runtime maps for the device (hipHostRegister with hipHostRegisterMapped);
// deactivate() closes it with one host store, and xschedd may close it too.
// A command not launched at submit is persisted first: a kernel's packed
// arguments are copied into a block the queue owns and reuses, and a copy
// that names host memory the runtime does not report as device or
// registered host memory cannot wait (XS_ERR_UNSUPPORTED).
//
// A queue over a null stream (stream 0, the current device's) makes its
// device current around the calls that name the stream: they may run in any
// thread (the queue's worker, a thread that flushes or resumes it).
//
// Differences from CUDA (ROCm's documentation): hipStreamWaitValue32 is
// supported where hipDeviceAttributeCanUseStreamWaitValue says so, else the
// queue stays at Level 1; each gated command gets a gate of its own (the
// CUDA queue's grouping of short commands by measured durations is not done
// here yet).
#pragma once

#include <cstdint>

#include "core/hw_queue.h"
#include "hal/hip/hip_runtime.h"

namespace xsched::hip {

struct QueueSpec {
  const Runtime* runtime = nullptr;
  int device = 0;               // the stream's device
  hipStream_t stream = nullptr;  // may be 0: the null stream
  bool gate = false;            // Level 2 if the device can: gate the stream
};

// A hardware queue over spec.stream; XS_ERR_NO_MEMORY if host memory ran out.
xs_result_t make_hw_queue(const QueueSpec& spec, HwQueue* out);

// The first failure of a persisted call's launch or of a sync on hw (a queue
// made by make_hw_queue), hipSuccess if none.
hipError_t sticky_error(const HwQueue& hw);

}  // namespace xsched::hip

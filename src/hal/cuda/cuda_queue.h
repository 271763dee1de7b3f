// The CUDA hardware queue: one CUstream of one context, Level 1, and Level 2
// with a gate (gates.h) when the device allows it.
//
// launch() issues the command's driver call on the stream (and, for a sync
// point, records an event behind it); sync() waits for that event. At Level
// 2 a gate goes before each command, or before each group of commands short
// enough that the group takes about kGateGroupNs of device time (durations
// are measured between sync points); deactivate() closes it. A command the
// XQueue does not launch at submit is persisted first (op_table.h): what it
// borrows from the caller is copied into blocks the queue owns and reuses,
// so its later launch sees exactly what the caller passed, and steady state
// allocates nothing.
#pragma once

#include <cstdint>

#include "core/hw_queue.h"
#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

struct QueueSpec {
  const Driver* driver = nullptr;
  CUcontext ctx = nullptr;    // the stream's context: made current for persisted calls' launches
  CUstream stream = nullptr;  // may be CU_STREAM_LEGACY
  bool owns_stream = false;   // destroy the stream on release
  bool gate = false;          // Level 2 if the device can: gate the stream
  // SMs to leave free for more urgent queues while this one is confined
  // (confinement.h); 0: its kernels always use the whole device.
  unsigned reserve_sms = 0;
};

// Device time a group of commands behind one gate may take: a preemption
// waits at most for the rest of the running group, and a gate costs ~1 µs of
// the GPU front end, so short commands share one.
constexpr int64_t kGateGroupNs = 50'000;

// A hardware queue over spec.stream; XS_ERR_NO_MEMORY if host memory ran out.
xs_result_t make_hw_queue(const QueueSpec& spec, HwQueue* out);

// The first failure of a persisted call's launch or of a sync on hw (a queue
// made by make_hw_queue), CUDA_SUCCESS if none: the CUDA error behind the
// XQueue's sticky error, what the application sees at its next
// synchronisation, as it would the driver's own asynchronous errors. (A
// failure at submit reaches the submitter through make_command's slot.)
CUresult sticky_error(const HwQueue& hw);

// Kernels of hw (a queue made by make_hw_queue) that ran confined so far.
uint64_t confined_launches(const HwQueue& hw);

}  // namespace xsched::cuda

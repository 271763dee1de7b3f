// Level 2 for HIP: stream-ordered gates, as for CUDA (hal/cuda/gates.h).
// A gated queue owns one gate word of its device's page (gates/gate_words.h),
// which the runtime maps for the device; the stream waits on it with
// hipStreamWaitValue32(word >= kOpenFrom) before each gated command.
#pragma once

#include "gates/gate_words.h"
#include "hal/hip/hip_runtime.h"

namespace xsched::hip {

struct Gate {
  gates::Word word;
  void* device = nullptr;  // what hipStreamWaitValue32 waits on
  bool valid() const { return word.valid(); }
};

// A gate in the device's page (made on first use), open. False when the
// device or runtime cannot gate (no stream wait on memory, no host mapping),
// or the page is full: the queue stays at Level 1.
bool acquire_gate(const Runtime& rt, int device, Gate* out);
void release_gate(Gate& g);

}  // namespace xsched::hip

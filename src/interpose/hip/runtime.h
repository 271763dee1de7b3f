// The HIP runtime behind the HIP interposer (hal/hip/runtime_library.h says
// where it is looked for) and its table of the entry points the interposer
// forwards to: the interposer never calls its own wrappers.
#pragma once

#include "hal/hip/hip_runtime.h"

namespace xsched::interpose::hip {

// The dlopen handle's symbol `name`, or null (no runtime, or it lacks the name).
void* real_symbol(const char* name);
// Whether the search for the runtime has finished.
bool runtime_searched();
// The table of what the queues use; null without a runtime.
const xsched::hip::Runtime* runtime();

// The real function `name`, typed as the wrapper that forwards to it.
template <class Fn>
Fn real(const char* name) {
  return reinterpret_cast<Fn>(real_symbol(name));
}

}  // namespace xsched::interpose::hip

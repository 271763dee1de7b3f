// What a process is told about the preemption level its CUDA queues use.
#pragma once

#include <cstdint>

#include "core/device_id.h"
#include "xsched/xsched.h"

namespace xsched::interpose {

// Once per process: XSCHED_LEVEL asked for more than the device's queues can do.
void warn_level_lowered(xs_level_t asked, xs_level_t got);

// Once per level per process, when XSCHED_ANNOUNCE is set (xsched run sets it):
// which level the program's queues use.
void announce_level(xs_level_t level, uint32_t window);

// Once per device per process, with XSCHED_ANNOUNCE: a device the program's
// queues use, by ordinal and identity (its scheduling domain).
void announce_device(int32_t ordinal, const DeviceId& id, const char* name);

}  // namespace xsched::interpose

// What the HIP interposer exports: the runtime's entry points it schedules
// or watches (in place of libamdhip64.so's, by LD_PRELOAD), and the marker
// that tells the C API a HIP interposer is in the process. Everything else
// is hidden, and every other HIP call goes to the runtime untouched.
#pragma once

#include "hal/hip/hip_api.h"

#define XS_HIP_EXPORT extern "C" __attribute__((visibility("default")))

XS_HIP_EXPORT const int xsched_hip_interposer_abi;

// The HIP runtime's API as xsched sees it: ROCm's hip_runtime_api.h for the
// AMD platform. Every HIP source of xsched includes this, never the header
// directly, so that the platform macro is set in one place.
#pragma once

#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__ 1
#endif
#include <hip/hip_runtime_api.h>

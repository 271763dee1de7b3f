// The CUDA driver API as the driver exports it: every name is the exported
// symbol (cuMemcpyHtoD_v2, cuLaunchKernel_ptsz), not the header's macro
// alias, so the interposer can define and forward each one exactly. Include
// this instead of <cuda.h> everywhere in xsched. (The profiler's three
// entry points are the driver's too, declared in their own header.)
#pragma once

#ifndef __CUDA_API_VERSION_INTERNAL
#define __CUDA_API_VERSION_INTERNAL 1
#endif
#include <cuda.h>
#include <cudaProfiler.h>

// Persisting a kernel launch: its arguments are copied out of the caller's
// kernelParams (one pointer per parameter, sized as the driver reports,
// param_layout.h) or its `extra` buffer into one block of the queue's, and a
// cuLaunchKernelEx's configuration and attributes with them. The block is
// the launch's until it launched (release_*).
#pragma once

#include "hal/cuda/call.h"
#include "hal/cuda/persist_space.h"

namespace xsched::cuda {

// XS_ERR_UNSUPPORTED when the arguments cannot be copied (the driver cannot
// describe the kernel, or `extra` holds an option this version does not
// know); XS_ERR_NO_MEMORY when host memory ran out.
xs_result_t persist_launch_args(PersistSpace& space, Launch& l);
xs_result_t persist_launch_ex_args(PersistSpace& space, LaunchEx& l);

void release_launch_args(PersistSpace& space, const Launch& l);
void release_launch_ex_args(PersistSpace& space, const LaunchEx& l);

}  // namespace xsched::cuda

// The platforms of the C API, in the manner of ggml's backend registry: one
// row per platform this build has, each a small table of what differs from
// one platform to the next. xs_queue_create opens a queue through its
// platform's row and xs_queue_submit lets the row translate each command;
// nothing else in the C API names a platform. The names and values of the
// platforms are core/platform_list.h.
#pragma once

#include <memory>

#include "api/api_internal.h"
#include "core/command.h"
#include "core/hw_queue.h"
#include "core/xqueue.h"
#include "xsched/xsched.h"

namespace xsched::api {

struct ApiPlatform {
  xs_platform_t id;

  // Makes the hardware queue over a native queue of the platform (an
  // xs_host_stream_t, a CUstream) and fills in opts the device's identity,
  // ordinal and name. opts->level may be lowered to what the queue supports.
  // XS_ERR_INVALID_HANDLE: not a queue of the platform; XS_ERR_STATE: the
  // platform cannot take it now (a message says why).
  xs_result_t (*open_queue)(void* native, HwQueue* hw, XQueueOptions* opts);

  // Turns a command (its generic fields checked already: kind, est_ns,
  // pointers of copies and fills) into the core's form for this platform's
  // queues: kernel descriptors, native events. *event receives the host event
  // the command names, if any (the C API keeps it alive and lends urgency
  // through it). XS_ERR_UNSUPPORTED: the platform has no such command.
  xs_result_t (*translate)(const xs_command_t& in, Command* out, std::shared_ptr<ApiEvent>* event);
};

// The row of platform p, or null when this build lacks it (the value is
// checked by known_platform first).
const ApiPlatform* api_platform(xs_platform_t p);

// The rows (host_api.cpp, cuda_platform.cpp, hip_platform.cpp).
extern const ApiPlatform kHostPlatform;
#if XSCHED_WITH_CUDA
extern const ApiPlatform kCudaPlatform;
#endif
#if XSCHED_WITH_HIP
extern const ApiPlatform kHipPlatform;
#endif

}  // namespace xsched::api

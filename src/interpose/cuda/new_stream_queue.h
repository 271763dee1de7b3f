// How a stream gets its queue: an XQueue over a CUDA hardware queue,
// configured from the process's XSCHED_* settings and the stream's own CUDA
// priority, registered with the process's scheduler and its context.
#pragma once

#include <memory>

#include "interpose/cuda/streams.h"

namespace xsched::interpose {

// The queue for stream (of kind kind, in ctx); nullptr when it cannot be
// made (the call then goes straight through). owns_stream: the queue
// destroys the stream when it goes (our stand-in for a per-thread stream).
std::shared_ptr<StreamQueue> new_stream_queue(CUcontext ctx, CUstream stream, StreamKind kind, bool blocking,
                                              int cuda_priority, bool owns_stream);

}  // namespace xsched::interpose

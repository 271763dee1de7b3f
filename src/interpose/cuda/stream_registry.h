// Where the interposer finds the queue of a stream: explicit streams in a
// sharded map behind a one-entry cache per thread, each context's legacy
// default stream in its ContextState, each thread's per-thread default
// streams in a list of the thread's. A queue is made at the stream's first
// use (new_stream_queue.h) and forgotten when its stream or context goes.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "interpose/cuda/streams.h"

namespace xsched::interpose {

// The queue of stream s, named by an entry point whose handle 0 means the
// stream zero_is (kLegacy or kPerThread), creating it on first use; nullptr
// when the call should go straight through (no driver, no current context
// for a default stream, a handle the driver does not know, or the queue
// could not be made). Never blocks on the scheduler.
std::shared_ptr<StreamQueue> stream_queue(CUstream s, StreamKind zero_is);
// The same, lent by the calling thread, whose stream cache holds the queue
// alive until the thread's next lookup or stream or context destroy: for
// the launch path, which uses it only until then and so spares the
// reference count's atomic increment and decrement.
StreamQueue* borrowed_stream_queue(CUstream s, StreamKind zero_is);
// The queue of s if it exists already (no creation).
std::shared_ptr<StreamQueue> find_stream_queue(CUstream s, StreamKind zero_is);

// The handle to pass to the driver for stream s of such an entry point when
// no queue takes the call: 0 spelled out as the stream it means.
inline CUstream spelled_out(CUstream s, StreamKind zero_is) {
  if (s != nullptr) return s;
  return zero_is == StreamKind::kPerThread ? CU_STREAM_PER_THREAD : CU_STREAM_LEGACY;
}

// The queue of ctx's legacy default stream, or (per_thread) of the calling
// thread's per-thread default stream in ctx, creating it on first use;
// nullptr if it cannot be made. For callers that name the context instead
// of relying on the thread's current one (the control API).
std::shared_ptr<StreamQueue> default_stream_queue(CUcontext ctx, bool per_thread);

// Every queue of ctx (of every context when ctx is null) that is still
// alive, retired ones included, in no particular order.
std::vector<std::shared_ptr<StreamQueue>> live_queues(CUcontext ctx);
// Every queue of the process whose stream is not destroyed.
std::vector<std::shared_ptr<StreamQueue>> all_stream_queues();
// The queue whose XQueue has this id; nullptr if there is none (any more:
// its stream or context was destroyed).
std::shared_ptr<StreamQueue> stream_queue_by_id(uint64_t id);

// The state of context ctx, made on first use and never freed (threads may
// hold it).
ContextState& context_state(CUcontext ctx);

// Forgets stream s (being destroyed): its queue launches what it has
// persisted and goes once complete. Returns the queue's sticky error, if any.
CUresult retire_stream(CUstream s);
// Forgets every queue of ctx (the context is being destroyed or reset).
void retire_context(CUcontext ctx);

}  // namespace xsched::interpose

// The application's CUDA streams as the interposer keeps them: one
// StreamQueue (an XQueue over a CUDA hardware queue) per stream it has used,
// per context's legacy default stream, and per thread's per-thread default
// stream, and per context the state that implicit ordering and
// context-wide operations need. Where they are found: stream_registry.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/xqueue.h"
#include "hal/cuda/cuda_api.h"

namespace xsched::interpose {

// Which stream a queue runs: one the program made, a context's legacy
// default stream, or a thread's per-thread default stream. An entry point
// also names one of the last two: the stream its handle 0 means (the
// legacy one, or the per-thread one for the _ptsz and _ptds entry points).
enum class StreamKind : uint8_t { kExplicit, kLegacy, kPerThread };

struct ContextState;

struct StreamQueue : std::enable_shared_from_this<StreamQueue> {
  std::shared_ptr<XQueue> xq;
  HwQueue hw;              // the XQueue's hardware queue (for its sticky CUDA error)
  CUcontext ctx = nullptr;
  CUstream stream = nullptr;  // what the driver is called with: the handle, CU_STREAM_LEGACY or our own stream
  StreamKind kind = StreamKind::kExplicit;
  bool blocking = true;      // synchronises with the legacy default stream
  int cuda_priority = 0;
  ContextState* context = nullptr;
  // Set once its stream (or context) is destroyed. Other threads' stream
  // caches may still hold the queue alive for a while: the control API must
  // not find it by id or list it any more (its stream handle may be reused).
  std::atomic<bool> retired{false};
  ~StreamQueue();

  // While the stream is captured into a graph (it began a capture, or waited
  // on an event recorded in a captured stream), its calls go straight
  // through: capture records them instead of running them.
  bool capturing() const { return capturing_.load(std::memory_order_acquire); }
  // The stream that began the capture this one takes part in (null: none).
  std::shared_ptr<StreamQueue> capture_root() const;
  void join_capture(const std::shared_ptr<StreamQueue>& root);
  void leave_capture();

 private:
  std::atomic<bool> capturing_{false};
  mutable std::mutex capture_mu_;
  std::weak_ptr<StreamQueue> capture_root_;  // under capture_mu_
};

struct ContextState {
  CUcontext ctx = nullptr;
  std::mutex mu;
  std::vector<std::weak_ptr<StreamQueue>> queues;  // every queue of the context
  std::shared_ptr<StreamQueue> legacy;
  std::atomic<StreamQueue*> legacy_raw{nullptr};  // legacy, read without the lock on the hot path
  // Some blocking stream may have persisted commands: the next legacy-stream
  // operation must launch them first. Cleared by the scan that finds none.
  std::atomic<bool> blocking_persisted{false};
  // Queues of blocking streams other than the legacy one (under mu):
  // legacy-stream work is implicitly ordered after theirs.
  std::vector<StreamQueue*> blocking;
  // Some gated queue of `blocking` may have launched work since a
  // legacy-stream operation last lent them its urgency: set by their launches
  // (XQueueOptions::launch_flag), cleared by that look. Until then a
  // legacy-stream operation takes no lock for them.
  std::atomic<bool> blocking_launched{false};
};

// Ends the capture that root began: root and every stream that joined it
// are scheduled again.
void end_capture(const StreamQueue& root);

}  // namespace xsched::interpose

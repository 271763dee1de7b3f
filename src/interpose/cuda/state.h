// What the interposer knows about the application's CUDA streams: one
// StreamQueue (an XQueue over a CUDA hardware queue) per stream it has used,
// per context's legacy default stream, and per thread's per-thread default
// stream; the contexts they belong to (for implicit synchronisation and
// context-wide operations); and the events whose records are still held
// back on the host.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/xqueue.h"
#include "hal/cuda/cuda_driver.h"

namespace xsched::interpose {

// How a stream handle of 0 is read: the legacy default stream, or the
// calling thread's per-thread default stream (the _ptsz / _ptds entry points).
enum class Flavor : uint8_t { kLegacy, kPerThread };

enum class StreamKind : uint8_t { kExplicit, kLegacy, kPerThread };

struct ContextState;

struct StreamQueue : std::enable_shared_from_this<StreamQueue> {
  std::shared_ptr<XQueue> xq;
  HwQueue hw;              // the XQueue's hardware queue (for its deferred CUDA error)
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
  // Some blocking stream may hold commands back: the next legacy-stream
  // operation must launch them first. Cleared by the scan that finds none.
  std::atomic<bool> blocking_held{false};
  // Queues of blocking streams other than the legacy one (under mu):
  // legacy-stream work is implicitly ordered after theirs.
  std::vector<StreamQueue*> blocking;
  std::atomic<int> blocking_queues{0};  // blocking.size(), read without the lock
};

// The real driver, loaded on first use; nullptr if it cannot be (the
// interposer then passes calls through and reports why once).
const cuda::Driver* driver();

// The queue of stream s as named with flavour f, creating it on first use;
// nullptr when the call should go straight through (no current context for a
// default stream, a handle the driver does not know, or the queue could not
// be made). Never blocks on the scheduler.
std::shared_ptr<StreamQueue> stream_queue(CUstream s, Flavor f);
// The queue of s if it exists already (no creation).
std::shared_ptr<StreamQueue> find_stream_queue(CUstream s, Flavor f);

// The queue of ctx's legacy default stream, or (per_thread) of the calling
// thread's per-thread default stream in ctx, creating it on first use;
// nullptr if it cannot be made. For callers that name the context instead
// of relying on the thread's current one (the control API).
std::shared_ptr<StreamQueue> default_stream_queue(CUcontext ctx, bool per_thread);
// Every queue of the process whose stream is not destroyed, in no particular order.
std::vector<std::shared_ptr<StreamQueue>> all_stream_queues();
// The queue whose XQueue has this id; nullptr if there is none (any more:
// its stream or context was destroyed).
std::shared_ptr<StreamQueue> stream_queue_by_id(uint64_t id);

// The handle to pass to the driver for stream s named with flavour f when
// no queue takes the call: 0 spelled out as the stream it means.
CUstream spelled_out(CUstream s, Flavor f);

// Implicit synchronisation, before an operation on sq: work on the legacy
// stream comes after earlier work of blocking streams, and work on blocking
// streams after earlier legacy work. Launches what is held back on the other side.
void order_after_implicit_dependencies(StreamQueue& sq);
// Level 2, after an operation on sq reached the driver: the driver orders it
// after the other side's earlier work (legacy and blocking streams). If that
// side is held now, or the scheduler holds it later (this operation's queue
// turning ready may be why), its gate would stall the operation for as long
// as this queue keeps it held: the other side runs what it had launched
// (priority inheritance). Read after the launch, so nothing launched in
// between is missed.
void lend_urgency_for_implicit_order(StreamQueue& sq);
// For a call that goes to the driver directly on sq's stream: launches what
// the implicit synchronisation puts before it and everything sq holds.
void launch_everything_before(StreamQueue& sq);

// Launches everything held back in every queue: before calls that free
// memory or otherwise wait for all work.
void flush_all();
// Launches, in every queue, everything up to the last held-back launch of
// kernel f (a CUfunction or CUkernel): before f's attributes change, since a
// launch reads them when it reaches the driver.
void flush_launches_of(CUfunction f);
// Level 2: every queue runs what it has launched, held or not, and is held
// again once that completed. After a call that loads code: the driver's
// loading may leave a barrier on the GPU behind all work launched so far.
void expedite_launched_everywhere();
// Waits until every queue of ctx holding commands back has completed them
// (what is launched already, the caller's driver wait covers).
CUresult wait_context(CUcontext ctx);

// What each queue of ctx had launched, read before a context-wide driver
// synchronisation; once it returned, caught_up() tells the queues.
struct LaunchMark {
  std::shared_ptr<StreamQueue> queue;
  uint64_t launched = 0;
};
std::vector<LaunchMark> mark_launched(CUcontext ctx);
void caught_up(const std::vector<LaunchMark>& marks);

// Forgets stream s (being destroyed): its queue launches what it holds and
// goes once complete. Returns the queue's deferred error, if any.
CUresult retire_stream(CUstream s);
// Forgets every queue of ctx (the context is being destroyed or reset).
void retire_context(CUcontext ctx);

// Ends the capture that root began: root and every stream that joined it
// are scheduled again.
void end_capture(const StreamQueue& root);

// ---- events ----

// The latest record of an event made through a queue, while the driver may
// not know of it yet (held back) or, at Level 2, while it has not completed
// (its queue may be held behind a gate), so that queries, waits and
// synchronisations on the event see it.
struct PendingRecord {
  std::shared_ptr<StreamQueue> queue;  // null: none of ours outstanding
  // The queue that made the record, also once it completed (while it is
  // still known): a query that finds it done tells that queue its program
  // has seen its work complete.
  std::shared_ptr<StreamQueue> recorder;
  uint64_t seq = 0;
  bool held = false;  // not launched yet: the driver has not seen it
  std::weak_ptr<StreamQueue> capture_root;  // recorded into a stream being captured
};

// Notes that e was last recorded as command seq of q (q null: straight
// through to the driver), while q took part in the capture of capture_root (or null).
void note_event_record(CUevent e, const std::shared_ptr<StreamQueue>& q, uint64_t seq,
                       const std::shared_ptr<StreamQueue>& capture_root);
// The event's latest record if it is outstanding in a queue (queue non-null),
// and its capture origin.
PendingRecord pending_record(CUevent e);
void forget_event(CUevent e);

// ---- errors ----

// The CUresult an XQueue result stands for on queue sq.
CUresult to_cuda(xs_result_t r, const StreamQueue* sq);

}  // namespace xsched::interpose

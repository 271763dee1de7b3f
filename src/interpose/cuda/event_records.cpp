#include "interpose/cuda/event_records.h"

#include <array>
#include <mutex>
#include <new>
#include <unordered_map>

#include "core/log.h"

namespace xsched::interpose {
namespace {

// What the registry keeps of an event's latest record: weak references, so
// that a record never keeps a destroyed stream's queue alive (or destroys it
// under the shard's lock).
struct RecordEntry {
  std::weak_ptr<StreamQueue> queue;  // expired: none of ours outstanding
  uint64_t seq = 0;
  std::weak_ptr<StreamQueue> capture_root;
};

constexpr std::size_t kShards = 64;

struct EventShard {
  std::mutex mu;
  std::unordered_map<CUevent, RecordEntry> records;
};

// Immortal: queues and threads may still call in while the process exits.
EventShard& shard_of(CUevent e) {
  static auto* shards = new std::array<EventShard, kShards>;
  return (*shards)[(reinterpret_cast<uintptr_t>(e) >> 4) % kShards];
}

}  // namespace

void note_event_record(CUevent e, const std::shared_ptr<StreamQueue>& q, uint64_t seq,
                       const std::shared_ptr<StreamQueue>& capture_root) {
  EventShard& sh = shard_of(e);
  // A launched record still matters at Level 2 while it is incomplete: its
  // queue may be held behind its gate, and a waiter must lend it urgency.
  const bool tracked = q != nullptr && (q->xq->launched() < seq || q->xq->level() >= XS_LEVEL_DEACTIVATE);
  std::lock_guard lk(sh.mu);
  if (!tracked && capture_root == nullptr) {
    sh.records.erase(e);
    return;
  }
  try {
    RecordEntry& rec = sh.records[e];  // an event's entry is reused by its later records
    rec.queue = tracked ? q : nullptr;
    rec.seq = seq;
    rec.capture_root = capture_root;
  } catch (const std::bad_alloc&) {
    // Untracked, the record counts as reached: waits on it may then run
    // early, but the program goes on.
    log(LogLevel::kWarn, "out of memory: the record of event %p is not tracked", static_cast<void*>(e));
  }
}

PendingRecord pending_record(CUevent e) {
  EventShard& sh = shard_of(e);
  PendingRecord out;
  std::lock_guard lk(sh.mu);
  auto it = sh.records.find(e);
  if (it == sh.records.end()) return out;
  RecordEntry& rec = it->second;
  out.queue = rec.queue.lock();
  out.recorder = out.queue;
  out.seq = rec.seq;
  out.capture_root = rec.capture_root;
  if (out.queue != nullptr) {
    out.persisted = out.queue->xq->launched() < rec.seq;
    if (out.queue->xq->completed() >= rec.seq) out.queue = nullptr;  // done: the driver has the rest to say
  }
  if (out.queue == nullptr) {
    rec.queue.reset();
    if (rec.capture_root.expired()) sh.records.erase(it);
  }
  return out;
}

void forget_event(CUevent e) {
  EventShard& sh = shard_of(e);
  std::lock_guard lk(sh.mu);
  sh.records.erase(e);
}

}  // namespace xsched::interpose

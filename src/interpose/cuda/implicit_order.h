// The driver's implicit synchronisation between a context's legacy default
// stream and its blocking streams (per-thread default streams included):
// legacy-stream work comes after earlier work of blocking streams, and
// blocking-stream work after earlier legacy work. Commands a queue persisted
// have not reached the driver, so the interposer keeps that order itself.
// Every stream operation asks; the common answer ("nothing to do") is a few
// loads, inline here.
#pragma once

#include "hal/cuda/gates.h"
#include "interpose/cuda/streams.h"

namespace xsched::interpose {

void order_after_blocking_streams(StreamQueue& legacy);
void lend_urgency_to_blocking_streams(StreamQueue& legacy);
void lend_urgency_to(StreamQueue& q);

// Before an operation on sq: launches what the other side has persisted.
inline void order_after_implicit_dependencies(StreamQueue& sq) {
  ContextState& cs = *sq.context;
  if (sq.kind == StreamKind::kLegacy) {
    // A plain load first: the flag is almost always clear, and an exchange
    // on every legacy-stream launch would bounce its cache line between threads.
    if (cs.blocking_persisted.load(std::memory_order_acquire)) order_after_blocking_streams(sq);
  } else if (sq.blocking) {
    StreamQueue* legacy = cs.legacy_raw.load(std::memory_order_acquire);
    if (legacy != nullptr && legacy->xq->has_unlaunched()) legacy->xq->flush();
  }
}

// Level 2, after an operation on sq reached the driver: the driver orders it
// after the other side's earlier work. If that side is held now, or the
// scheduler holds it later (this operation's queue turning ready may be
// why), its gate would stall the operation for as long as this queue keeps
// it held: the other side runs what it had launched (priority inheritance).
// Read after the launch, so nothing launched in between is missed.
inline void lend_urgency_for_implicit_order(StreamQueue& sq) {
  if (!sq.blocking || !cuda::gates_in_use()) return;
  ContextState& cs = *sq.context;
  if (sq.kind == StreamKind::kLegacy) {
    // A plain load first, as for blocking_persisted: almost always clear.
    if (cs.blocking_launched.load(std::memory_order_relaxed) &&
        cs.blocking_launched.exchange(false, std::memory_order_acq_rel)) {
      lend_urgency_to_blocking_streams(sq);
    }
  } else if (StreamQueue* legacy = cs.legacy_raw.load(std::memory_order_acquire); legacy != nullptr) {
    lend_urgency_to(*legacy);
  }
}

// After sq took a command: a blocking stream's persisted command must reach
// the driver before the context's next legacy-stream operation.
inline void note_persisted_commands(StreamQueue& sq) {
  if (sq.blocking && sq.kind != StreamKind::kLegacy && sq.xq->has_unlaunched()) {
    sq.context->blocking_persisted.store(true, std::memory_order_release);
  }
}

// For a call that goes to the driver directly on sq's stream: launches what
// the implicit synchronisation puts before it and everything sq persisted.
void launch_everything_before(StreamQueue& sq);

}  // namespace xsched::interpose

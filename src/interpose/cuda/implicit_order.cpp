#include "interpose/cuda/implicit_order.h"

namespace xsched::interpose {

// Queues never call back into the interposer: the context's lock may be
// held while they launch, with no lock order to break.
void order_after_blocking_streams(StreamQueue& legacy) {
  ContextState& cs = *legacy.context;
  if (!cs.blocking_persisted.exchange(false, std::memory_order_acq_rel)) return;
  std::lock_guard lk(cs.mu);
  for (StreamQueue* q : cs.blocking) {
    if (q->xq->has_unlaunched()) q->xq->flush();
  }
}

void lend_urgency_to(StreamQueue& q) {
  const uint64_t launched = q.xq->launched();
  if (q.xq->level() >= XS_LEVEL_DEACTIVATE && q.xq->completed() < launched && q.xq->expedited() < launched) {
    q.xq->expedite(launched);
  }
}

// After blocking_launched was cleared: each queue's launched work is read
// under its lock, so none launched before the clearing is missed
// (XQueueOptions::launch_flag).
void lend_urgency_to_blocking_streams(StreamQueue& legacy) {
  ContextState& cs = *legacy.context;
  std::lock_guard lk(cs.mu);
  for (StreamQueue* q : cs.blocking) {
    if (q->xq->level() >= XS_LEVEL_DEACTIVATE) q->xq->expedite_launched();
  }
}

void launch_everything_before(StreamQueue& sq) {
  order_after_implicit_dependencies(sq);
  sq.xq->flush();
  lend_urgency_for_implicit_order(sq);
}

}  // namespace xsched::interpose

// A StreamQueue's own life: its part in graph captures, and its going.
#include "interpose/cuda/stream_registry.h"
#include "interpose/cuda/streams.h"
#include "sched/local_scheduler.h"

namespace xsched::interpose {

std::shared_ptr<StreamQueue> StreamQueue::capture_root() const {
  std::lock_guard lk(capture_mu_);
  return capturing() ? capture_root_.lock() : nullptr;
}

void StreamQueue::join_capture(const std::shared_ptr<StreamQueue>& root) {
  std::lock_guard lk(capture_mu_);
  capture_root_ = root;
  capturing_.store(true, std::memory_order_release);
}

void StreamQueue::leave_capture() {
  std::lock_guard lk(capture_mu_);
  capture_root_.reset();
  capturing_.store(false, std::memory_order_release);
}

void end_capture(const StreamQueue& root) {
  for (auto& q : live_queues(nullptr)) {
    if (q->capturing() && (q.get() == &root || q->capture_root().get() == &root)) q->leave_capture();
  }
}

StreamQueue::~StreamQueue() {
  if (xq == nullptr) return;
  if (kind != StreamKind::kLegacy && blocking) {
    std::lock_guard lk(context->mu);
    std::erase(context->blocking, this);
  }
  process_scheduler().remove(*xq);
  xq->close();  // the XQueue's destructor then completes what it holds
}

}  // namespace xsched::interpose

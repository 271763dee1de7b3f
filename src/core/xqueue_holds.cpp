// XQueue (xqueue.h): who holds a queue and what a hold does to its
// hardware queue, and what the queue tells about itself (state, times,
// hints). Submitting, launching and completing are xqueue.cpp's.
#include "core/xqueue.h"

#include <algorithm>

#include "core/clock.h"
#include "core/log.h"
#include "core/timeline.h"

namespace xsched {

void XQueue::hold_hardware_locked(bool launching) {
  // While expedited, the hardware queue runs until the expedited commands
  // completed. With nothing in flight (and nothing being launched) there is
  // nothing to hold: it is held when something is launched while the queue is held.
  if (hardware_held_ || level_ < XS_LEVEL_DEACTIVATE || completed_ < expedite_through_) return;
  if (in_flight_.empty() && !launching) return;
  xs_result_t r = hw_.ops->deactivate(hw_.ctx);
  if (r == XS_OK && level_ >= XS_LEVEL_INTERRUPT) r = hw_.ops->interrupt(hw_.ctx);
  if (r != XS_OK) {
    log(LogLevel::kWarn, "queue %llu: holding the hardware queue failed: %s", static_cast<unsigned long long>(id_),
        xs_result_string(r));
    if (error_ == XS_OK) error_ = r;
  }
  hardware_held_ = true;
  timeline::record(timeline::Event::kGateClose, id_);
}

void XQueue::release_hardware_locked() {
  if (!hardware_held_) return;
  xs_result_t r = XS_OK;
  if (level_ >= XS_LEVEL_INTERRUPT) r = hw_.ops->restore(hw_.ctx);
  const xs_result_t r2 = hw_.ops->reactivate(hw_.ctx);
  if (r == XS_OK) r = r2;
  if (r != XS_OK) {
    log(LogLevel::kWarn, "queue %llu: releasing the hardware queue failed: %s", static_cast<unsigned long long>(id_),
        xs_result_string(r));
    if (error_ == XS_OK) error_ = r;
  }
  hardware_held_ = false;
  timeline::record(timeline::Event::kGateOpen, id_);
}

void XQueue::record_hold_locked(HoldBy by) {
  if (!timeline::enabled()) return;
  uint64_t flow = 0;
  const timeline::Reason why = by == kHoldUser ? timeline::Reason::kUser : timeline::current_reason(&flow);
  timeline::record(timeline::Event::kHold, id_, why, flow);
}

xs_result_t XQueue::suspend(HoldBy by, bool sync) {
  std::unique_lock lk(mu_);
  if (holds_ == 0 && !closing_) {
    ++suspensions_;
    record_hold_locked(by);
    hold_hardware_locked();
  }
  if (holds_ == 0) held_since_ns_ = now_ns();
  holds_ |= by;
  if (sync && level_ == XS_LEVEL_BLOCK && !in_flight_.empty()) {
    ++waiters_;  // the worker syncs at once instead of letting a burst settle
    if (worker_waiting_) worker_cv_.notify_one();
    done_cv_.wait(lk, [&] { return in_flight_.empty() || holds_ == 0; });
    --waiters_;
  }
  return XS_OK;
}

xs_result_t XQueue::resume(HoldBy by) {
  std::lock_guard lk(mu_);
  if (holds_ == 0) return XS_OK;
  holds_ &= ~static_cast<uint32_t>(by);
  if (holds_ == 0) {
    held_ns_ += now_ns() - held_since_ns_;
    if (timeline::enabled()) {
      timeline::record(timeline::Event::kRelease, id_,
                       by == kHoldUser ? timeline::Reason::kUser : timeline::current_reason());
    }
    release_hardware_locked();
    launch_pending_locked();
    worker_cv_.notify_one();
    done_cv_.notify_all();
    room_cv_.notify_all();
  }
  return XS_OK;
}

void XQueue::query(xs_queue_info_t* info) const {
  std::lock_guard lk(mu_);
  info->ready = ready_.load(std::memory_order_relaxed) ? 1 : 0;
  info->suspended = holds_ != 0 ? 1 : 0;
  info->level = level_;
  info->window = window_;
  info->pending = pending_.size();
  info->in_flight = in_flight_.size();
  info->submitted = submitted_;
  info->completed = completed_;
  info->suspensions = suspensions_;
  info->error = error_;
  info->hints = hints_;
}

void XQueue::hold_times(int64_t now, int64_t* held_ns, int64_t* running_ns) const {
  std::lock_guard lk(mu_);
  const int64_t held = held_ns_ + (holds_ != 0 ? std::max<int64_t>(now - held_since_ns_, 0) : 0);
  *held_ns = held;
  *running_ns = std::max<int64_t>(now - created_ns_ - held, 0);
}

xs_hints_t XQueue::hints() const {
  std::lock_guard lk(mu_);
  return hints_;
}

void XQueue::set_hints(const xs_hints_t& hints) {
  {
    std::lock_guard lk(mu_);
    hints_ = hints;
  }
  notify_listener();
}

}  // namespace xsched

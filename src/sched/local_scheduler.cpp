#include "sched/local_scheduler.h"

#include <algorithm>
#include <climits>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"

namespace xsched {

LocalScheduler::LocalScheduler(xs_policy_t policy, int64_t default_timeslice_ns)
    : default_timeslice_ns_(default_timeslice_ns),
      engine_(make_policy(policy, default_timeslice_ns), *this) {}

LocalScheduler::~LocalScheduler() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    timer_cv_.notify_all();
  }
  if (timer_.joinable()) timer_.join();
  for (auto& [id, q] : queues_) q->set_listener(nullptr);
}

void LocalScheduler::add(XQueue& q) {
  std::lock_guard lk(mu_);
  queues_[q.id()] = &q;
  priorities_[q.id()] = q.hints().priority;
  q.set_listener(this);
  schedule_timer_locked(engine_.add(q.id(), q.ready(), q.hints(), now_ns()));
  update_windows_locked();
}

void LocalScheduler::remove(XQueue& q) {
  std::lock_guard lk(mu_);
  q.set_listener(nullptr);
  if (queues_.count(q.id()) == 0) return;
  schedule_timer_locked(engine_.remove(q.id(), now_ns()));
  queues_.erase(q.id());
  priorities_.erase(q.id());
  used_.erase(q.id());
  update_windows_locked();
}

void LocalScheduler::on_queue_changed(XQueue& q) {
  std::lock_guard lk(mu_);
  // A queue that left may still report its last change from its own thread.
  if (queues_.count(q.id()) == 0) return;
  const xs_hints_t hints = q.hints();
  schedule_timer_locked(engine_.update(q.id(), q.ready(), hints, now_ns()));
  int32_t& known = priorities_[q.id()];
  bool changed = known != hints.priority;
  known = hints.priority;
  if (q.ready() && used_.insert(q.id()).second) changed = true;
  if (changed) update_windows_locked();
}

// A queue needs its in-flight window (and, at Level 2, gates) only if some
// other queue could make the policy suspend it: one of higher priority
// (priority), any other (bandwidth), none (no policy). Only queues that have
// had work count: a program may make many queues it never uses (PyTorch
// makes 32 streams of each priority at once), and an unused one would make
// every used queue below it pay for a window and gates for nothing. The
// price: the first work of a queue finds the queues below it unbounded, and
// waits once for what they have in flight.
void LocalScheduler::update_windows_locked() {
  const xs_policy_t policy = engine_.policy_kind();
  int32_t top = INT32_MIN;
  for (uint64_t id : used_) top = std::max(top, priorities_[id]);
  for (const auto& [id, q] : queues_) {
    bool bounded = true;
    if (policy == XS_POLICY_NONE) bounded = false;
    if (policy == XS_POLICY_PRIORITY) bounded = priorities_[id] < top;
    if (policy == XS_POLICY_BANDWIDTH) bounded = used_.size() > 1 || (used_.size() == 1 && used_.count(id) == 0);
    q->set_window_bounded(bounded);
  }
}

xs_result_t LocalScheduler::set_policy(xs_policy_t policy) {
  std::unique_ptr<Policy> p = make_policy(policy, default_timeslice_ns_);
  if (p == nullptr) return XS_ERR_INVALID_ARG;
  std::lock_guard lk(mu_);
  schedule_timer_locked(engine_.set_policy(std::move(p), now_ns()));
  update_windows_locked();
  return XS_OK;
}

xs_policy_t LocalScheduler::policy() const {
  std::lock_guard lk(mu_);
  return engine_.policy_kind();
}

void LocalScheduler::suspend(uint64_t id) {
  auto it = queues_.find(id);
  if (it != queues_.end()) it->second->suspend(kHoldScheduler, false);
}

void LocalScheduler::resume(uint64_t id) {
  auto it = queues_.find(id);
  if (it != queues_.end()) it->second->resume(kHoldScheduler);
}

void LocalScheduler::schedule_timer_locked(int64_t deadline_ns) {
  deadline_ns_ = deadline_ns;
  if (deadline_ns == 0) return;
  if (!timer_.joinable()) {
    try {
      timer_ = std::thread([this] { timer_main(); });
    } catch (const std::exception&) {
      log(LogLevel::kError, "cannot start the scheduler's timer thread: time-based policies will not rotate");
      return;
    }
  }
  timer_cv_.notify_one();
}

void LocalScheduler::timer_main() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    if (deadline_ns_ == 0) {
      timer_cv_.wait(lk);
      continue;
    }
    const int64_t now = now_ns();
    if (now < deadline_ns_) {
      timer_cv_.wait_until(lk, to_time_point(deadline_ns_));
      continue;
    }
    deadline_ns_ = engine_.decide(now);
  }
}

LocalScheduler& process_scheduler() {
  // Never destroyed: queues may report changes from their threads while the
  // process exits.
  static LocalScheduler* const scheduler = [] {
    const Config& cfg = process_config();
    return new LocalScheduler(cfg.policy, cfg.timeslice_ns);
  }();
  return *scheduler;
}

}  // namespace xsched

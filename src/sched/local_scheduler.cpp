#include "sched/local_scheduler.h"

#include <pthread.h>

#include <algorithm>

#include "core/clock.h"
#include "core/gate_words.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "sched/window_rule.h"

namespace xsched {

LocalScheduler::LocalScheduler(xs_policy_t policy, int64_t default_timeslice_ns, int32_t base_priority)
    : default_timeslice_ns_(default_timeslice_ns),
      base_priority_(base_priority),
      engine_(make_policy(policy, default_timeslice_ns), *this),
      local_policy_(policy) {}

LocalScheduler::LocalScheduler(std::unique_ptr<Policy> policy, int64_t default_timeslice_ns, int32_t base_priority)
    : default_timeslice_ns_(default_timeslice_ns),
      base_priority_(base_priority),
      engine_(std::move(policy), *this),
      local_policy_(engine_.policy_kind()) {}

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
  offsets_[q.id()] = q.hints().priority - base_priority_;
  if (process_hints_.fields != 0) change_hints_locked(q, process_hints_, false);
  priorities_[q.id()] = q.hints().priority;
  q.set_listener(this);
  const int64_t now = now_ns();
  schedule_timer_locked(engine_.add(q.id(), q.ready(), q.hints(), now));
  if (remote_ != nullptr) remote_->queue_added(q);
  update_windows_locked();
  if (reserve_) reserve_->add(q.id(), q.hints().priority, q.ready(), now);
  apply_reserve_locked();
}

void LocalScheduler::remove(XQueue& q) {
  std::lock_guard lk(mu_);
  q.set_listener(nullptr);
  if (queues_.count(q.id()) == 0) return;
  if (remote_ != nullptr) remote_->queue_removed(q);
  if (remote_held_.erase(q.id()) != 0) q.resume(kHoldScheduler);
  schedule_timer_locked(engine_.remove(q.id(), now_ns()));
  queues_.erase(q.id());
  priorities_.erase(q.id());
  offsets_.erase(q.id());
  used_.erase(q.id());
  update_windows_locked();
  if (reserve_) reserve_->remove(q.id());
  apply_reserve_locked();
}

void LocalScheduler::on_queue_changed(XQueue& q) {
  std::lock_guard lk(mu_);
  // A queue that left may still report its last change from its own thread.
  if (queues_.count(q.id()) == 0) return;
  const xs_hints_t hints = q.hints();
  const int64_t now = now_ns();
  if (remote_ != nullptr) {
    remote_->queue_changed(q);
  } else {
    schedule_timer_locked(engine_.update(q.id(), q.ready(), hints, now));
  }
  update_reserve_locked(q, now);
  int32_t& known = priorities_[q.id()];
  bool changed = known != hints.priority;
  known = hints.priority;
  if (q.ready() && used_.insert(q.id()).second) changed = true;
  if (changed) update_windows_locked();
}

void LocalScheduler::enable_reservation(int64_t linger_ns) {
  std::lock_guard lk(mu_);
  if (reserve_) return;  // on already: keep its view of the queues
  reserve_.emplace(linger_ns);
  const int64_t now = now_ns();
  for (const auto& [id, q] : queues_) reserve_->add(id, q->hints().priority, q->ready(), now);
  apply_reserve_locked();
}

void LocalScheduler::update_reserve_locked(const XQueue& q, int64_t now) {
  if (!reserve_) return;
  reserve_->update(q.id(), q.hints().priority, q.ready(), now);
  apply_reserve_locked();
}

void LocalScheduler::apply_reserve_locked() {
  if (!reserve_) return;
  reserve_->set_enabled(remote_ != nullptr || engine_.policy_kind() == XS_POLICY_PRIORITY);
  reserve_->apply([this](uint64_t id, int64_t until_ns) {
    auto it = queues_.find(id);
    if (it != queues_.end()) it->second->confine_until(until_ns);
  });
}

void LocalScheduler::update_windows_locked() {
  // Attached, the remote side decides windows (apply_decision).
  if (remote_ != nullptr) return;
  WindowContext c;
  c.policy = engine_.policy_kind();
  c.used = used_.size();
  for (uint64_t id : used_) c.top_priority = std::max(c.top_priority, priorities_[id]);
  for (const auto& [id, q] : queues_) q->set_window_bounded(window_bounded(c, priorities_[id], used_.count(id) != 0));
}

xs_result_t LocalScheduler::set_policy(xs_policy_t policy) {
  std::unique_ptr<Policy> p = make_policy(policy, default_timeslice_ns_);
  if (p == nullptr) return XS_ERR_INVALID_ARG;
  std::lock_guard lk(mu_);
  local_policy_ = policy;
  if (remote_ != nullptr) return XS_OK;
  schedule_timer_locked(engine_.set_policy(std::move(p), now_ns()));
  update_windows_locked();
  apply_reserve_locked();
  return XS_OK;
}

xs_policy_t LocalScheduler::policy() const {
  std::lock_guard lk(mu_);
  return local_policy_;
}

void LocalScheduler::attach(RemoteLink* link) {
  std::lock_guard lk(mu_);
  if (remote_ != nullptr || link == nullptr) return;
  // The local engine lets everything run; the remote side holds what it must.
  schedule_timer_locked(engine_.set_policy(make_policy(XS_POLICY_NONE, default_timeslice_ns_), now_ns()));
  remote_ = link;
  for (const auto& [id, q] : queues_) {
    // Bounded until told otherwise: the remote side may hold any queue.
    q->set_window_bounded(true);
    link->queue_added(*q);
  }
  apply_reserve_locked();
}

void LocalScheduler::detach() {
  std::lock_guard lk(mu_);
  if (remote_ == nullptr) return;
  remote_ = nullptr;
  // First what the remote side holds with its own stores: every gate it may close opens.
  gates::revoke_all();
  for (uint64_t id : remote_held_) {
    auto it = queues_.find(id);
    if (it != queues_.end()) it->second->resume(kHoldScheduler);
  }
  remote_held_.clear();
  const int64_t now = now_ns();
  for (const auto& [id, q] : queues_) engine_.update(id, q->ready(), q->hints(), now);
  schedule_timer_locked(engine_.set_policy(make_policy(local_policy_, default_timeslice_ns_), now));
  update_windows_locked();
  apply_reserve_locked();
}

bool LocalScheduler::attached() const {
  std::lock_guard lk(mu_);
  return remote_ != nullptr;
}

bool LocalScheduler::apply_decision(uint64_t id, bool run, bool bounded, bool* hold_changed, bool stored,
                                    bool* by_store) {
  std::lock_guard lk(mu_);
  if (remote_ == nullptr) return false;
  auto it = queues_.find(id);
  if (it == queues_.end()) return false;
  XQueue& q = *it->second;
  const bool changed = run ? remote_held_.erase(id) != 0 : remote_held_.insert(id).second;
  // A gate the remote side may close itself follows the decision at once
  // (the remote side stored it already, unless it could not map the gate's page).
  const bool store = q.follow_daemon(run, stored) && stored;
  if (by_store != nullptr) *by_store = store;
  if (changed && run) q.resume(kHoldScheduler);
  if (changed && !run) q.suspend(kHoldScheduler, false);
  if (hold_changed != nullptr) *hold_changed = changed;
  q.set_window_bounded(bounded);
  return true;
}

void LocalScheduler::change_hints_locked(XQueue& q, const HintsOverride& change, bool exact) {
  const int32_t offset = exact ? 0 : offsets_[q.id()];
  q.update_hints_quietly([&](xs_hints_t& h) {
    if ((change.fields & 1u) != 0) {
      // For the process: its base priority, which the queue's own offset adds to.
      h.priority = clamp_priority(static_cast<int64_t>(change.priority) + offset);
    }
    if ((change.fields & 2u) != 0) h.share = change.share;
    if ((change.fields & 4u) != 0) h.deadline_ns = change.deadline_ns;
  });
}

bool LocalScheduler::apply_hints(uint64_t id, const HintsOverride& change) {
  std::lock_guard lk(mu_);
  std::vector<XQueue*> targets;
  if (id == 0) {
    process_hints_.fields |= change.fields;
    if ((change.fields & 1u) != 0) process_hints_.priority = change.priority;
    if ((change.fields & 2u) != 0) process_hints_.share = change.share;
    if ((change.fields & 4u) != 0) process_hints_.deadline_ns = change.deadline_ns;
    for (const auto& [qid, q] : queues_) targets.push_back(q);
  } else {
    auto it = queues_.find(id);
    if (it == queues_.end()) return false;
    targets.push_back(it->second);
  }
  const int64_t now = now_ns();
  for (XQueue* q : targets) {
    // One queue gets exactly the priority asked for; the process's queues keep their offsets.
    change_hints_locked(*q, change, id != 0);
    priorities_[q->id()] = q->hints().priority;
    if (remote_ != nullptr) {
      remote_->queue_changed(*q);
    } else {
      schedule_timer_locked(engine_.update(q->id(), q->ready(), q->hints(), now));
    }
    update_reserve_locked(*q, now);
  }
  update_windows_locked();
  return true;
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
      timer_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "xsched-timer");
        timer_main();
      });
    } catch (const std::exception&) {
      log(LogLevel::kError, "cannot start the scheduler's timer thread: time-based policies will not rotate");
      return;
    }
  }
  timer_cv_.notify_one();
}

void LocalScheduler::timer_main() {
  std::unique_lock lk(mu_);
  // Whatever a policy asks for, the timer sleeps, without the lock, for a
  // while after each of its decisions (timer_due_ns): a time that has
  // already passed when a decision ends must not make it decide again and
  // again with the lock held, shutting every queue and the API out.
  int64_t decided_ns = 0;  // when its last decision ended
  while (!stopping_) {
    if (deadline_ns_ == 0) {
      timer_cv_.wait(lk);
      continue;
    }
    const int64_t due = timer_due_ns(deadline_ns_, decided_ns);
    const int64_t now = now_ns();
    if (now < due) {
      timer_cv_.wait_until(lk, to_time_point(due));
      continue;
    }
    deadline_ns_ = engine_.decide(now);
    decided_ns = now_ns();
  }
}

}  // namespace xsched

#include "sched/local_scheduler.h"

#include <pthread.h>

#include <algorithm>

#include "core/clock.h"
#include "gates/gate_words.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "core/timeline.h"
#include "sched/window_rule.h"

namespace xsched {

LocalScheduler::LocalScheduler(xs_policy_t policy, int64_t default_timeslice_ns, int32_t base_priority)
    : default_timeslice_ns_(default_timeslice_ns), base_priority_(base_priority), local_policy_(policy) {}

LocalScheduler::LocalScheduler(PolicyFactory make, int64_t default_timeslice_ns, int32_t base_priority)
    : default_timeslice_ns_(default_timeslice_ns),
      base_priority_(base_priority),
      make_policy_(std::move(make)),
      local_policy_(make_policy_()->kind()) {}

LocalScheduler::~LocalScheduler() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    timer_cv_.notify_all();
  }
  if (timer_.joinable()) timer_.join();
  for (auto& [id, q] : queues_) q->set_listener(nullptr);
}

std::unique_ptr<Policy> LocalScheduler::policy_locked() const {
  if (remote_ != nullptr) return make_policy(XS_POLICY_NONE, default_timeslice_ns_);
  return make_policy_ ? make_policy_() : make_policy(local_policy_, default_timeslice_ns_);
}

LocalScheduler::Domain& LocalScheduler::join_domain_locked(const XQueue& q) {
  std::unique_ptr<Domain>& slot = domains_[q.device_id()];
  if (!slot) {
    slot = std::make_unique<Domain>(policy_locked(), static_cast<Executor&>(*this));
    if (reserve_linger_ns_) slot->reserve.emplace(*reserve_linger_ns_);
  }
  ++slot->members;
  domain_of_[q.id()] = slot.get();
  return *slot;
}

void LocalScheduler::leave_domain_locked(uint64_t id) {
  auto it = domain_of_.find(id);
  if (it == domain_of_.end()) return;
  Domain* d = it->second;
  domain_of_.erase(it);
  if (--d->members > 0) return;
  // Its last queue left: the device's domain goes (the timer looks again).
  for (auto dit = domains_.begin(); dit != domains_.end(); ++dit) {
    if (dit->second.get() == d) {
      domains_.erase(dit);
      break;
    }
  }
  timer_cv_.notify_one();
}

std::size_t LocalScheduler::domains() const {
  std::lock_guard lk(mu_);
  return domains_.size();
}

void LocalScheduler::visit_queues(const std::function<void(const XQueue&)>& visit) const {
  std::lock_guard lk(mu_);
  for (const auto& [id, q] : queues_) visit(*q);
}

void LocalScheduler::add(XQueue& q) {
  std::lock_guard lk(mu_);
  if (queues_.count(q.id()) != 0) return;
  queues_[q.id()] = &q;
  Domain& d = join_domain_locked(q);
  offsets_[q.id()] = q.hints().priority - base_priority_;
  if (process_hints_.fields != 0) change_hints_locked(q, process_hints_, false);
  priorities_[q.id()] = q.hints().priority;
  q.set_listener(this);
  const int64_t now = now_ns();
  schedule_timer_locked(d, d.engine.add(q.id(), q.ready(), q.hints(), now));
  if (remote_ != nullptr) remote_->queue_added(q);
  update_windows_locked(d);
  if (d.reserve) d.reserve->add(q.id(), q.hints().priority, q.ready(), now);
  apply_reserve_locked(d);
}

void LocalScheduler::remove(XQueue& q) {
  std::lock_guard lk(mu_);
  q.set_listener(nullptr);
  if (queues_.count(q.id()) == 0) return;
  Domain& d = domain_locked(q.id());
  if (remote_ != nullptr) remote_->queue_removed(q);
  if (remote_held_.erase(q.id()) != 0) q.resume(kHoldScheduler);
  schedule_timer_locked(d, d.engine.remove(q.id(), now_ns()));
  queues_.erase(q.id());
  priorities_.erase(q.id());
  offsets_.erase(q.id());
  d.used.erase(q.id());
  if (d.reserve) d.reserve->remove(q.id());
  if (d.members > 1) {
    update_windows_locked(d);
    apply_reserve_locked(d);
  }
  leave_domain_locked(q.id());  // may destroy d
}

void LocalScheduler::on_queue_changed(XQueue& q) {
  const timeline::Cause cause(timeline::Reason::kPolicy, q.id());  // what it holds gets an arrow from it
  std::lock_guard lk(mu_);
  // A queue that left may still report its last change from its own thread.
  if (queues_.count(q.id()) == 0) return;
  Domain& d = domain_locked(q.id());
  const xs_hints_t hints = q.hints();
  const int64_t now = now_ns();
  if (remote_ != nullptr) {
    remote_->queue_changed(q);
  } else {
    schedule_timer_locked(d, d.engine.update(q.id(), q.ready(), hints, now));
  }
  update_reserve_locked(d, q, now);
  int32_t& known = priorities_[q.id()];
  bool changed = known != hints.priority;
  known = hints.priority;
  if (q.ready() && d.used.insert(q.id()).second) changed = true;
  if (changed) update_windows_locked(d);
}

void LocalScheduler::enable_reservation(int64_t linger_ns) {
  std::lock_guard lk(mu_);
  if (reserve_linger_ns_) return;  // on already: keep its view of the queues
  reserve_linger_ns_ = linger_ns;
  const int64_t now = now_ns();
  for (auto& [key, d] : domains_) d->reserve.emplace(linger_ns);
  for (const auto& [id, q] : queues_) domain_locked(id).reserve->add(id, q->hints().priority, q->ready(), now);
  for (auto& [key, d] : domains_) apply_reserve_locked(*d);
}

void LocalScheduler::update_reserve_locked(Domain& d, const XQueue& q, int64_t now) {
  if (!d.reserve) return;
  d.reserve->update(q.id(), q.hints().priority, q.ready(), now);
  apply_reserve_locked(d);
}

void LocalScheduler::apply_reserve_locked(Domain& d) {
  if (!d.reserve) return;
  d.reserve->set_enabled(remote_ != nullptr || d.engine.policy().confines_by_priority());
  d.reserve->apply([this](uint64_t id, int64_t until_ns) {
    auto it = queues_.find(id);
    if (it != queues_.end()) it->second->confine_until(until_ns);
  });
}

void LocalScheduler::update_windows_locked(Domain& d) {
  // Attached, the remote side decides windows (apply_decision).
  if (remote_ != nullptr) return;
  WindowContext c;
  c.used = d.used.size();
  for (uint64_t id : d.used) c.top_priority = std::max(c.top_priority, priorities_[id]);
  const Policy& policy = d.engine.policy();
  for (const auto& [id, q] : queues_) {
    if (domain_of_[id] == &d) q->set_window_bounded(policy.window_bounded(c, priorities_[id], d.used.count(id) != 0));
  }
}

xs_result_t LocalScheduler::set_policy(xs_policy_t policy) {
  if (make_policy(policy, default_timeslice_ns_) == nullptr) return XS_ERR_INVALID_ARG;
  std::lock_guard lk(mu_);
  local_policy_ = policy;
  make_policy_ = nullptr;  // a policy of its own kind from now on
  if (remote_ != nullptr) return XS_OK;
  const int64_t now = now_ns();
  for (auto& [key, d] : domains_) {
    schedule_timer_locked(*d, d->engine.set_policy(policy_locked(), now));
    update_windows_locked(*d);
    apply_reserve_locked(*d);
  }
  return XS_OK;
}

xs_policy_t LocalScheduler::policy() const {
  std::lock_guard lk(mu_);
  return local_policy_;
}

void LocalScheduler::attach(RemoteLink* link) {
  std::lock_guard lk(mu_);
  if (remote_ != nullptr || link == nullptr) return;
  // The local engines let everything run; the remote side holds what it must.
  remote_ = link;
  const int64_t now = now_ns();
  for (auto& [key, d] : domains_) schedule_timer_locked(*d, d->engine.set_policy(policy_locked(), now));
  for (const auto& [id, q] : queues_) {
    // Bounded until told otherwise: the remote side may hold any queue.
    q->set_window_bounded(true);
    link->queue_added(*q);
  }
  for (auto& [key, d] : domains_) apply_reserve_locked(*d);
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
  for (const auto& [id, q] : queues_) domain_locked(id).engine.update(id, q->ready(), q->hints(), now);
  for (auto& [key, d] : domains_) {
    schedule_timer_locked(*d, d->engine.set_policy(policy_locked(), now));
    update_windows_locked(*d);
    apply_reserve_locked(*d);
  }
}

bool LocalScheduler::attached() const {
  std::lock_guard lk(mu_);
  return remote_ != nullptr;
}

RemoteEffect LocalScheduler::apply_decision(const RemoteDecision& d) {
  const timeline::Cause cause(timeline::Reason::kDaemon);
  std::lock_guard lk(mu_);
  RemoteEffect e;
  if (remote_ == nullptr) return e;
  auto it = queues_.find(d.queue);
  if (it == queues_.end()) return e;
  XQueue& q = *it->second;
  e.applied = true;
  e.hold_changed = d.run ? remote_held_.erase(d.queue) != 0 : remote_held_.insert(d.queue).second;
  // A gate the remote side may close itself follows the decision at once
  // (the remote side stored it already, unless it could not map the gate's page).
  e.by_store = q.follow_daemon(d.run, d.stored) && d.stored;
  if (e.hold_changed && d.run) q.resume(kHoldScheduler);
  if (e.hold_changed && !d.run) q.suspend(kHoldScheduler, false);
  q.set_window_bounded(d.bounded);
  return e;
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
    Domain& d = domain_locked(q->id());
    // One queue gets exactly the priority asked for; the process's queues keep their offsets.
    change_hints_locked(*q, change, id != 0);
    priorities_[q->id()] = q->hints().priority;
    if (remote_ != nullptr) {
      remote_->queue_changed(*q);
    } else {
      schedule_timer_locked(d, d.engine.update(q->id(), q->ready(), q->hints(), now));
    }
    update_reserve_locked(d, *q, now);
  }
  for (auto& [key, d] : domains_) update_windows_locked(*d);
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

void LocalScheduler::schedule_timer_locked(Domain& d, int64_t deadline_ns) {
  d.deadline_ns = deadline_ns;
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
  // Each device's domain keeps its own times.
  while (!stopping_) {
    int64_t due = 0;  // the earliest decision due over the domains; 0: none
    for (const auto& [key, d] : domains_) {
      const int64_t t = timer_due_ns(d->deadline_ns, d->decided_ns);
      if (t != 0 && (due == 0 || t < due)) due = t;
    }
    if (due == 0) {
      timer_cv_.wait(lk);
      continue;
    }
    const int64_t now = now_ns();
    if (now < due) {
      timer_cv_.wait_until(lk, to_time_point(due));
      continue;
    }
    const timeline::Cause cause(timeline::Reason::kTimer);
    for (auto& [key, d] : domains_) {
      const int64_t t = timer_due_ns(d->deadline_ns, d->decided_ns);
      if (t == 0 || t > now) continue;
      d->deadline_ns = d->engine.decide(now);
      d->decided_ns = now_ns();
    }
  }
}

}  // namespace xsched

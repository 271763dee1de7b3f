#include "sched/engine.h"

namespace xsched {

int64_t Engine::add(uint64_t id, bool ready, const xs_hints_t& hints, int64_t now_ns) {
  for (const QueueView& q : queues_) {
    if (q.id == id) return update(id, ready, hints, now_ns);
  }
  QueueView v{id, ready, hints, true};
  // Both grow or neither does, even if memory runs out.
  queues_.reserve(queues_.size() + 1);
  applied_run_.reserve(applied_run_.size() + 1);
  queues_.push_back(v);
  applied_run_.push_back(true);  // a new queue starts running
  policy_->added(v, now_ns);
  return decide(now_ns);
}

int64_t Engine::update(uint64_t id, bool ready, const xs_hints_t& hints, int64_t now_ns) {
  for (QueueView& q : queues_) {
    if (q.id != id) continue;
    // Reports often repeat what the engine knows; deciding again would change
    // nothing for a policy without a timer, and the timer keeps its deadline.
    const bool same = q.ready == ready && q.hints.priority == hints.priority && q.hints.share == hints.share &&
                      q.hints.timeslice_ns == hints.timeslice_ns && q.hints.deadline_ns == hints.deadline_ns;
    if (same) return next_ns_;
    q.ready = ready;
    q.hints = hints;
    return decide(now_ns);
  }
  return next_ns_;
}

int64_t Engine::remove(uint64_t id, int64_t now_ns) {
  for (std::size_t i = 0; i < queues_.size(); ++i) {
    if (queues_[i].id != id) continue;
    if (!applied_run_[i]) exec_.resume(id);
    queues_.erase(queues_.begin() + static_cast<std::ptrdiff_t>(i));
    applied_run_.erase(applied_run_.begin() + static_cast<std::ptrdiff_t>(i));
    policy_->removed(id);
    break;
  }
  return decide(now_ns);
}

int64_t Engine::set_policy(std::unique_ptr<Policy> policy, int64_t now_ns) {
  policy_ = std::move(policy);
  ++policy_changes_;
  // The old policy's per-queue state means nothing to the new one.
  for (QueueView& q : queues_) q.slot = PolicySlot{};
  for (const QueueView& q : queues_) policy_->added(q, now_ns);
  return decide(now_ns);
}

int64_t Engine::decide(int64_t now_ns) {
  const int64_t next = policy_->decide(queues_, now_ns);
  next_ns_ = next;
  // Resume before suspending: a queue handed the device should not wait for
  // the others to be held.
  for (std::size_t i = 0; i < queues_.size(); ++i) {
    if (queues_[i].run && !applied_run_[i]) {
      applied_run_[i] = true;
      exec_.resume(queues_[i].id);
    }
  }
  for (std::size_t i = 0; i < queues_.size(); ++i) {
    if (!queues_[i].run && applied_run_[i]) {
      applied_run_[i] = false;
      exec_.suspend(queues_[i].id);
    }
  }
  return next;
}

bool Engine::running(uint64_t id) const {
  for (std::size_t i = 0; i < queues_.size(); ++i) {
    if (queues_[i].id == id) return applied_run_[i];
  }
  return true;
}

}  // namespace xsched

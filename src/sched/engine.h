// The scheduler engine: a table of queues, one policy, and the decisions
// applied through an Executor. It knows nothing of where queues live, so the
// in-process scheduler and the daemon drive the same engine. Not
// thread-safe: its owner serialises calls.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sched/policy.h"

namespace xsched {

// Carries out decisions. Must not call back into the engine.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void suspend(uint64_t id) = 0;
  virtual void resume(uint64_t id) = 0;
};

class Engine {
 public:
  Engine(std::unique_ptr<Policy> policy, Executor& exec) : policy_(std::move(policy)), exec_(exec) {}

  // Each call runs the policy and returns when to call decide() again
  // (steady-clock ns), or 0 for never.
  int64_t add(uint64_t id, bool ready, const xs_hints_t& hints, int64_t now_ns);
  int64_t update(uint64_t id, bool ready, const xs_hints_t& hints, int64_t now_ns);
  // Resumes the queue if the engine held it.
  int64_t remove(uint64_t id, int64_t now_ns);
  int64_t set_policy(std::unique_ptr<Policy> policy, int64_t now_ns);
  int64_t decide(int64_t now_ns);

  xs_policy_t policy_kind() const { return policy_->kind(); }
  // The policy, for its rules (window_bounded, confines_by_priority).
  const Policy& policy() const { return *policy_; }
  // How many times set_policy() ran: what a caller derived from policy() is stale when it moved.
  uint64_t policy_changes() const { return policy_changes_; }
  std::size_t size() const { return queues_.size(); }
  // Whether the engine currently lets queue `id` run (true if unknown).
  bool running(uint64_t id) const;

 private:
  std::unique_ptr<Policy> policy_;
  Executor& exec_;
  std::vector<QueueView> queues_;
  std::vector<bool> applied_run_;  // what exec_ was last told, parallel to queues_
  int64_t next_ns_ = 0;            // what the last decide() returned
  uint64_t policy_changes_ = 0;
};

}  // namespace xsched

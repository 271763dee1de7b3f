// The in-process scheduler ("app-managed", the default): one scheduling
// domain per device (core/device_id.h), each an Engine with its own policy
// state fed by that device's XQueues, so that no decision ever crosses
// devices: an urgent queue on one GPU holds nothing on another. Queue
// changes are decided at once in the thread that caused them (a
// high-priority submit holds the low queues of its device before it
// returns); a timer thread serves policies that decide on time (bandwidth).
//
// It can also hand its decisions to someone else (attach): then every queue
// change goes to a RemoteLink (xschedd's agent) and the decisions come back
// through apply_decision(); the local policy rests until detach().
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/device_id.h"
#include "core/xqueue.h"
#include "sched/engine.h"
#include "sched/reserve_rule.h"

namespace xsched {

// Where the queues' changes go while a scheduler is attached. Called with
// the scheduler's lock held: it must not call back into the scheduler.
class RemoteLink {
 public:
  virtual ~RemoteLink() = default;
  virtual void queue_added(XQueue& q) = 0;
  virtual void queue_changed(XQueue& q) = 0;
  virtual void queue_removed(XQueue& q) = 0;
};

// A change of hints for one queue or for the whole process.
struct HintsOverride {
  uint32_t fields = 0;  // 1: priority, 2: share, 4: deadline (as ipc::HintField)
  int32_t priority = 0;  // for the process: its base priority (a queue's own offset adds to it)
  uint32_t share = 1;
  int64_t deadline_ns = 0;
};

// A decision of the remote side (xschedd) for one queue.
struct RemoteDecision {
  uint64_t queue = 0;   // the XQueue id
  bool run = false;     // release it (true) or hold it
  bool bounded = false;  // its window is bounded while another queue is urgent
  bool stored = false;  // the remote side stored the decision in the queue's gate word itself
};

// What applying it did.
struct RemoteEffect {
  bool applied = false;       // the queue exists and a remote side is attached
  bool hold_changed = false;  // it held or released the queue, rather than repeating its state
  bool by_store = false;      // that change took effect through the remote side's store (the word was granted to it)
};

class LocalScheduler final : public QueueListener, private Executor {
 public:
  // base_priority: the process's priority (XSCHED_PRIORITY); a queue's
  // priority beyond it is its own offset (a CUDA stream priority), which a
  // process-wide priority change keeps.
  LocalScheduler(xs_policy_t policy, int64_t default_timeslice_ns, int32_t base_priority = 0);
  // With policies made elsewhere: `make` (which must not return null) makes
  // one for each device's domain; their kind() names the local policy.
  using PolicyFactory = std::function<std::unique_ptr<Policy>()>;
  LocalScheduler(PolicyFactory make, int64_t default_timeslice_ns, int32_t base_priority = 0);
  ~LocalScheduler() override;
  LocalScheduler(const LocalScheduler&) = delete;
  LocalScheduler& operator=(const LocalScheduler&) = delete;

  // The queue must be removed before it is destroyed.
  void add(XQueue& q);
  void remove(XQueue& q);

  // The local policy (while attached, it takes effect at detach()).
  xs_result_t set_policy(xs_policy_t policy);
  xs_policy_t policy() const;

  // Hands decisions to link (which must outlive the attachment): the local
  // engine releases its holds, and every queue is reported to link.
  void attach(RemoteLink* link);
  // Takes decisions back: releases every hold the remote side applied and
  // decides locally again. Idempotent.
  void detach();
  bool attached() const;

  // Spatial reservation: queues below the top priority run their kernels on
  // a partition of the device while a more urgent queue is ready and for
  // linger_ns after (reserve_rule.h), where their hardware queues can.
  // Under the priority policy, and while attached. Off until called; a
  // second call changes nothing.
  void enable_reservation(int64_t linger_ns);
  // Applies a decision of the remote side (nothing if the queue is gone or
  // nothing is attached: `applied` false).
  RemoteEffect apply_decision(const RemoteDecision& d);
  // Changes the hints of queue `id`, or with id 0 of every queue and of
  // those added later. Returns false for an unknown queue.
  bool apply_hints(uint64_t id, const HintsOverride& change);

  void on_queue_changed(XQueue& q) override;

  // Scheduling domains (devices) that have queues now.
  std::size_t domains() const;
  // Calls visit for each queue, with the scheduler's lock held: visit must
  // not call into the scheduler. For readers of every queue (the metrics
  // file), not for a hot path.
  void visit_queues(const std::function<void(const XQueue&)>& visit) const;

 private:
  // One device's queues and their scheduling: the engine and its policy,
  // the window and reservation rules' view, the timer's next decision.
  struct Domain {
    Domain(std::unique_ptr<Policy> policy, Executor& exec) : engine(std::move(policy), exec) {}
    Engine engine;
    std::optional<ReserveRule> reserve;
    std::unordered_set<uint64_t> used;  // its queues that have had work at least once
    std::size_t members = 0;
    int64_t deadline_ns = 0;  // when the engine wants to decide again; 0: never
    int64_t decided_ns = 0;   // when the timer's last decision for it ended
  };
  // The policy a new domain starts with: the local one, or none while attached.
  std::unique_ptr<Policy> policy_locked() const;
  Domain& join_domain_locked(const XQueue& q);
  void leave_domain_locked(uint64_t id);
  Domain& domain_locked(uint64_t id) { return *domain_of_.at(id); }

  void suspend(uint64_t id) override;
  void resume(uint64_t id) override;
  void schedule_timer_locked(Domain& d, int64_t deadline_ns);
  void update_windows_locked(Domain& d);
  // The reservation rule's view of q, then its decisions applied.
  void update_reserve_locked(Domain& d, const XQueue& q, int64_t now);
  void apply_reserve_locked(Domain& d);
  // exact: the priority as given; otherwise the process's base, plus the queue's offset.
  void change_hints_locked(XQueue& q, const HintsOverride& change, bool exact);
  void timer_main();

  const int64_t default_timeslice_ns_;
  const int32_t base_priority_;
  PolicyFactory make_policy_;  // null: make_policy(local_policy_)
  mutable std::mutex mu_;
  std::condition_variable timer_cv_;
  xs_policy_t local_policy_;
  std::unordered_map<DeviceId, std::unique_ptr<Domain>, DeviceIdHash> domains_;
  std::unordered_map<uint64_t, Domain*> domain_of_;    // each queue's domain
  std::unordered_map<uint64_t, XQueue*> queues_;
  std::unordered_map<uint64_t, int32_t> priorities_;  // as last seen, to notice changes
  std::unordered_map<uint64_t, int32_t> offsets_;     // priority beyond the process's, at add
  HintsOverride process_hints_;                       // applies to queues added later too
  std::optional<int64_t> reserve_linger_ns_;          // reservation on, with this linger
  RemoteLink* remote_ = nullptr;
  std::unordered_set<uint64_t> remote_held_;          // queues the remote side holds
  bool stopping_ = false;
  std::thread timer_;
};

// The process's scheduler, configured from the environment on first use
// (and, unless XSCHED_SCHEDULER=local, linked to xschedd when one runs). It
// lives until the process exits.
LocalScheduler& process_scheduler();

}  // namespace xsched

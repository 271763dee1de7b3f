// xschedd's decisions: stored in the queues' gate words as the engine makes
// them, then published on the boards, ringing each process once.
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "core/log.h"
#include "core/timeline.h"
#include "daemon/daemon.h"
#include "sched/window_rule.h"

namespace xsched::daemon {

using namespace ipc;

void Daemon::bind_gate(Client& c, uint32_t i, GateRef ref) {
  Slot& s = c.slots[i];
  uint32_t* word = nullptr;
  if (s.queue_id != 0 && ref.page != 0 && c.gate_pages[ref.page] != nullptr) word = c.gate_pages[ref.page] + ref.index;
  // Read with every change of the slot, on the way to a decision: the rest
  // only when the binding changes.
  if (word == s.gate) return;
  s.gate = word;
  if (word == nullptr) return;
  // A word passes to a new queue when the old one is gone: the newest slot
  // to name it has it, so the daemon never stores for a queue that left.
  for (uint32_t j = 0; j < c.slots.size(); ++j) {
    if (j != i && c.slots[j].gate == word) c.slots[j].gate = nullptr;
  }
}

void Daemon::suspend(uint64_t number) { decide_queue(number, false); }

void Daemon::resume(uint64_t number) { decide_queue(number, true); }

// Records the engine's decision for the queue; after_decisions() publishes it.
void Daemon::decide_queue(uint64_t number, bool run) {
  auto it = queues_.find(number);
  if (it == queues_.end()) return;
  Slot& s = it->second.client->slots[it->second.slot];
  s.run = run;
  mark_dirty(*it->second.client, it->second.slot);
  s.cause_ns = cause_ns_;
  if (!run) ++s.suspensions;
  if (s.domain != nullptr) ++s.domain->decisions;
  if (s.gate != nullptr) {
    // The decision takes effect here, before any process wakes up: the word
    // closes (or opens) the queue's gate if its process granted it.
    std::atomic_ref<uint32_t> word(*s.gate);
    if (run) {
      word.fetch_or(gates::kDaemonRuns, std::memory_order_seq_cst);
    } else {
      word.fetch_and(~gates::kDaemonRuns, std::memory_order_seq_cst);
    }
  }
  if (timeline::enabled()) {
    uint64_t flow = 0;
    const timeline::Reason why = timeline::current_reason(run ? nullptr : &flow);
    timeline::record(run ? timeline::Event::kRelease : timeline::Event::kHold, number, why, flow);
    if (s.gate != nullptr) timeline::record(run ? timeline::Event::kGateOpen : timeline::Event::kGateClose, number);
  }
  decided_.emplace_back(&s, s.gate != nullptr);
}

// One clock read for all of an engine call's decisions, after its last
// store: a clock read per queue cost more than the store itself (a hold of
// 124 queues took 4 µs, most of it reading the clock), and a time taken
// after every store is never earlier than the store it stands for.
void Daemon::stamp_decisions() {
  if (decided_.empty()) return;
  const int64_t now = now_ns();
  bool stored = false;
  for (auto [s, into_gate] : decided_) {
    if (s->run != s->since_run) {
      // The time of the decision that ends, counted once per change.
      (s->since_run ? s->running_ns : s->held_ns) += now - s->since_ns;
      s->since_ns = now;
      s->since_run = s->run;
    }
    s->decided_ns = now;
    if (into_gate) s->stored_ns = now;
    stored = stored || into_gate;
  }
  decided_.clear();
  if (stored && phases_ != nullptr) phases_->last_store_ns = now;
}

void Daemon::mark_dirty(Client& c, uint32_t i) {
  Slot& s = c.slots[i];
  if (s.dirty) return;
  s.dirty = true;
  dirty_.push_back(QueueRef{&c, i});
}

// Windows follow the decisions (window_rule.h), then every changed slot is
// written to its board and each process whose board changed is rung once.
// The work is the changed slots' and the rings', not every queue's: the
// bounds are computed again only when the rule's inputs moved.
void Daemon::after_decisions() {
  if (!engine_ran_ && dirty_.empty()) return;
  engine_ran_ = false;
  int64_t t0 = phase_start();
  for (const auto& [device, d] : domains_) {
    if (d->windows_policy != d->engine.policy_changes()) windows_stale_ = true;
  }
  if (windows_stale_) update_windows();
  phase_end(Phase::kWindows, t0);
  t0 = phase_start();
  publish();
  phase_end(Phase::kPublish, t0);
  ring_clients();
}

void Daemon::update_windows() {
  windows_stale_ = false;
  // Windows follow each device's own queues.
  for (auto& [device, d] : domains_) {
    d->windows = WindowContext{};
    d->windows_policy = d->engine.policy_changes();
  }
  for (Client* c : boards_) {
    for (const Slot& s : c->slots) {
      if (s.queue_id == 0 || !s.used || s.domain == nullptr) continue;
      ++s.domain->windows.used;
      s.domain->windows.top_priority = std::max(s.domain->windows.top_priority, s.hints.priority);
    }
  }
  for (Client* c : boards_) {
    for (uint32_t i = 0; i < c->slots.size(); ++i) {
      Slot& s = c->slots[i];
      if (s.queue_id == 0 || s.domain == nullptr) continue;
      const bool bounded = s.domain->engine.policy().window_bounded(s.domain->windows, s.hints.priority, s.used);
      if (bounded == s.bounded) continue;
      s.bounded = bounded;
      mark_dirty(*c, i);
      if (s.cause_ns == 0) s.cause_ns = cause_ns_;
    }
  }
}

void Daemon::publish() {
  const int64_t decided = now_ns();
  for (const QueueRef& ref : dirty_) {
    Slot& s = ref.client->slots[ref.slot];
    if (!s.dirty) continue;  // published already (a slot marked twice), or forgotten
    s.dirty = false;
    if (ref.client->board == nullptr) continue;
    BoardSlot& b = ref.client->board->slot[ref.slot];
    // A seqlock: odd while the fields change (the agent skips it), even after.
    // Release stores: none of them is seen before the odd number.
    b.decision_seq.store(++s.decision_seq, std::memory_order_relaxed);
    b.decided_queue.store(s.queue_id, std::memory_order_release);
    b.run.store(s.run ? 1 : 0, std::memory_order_release);
    b.bounded.store(s.bounded ? 1 : 0, std::memory_order_release);
    b.cause_ns.store(s.cause_ns != 0 ? s.cause_ns : cause_ns_, std::memory_order_release);
    b.decided_ns.store(s.decided_ns != 0 ? s.decided_ns : decided, std::memory_order_release);
    b.stored_ns.store(s.stored_ns, std::memory_order_release);
    b.decision_seq.store(++s.decision_seq, std::memory_order_release);
    s.cause_ns = 0;
    s.decided_ns = 0;
    s.stored_ns = 0;
    if (!ref.client->ring) {
      ref.client->ring = true;
      to_ring_.push_back(ref.client);
    }
  }
  dirty_.clear();
}

// One send per process: tens of them after a decision that holds many
// processes' queues, each a system call. A change that comes in meanwhile
// (a queue of higher priority) does not wait for them all: the boards are
// looked at before each ring, and what changed is decided, stored into the
// gate words and published first (its rings join the list).
void Daemon::ring_clients() {
  if (ringing_) return;
  ringing_ = true;
  const int64_t t0 = phase_start();
  for (std::size_t i = 0; i < to_ring_.size(); ++i) {
    if (i > 0 && scan_changed_boards()) after_decisions();
    ring(*to_ring_[i]);
  }
  to_ring_.clear();
  ringing_ = false;
  phase_end(Phase::kRing, t0);
}

void Daemon::ring(Client& c) {
  if (phases_ != nullptr && phases_->on_ring != nullptr) phases_->on_ring(phases_->on_ring_arg);
  c.ring = false;
  const char one = 1;
  // A full doorbell already holds a ring the agent has not read. One that
  // fails is said once, not at every decision, until a ring goes through.
  const bool rang = send(c.to_agent, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 || errno == EAGAIN;
  if (!rang && !c.ring_failing) {
    log(LogLevel::kWarn, "cannot ring pid %d: %s (said once, until a ring goes through)", static_cast<int>(c.cred.pid),
        std::strerror(errno));
  } else if (rang && c.ring_failing) {
    log(LogLevel::kInfo, "rings pid %d again", static_cast<int>(c.cred.pid));
  }
  c.ring_failing = !rang;
}

}  // namespace xsched::daemon

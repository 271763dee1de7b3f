// xschedd's event loop, and what it reads from the processes' boards.
#include "daemon/daemon.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/clock.h"
#include "core/config.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "core/platform_list.h"
#include "core/timeline.h"
#include "daemon/untrusted_input.h"
#include "sched/policy.h"

namespace xsched::daemon {
namespace {

using namespace ipc;

constexpr std::size_t kRecentLatencies = 64;
// What one reply can carry.
constexpr std::size_t kMaxSamples = (kMaxPayload - sizeof(SamplesHead)) / sizeof(Sample);

}  // namespace

Daemon::Daemon(Options opts) : opts_(std::move(opts)), policy_(opts_.policy) {
  started_ns_ = now_ns();
  started_unix_s_ = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  socket_named_ = !opts_.socket.empty();
  if (!socket_named_) opts_.socket = daemon_socket_path();
}

Daemon::~Daemon() {
  for (auto& [fd, c] : clients_) {
    if (c->board != nullptr) munmap(c->board, sizeof(Board));
    for (int f : {c->fd, c->to_daemon, c->to_agent}) {
      if (f >= 0) close(f);
    }
  }
  for (int f : {listen_fd_, epoll_fd_, stop_fd_, heartbeat_fd_, policy_timer_fd_}) {
    if (f >= 0) close(f);
  }
  if (socket_made_) unlink(opts_.socket.c_str());
}

void Daemon::stop() {
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof one) < 0) return;
}

int Daemon::run() {
  log(LogLevel::kInfo, "serving %s with the %s policy", opts_.socket.c_str(), policy_name(opts_.policy));
  if (!opts_.timeline.empty()) {
    if (timeline::init(opts_.timeline)) {
      log(LogLevel::kInfo, "writing the decisions' timeline to %s at exit and on SIGUSR2", opts_.timeline.c_str());
    } else {
      log(LogLevel::kWarn, "no timeline: it could not be set up");
    }
  }
  // SIGUSR2 asks for the timeline; without one it must not end the daemon.
  if (!timeline::enabled()) std::signal(SIGUSR2, SIG_IGN);
  epoll_event events[64];
  for (;;) {
    if (opts_.busy_poll) poll_boards();
    // Connections with requests left from their turn are served without sleeping.
    const int n = epoll_wait(epoll_fd_, events, 64, opts_.busy_poll || !pending_.empty() ? 0 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log(LogLevel::kError, "epoll_wait: %s", std::strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      // A change waits for one event at most, not for the whole batch (the
      // doorbells of processes that answer a decision, say).
      if (opts_.busy_poll && i > 0) poll_boards();
      const int fd = events[i].data.fd;
      if (fd == stop_fd_) {
        log(LogLevel::kInfo, "stopping");
        timeline::flush();
        return 0;
      }
      if (fd == listen_fd_) {
        accept_clients();
      } else if (fd == heartbeat_fd_) {
        uint64_t ticks;
        if (read(fd, &ticks, sizeof ticks) > 0) heartbeat();
      } else if (fd == policy_timer_fd_) {
        uint64_t ticks;
        if (read(fd, &ticks, sizeof ticks) > 0) {
          cause_ns_ = now_ns();
          decide_due(cause_ns_);
        }
      } else if (metrics_ != nullptr && fd == metrics_->wake_fd()) {
        publish_metrics();
      } else if (auto d = doorbells_.find(fd); d != doorbells_.end()) {
        // Drained first: a ring after this read finds the board's newer state.
        char drain[256];
        while (recv(fd, drain, sizeof drain, MSG_DONTWAIT) > 0) {
        }
        scan_board(*d->second);
      } else if (auto it = clients_.find(fd); it != clients_.end()) {
        Client& c = *it->second;
        const uint32_t ev = events[i].events;
        if ((ev & EPOLLOUT) != 0) flush(c);
        if (c.fd >= 0 && (ev & EPOLLIN) != 0) {
          serve(c);
        } else if (c.fd >= 0 && (ev & (EPOLLHUP | EPOLLERR)) != 0) {
          // Not reading it (its replies are backed up), and it is gone.
          drop(c, "closed before reading its replies");
        }
      }
      finish_event();
    }
    serve_pending();
    heartbeat_if_due();
    finish_event();
  }
}

void Daemon::finish_event() {
  after_decisions();
  // A later event of this batch may name a dropped client's old fds: they
  // are gone from the maps, so it finds nothing (or a new client with
  // nothing to read).
  for (int gone : dropped_) clients_.erase(gone);
  dropped_.clear();
}

void Daemon::heartbeat_if_due() {
  if (now_ns() - last_beat_ns_ > opts_.heartbeat_ns) heartbeat();
}

void Daemon::heartbeat() {
  const int64_t now = now_ns();
  last_beat_ns_ = now;
  if (accept_paused_ && watch(listen_fd_)) accept_paused_ = false;
  for (auto& [fd, c] : clients_) {
    if (c->lingering && now - c->since_ns > 1'000'000'000) drop(*c, "refused");
    if (c->board == nullptr) continue;
    c->board->heartbeat_ns.store(now, std::memory_order_release);
    harvest_samples(*c);
    check_stall(*c, now);
  }
}

// A process whose agent stopped stamping its board cannot run its queues:
// were they still ready, a stopped program would hold every other one back
// until it is continued. While it is silent its queues count as idle; they
// count again at its first stamp.
void Daemon::check_stall(Client& c, int64_t now) {
  const int64_t beat = c.board->agent_beat_ns.load(std::memory_order_acquire);
  const bool stalled = beat < now - opts_.stall_ns;  // a stamp from the future counts as one now
  if (stalled == c.stalled) return;
  c.stalled = stalled;
  log(LogLevel::kInfo,
      stalled ? "pid %d (%s) has not answered for %lld ms: its queues hold no one back until it does"
              : "pid %d (%s) answers again",
      static_cast<int>(c.cred.pid), printable_text(c.name).c_str(), static_cast<long long>((now - beat) / 1'000'000));
  cause_ns_ = now;
  for (const Slot& s : c.slots) {
    if (s.queue_id == 0) continue;
    const timeline::Cause cause(timeline::Reason::kPolicy, s.number);
    Domain& d = domain(s.device_id);
    engine_ran(d, d.engine.update(s.number, s.ready && !stalled, s.hints, now));
  }
}

bool Daemon::scan_changed_boards() {
  bool any = false;
  for (Client* c : boards_) {
    if (c->board == nullptr) continue;
    // One load per process: a queue's change is seen as soon as its process
    // wrote it, before its doorbell's ring makes its way through the socket.
    if (c->board->changes.load(std::memory_order_acquire) == c->changes_seen) continue;
    scan_board(*c);
    any = true;
  }
  return any;
}

void Daemon::poll_boards() {
  // Every process's changes first, then one publication and one ring per
  // process told: the stores into gate words happen during the scans.
  if (scan_changed_boards()) after_decisions();
}

int64_t Daemon::now_phase_ns() { return now_ns(); }

void Daemon::scan_board(Client& c) {
  if (c.board == nullptr) return;
  const int64_t now = now_ns();
  const int64_t t0 = phase_start();
  // Read before the slots: a change written after them moves it again.
  c.changes_seen = c.board->changes.load(std::memory_order_acquire);
  const uint32_t used = std::min(c.board->slots_used.load(std::memory_order_acquire), kBoardSlots);
  // A queue's state is made when its process first uses its slot.
  if (c.slots.size() < used) c.slots.resize(used);
  for (uint32_t i = 0; i < used; ++i) {
    const uint64_t seq = c.board->slot[i].state_seq.load(std::memory_order_acquire);
    Slot& s = c.slots[i];
    if (seq == s.seen_seq) continue;
    s.seen_seq = seq;
    read_slot(c, i, now);
  }
  phase_end(Phase::kScan, t0);
}

// What the agent wrote into one slot (untrusted: every value is bounded).
SlotReading read_board_slot(const BoardSlot& b, int64_t now) {
  SlotReading r;
  const uint64_t id = b.queue_id.load(std::memory_order_relaxed);
  r.queue_id = id;
  if (id == 0) return r;
  const xs_hints_t h = clamp_hints({b.priority.load(std::memory_order_relaxed), b.share.load(std::memory_order_relaxed),
                                    b.timeslice_ns.load(std::memory_order_relaxed),
                                    b.deadline_ns.load(std::memory_order_relaxed)});
  const bool ready = b.ready.load(std::memory_order_relaxed) != 0;
  r.ready = ready;
  r.hints = h;
  r.level = b.level.load(std::memory_order_relaxed);
  r.platform = b.platform.load(std::memory_order_relaxed);
  r.device = b.device.load(std::memory_order_relaxed);
  const uint64_t uuid[2] = {b.device_uuid[0].load(std::memory_order_relaxed),
                            b.device_uuid[1].load(std::memory_order_relaxed)};
  std::memcpy(r.device_id.uuid.data(), uuid, sizeof uuid);
  uint64_t name[4];
  for (std::size_t k = 0; k < 4; ++k) name[k] = b.device_name[k].load(std::memory_order_relaxed);
  std::memcpy(r.device_name.data(), name, sizeof name);
  r.device_name.back() = '\0';
  r.submitted = b.submitted.load(std::memory_order_relaxed);
  r.completed = b.completed.load(std::memory_order_relaxed);
  // The cause of what follows: when the process saw the change (a clock
  // that claims the future or the distant past is not believed; the age in
  // unsigned arithmetic, which has it for any two clock values).
  const int64_t changed = b.changed_ns.load(std::memory_order_relaxed);
  const bool believed = changed <= now && static_cast<uint64_t>(now) - static_cast<uint64_t>(changed) <
                                              static_cast<uint64_t>(kMaxCauseAgeNs);
  r.cause_ns = believed ? changed : now;
  r.gate = read_gate_ref(b);
  return r;
}

GateRef read_gate_ref(const BoardSlot& b) {
  const uint32_t page = b.gate_page.load(std::memory_order_relaxed);
  const uint32_t index = b.gate_index.load(std::memory_order_relaxed);
  if (page < 1 || page > gates::kMaxPages || index >= gates::kWordsPerPage) return GateRef{};
  return GateRef{page, index};
}

// Tells the engine what the agent wrote into slot i.
void Daemon::read_slot(Client& c, uint32_t i, int64_t now) {
  const SlotReading r = read_board_slot(c.board->slot[i], now);
  Slot& s = c.slots[i];
  if (r.queue_id != s.queue_id && s.queue_id != 0) forget_slot(c, i, now);
  if (r.queue_id == 0) return;
  s.level = r.level;
  s.platform = r.platform;
  s.device = r.device;
  s.submitted = r.submitted;
  s.completed = r.completed;
  cause_ns_ = r.cause_ns;
  const bool fresh = r.queue_id != s.queue_id;
  if (fresh) {
    s.queue_id = r.queue_id;  // bind_gate needs it
    s.device_id = r.device_id;  // a queue's device is its own for good
    s.device_name = r.device_name;
  }
  bind_gate(c, i, r.gate);
  const bool used = s.used || r.ready;
  // Holds this change makes get an arrow from its queue's track (--timeline).
  const timeline::Cause cause(timeline::Reason::kPolicy, fresh ? next_number_ : s.number);
  if (fresh || used != s.used || r.hints.priority != s.hints.priority) windows_stale_ = true;
  s.ready = r.ready;
  s.hints = r.hints;
  s.used = used;
  if (fresh) {
    s.number = next_number_++;
    s.run = true;
    s.since_run = true;
    s.bounded = true;
    mark_dirty(c, i);  // tell the agent where it stands
    s.suspensions = 0;
    s.recent_ns.clear();
    s.recent_next = 0;
    s.since_ns = now;
    s.held_ns = 0;
    s.running_ns = 0;
    queues_[s.number] = QueueRef{&c, i};
    Domain& d = domain(s.device_id);
    if (d.members == 0) {
      d.platform = r.platform;
      d.name = r.device_name;
    }
    ++d.members;
    s.domain = &d;
    if (timeline::enabled()) name_track(c, s);
    const int64_t t0 = phase_start();
    engine_ran(d, d.engine.add(s.number, r.ready && !c.stalled, r.hints, now));
    phase_end(Phase::kEngine, t0);
  } else {
    Domain& d = s.domain != nullptr ? *s.domain : domain(s.device_id);  // its own, without a lookup
    const int64_t t0 = phase_start();
    engine_ran(d, d.engine.update(s.number, r.ready && !c.stalled, r.hints, now));
    phase_end(Phase::kEngine, t0);
  }
}

void Daemon::name_track(const Client& c, const Slot& s) {
  std::string name = "pid " + std::to_string(c.cred.pid) + " (" + printable_text(c.name) + "), queue " +
                     std::to_string(s.number) + ", " + platform_name(s.platform);
  if (s.device >= 0) name += ":" + std::to_string(s.device);
  const std::string device = printable_text(std::string_view(s.device_name.data(), std::strlen(s.device_name.data())));
  if (!device.empty()) name += ", " + device;
  timeline::name_track(s.number, name);
}

void Daemon::forget_slot(Client& c, uint32_t i, int64_t now) {
  Slot& s = c.slots[i];
  if (s.queue_id == 0) return;
  const uint64_t number = s.number;
  // The engine resumes it if held: the executor still finds it.
  const timeline::Cause cause(timeline::Reason::kPolicy, number);
  Domain& d = domain(s.device_id);
  engine_ran(d, d.engine.remove(number, now));
  queues_.erase(number);
  windows_stale_ = true;
  if (--d.members == 0) domain_left(s.device_id);
  // The decision number keeps counting: the agent knows the slot by it.
  const uint64_t decision_seq = s.decision_seq;
  const uint64_t seen_seq = s.seen_seq;
  s = Slot{};
  s.decision_seq = decision_seq;
  s.seen_seq = seen_seq;
}

// Collects the decision latencies the agent measured (untrusted, bounded).
void Daemon::harvest_samples(Client& c) {
  const uint64_t written = c.board->samples_written.load(std::memory_order_acquire);
  if (written < c.samples_read) c.samples_read = written;  // an agent that went back is not followed
  if (written - c.samples_read > kSampleRing) c.samples_read = written - kSampleRing;
  for (; c.samples_read < written; ++c.samples_read) {
    const BoardSample& b = c.board->samples[c.samples_read % kSampleRing];
    if (b.seq.load(std::memory_order_acquire) != c.samples_read + 1) continue;
    const uint32_t slot = b.slot.load(std::memory_order_relaxed);
    const uint32_t kind = b.kind.load(std::memory_order_relaxed);
    const int64_t latency = b.latency_ns.load(std::memory_order_relaxed);
    if (slot >= c.slots.size() || (kind != 1 && kind != 2) || latency < 0 || latency > 10'000'000'000) continue;
    const int64_t to_daemon = std::clamp<int64_t>(b.daemon_ns.load(std::memory_order_relaxed), 0, latency);
    Slot& s = c.slots[slot];
    if (s.queue_id == 0) continue;
    if (s.recent_ns.size() < kRecentLatencies) {
      s.recent_ns.push_back(latency);
    } else {
      s.recent_ns[s.recent_next] = latency;
      s.recent_next = (s.recent_next + 1) % kRecentLatencies;
    }
    if (s.domain != nullptr) s.domain->latency.add(latency);
    const uint32_t by = b.by.load(std::memory_order_relaxed) == 2 ? 2 : 1;
    samples_.push_back(Sample{latency, static_cast<uint32_t>(c.cred.pid), kind, s.number, to_daemon, by, 0});
    if (samples_.size() > kMaxSamples) samples_.pop_front();
  }
}

xs_policy_t Daemon::policy_of(const DeviceId& device) const {
  const auto it = device_policy_.find(device);
  return it != device_policy_.end() ? it->second : policy_;
}

Daemon::Domain& Daemon::domain(const DeviceId& device) {
  std::unique_ptr<Domain>& d = domains_[device];
  if (!d) d = std::make_unique<Domain>(make_policy(policy_of(device), opts_.timeslice_ns), static_cast<Executor&>(*this));
  return *d;
}

void Daemon::domain_left(const DeviceId& device) {
  auto it = domains_.find(device);
  if (it == domains_.end() || it->second->members != 0) return;
  const bool timed = it->second->deadline_ns != 0;
  domains_.erase(it);
  if (timed) arm_policy_timer();
}

void Daemon::decide_due(int64_t now) {
  const timeline::Cause cause(timeline::Reason::kTimer);
  for (auto& [device, d] : domains_) {
    if (d->deadline_ns == 0 || d->deadline_ns > now) continue;
    d->deadline_ns = d->engine.decide(now);
    stamp_decisions();
    engine_ran_ = true;
  }
  arm_policy_timer();
}

void Daemon::engine_ran(Domain& d, int64_t deadline_ns) {
  stamp_decisions();
  engine_ran_ = true;
  if (deadline_ns == d.deadline_ns) return;
  d.deadline_ns = deadline_ns;
  arm_policy_timer();
}

void Daemon::arm_policy_timer() {
  int64_t deadline_ns = 0;  // the earliest over the domains
  for (const auto& [device, d] : domains_) {
    if (d->deadline_ns != 0 && (deadline_ns == 0 || d->deadline_ns < deadline_ns)) deadline_ns = d->deadline_ns;
  }
  deadline_ns = timer_due_ns(deadline_ns, now_ns());  // never a timer that fires again at once
  itimerspec t{};
  if (deadline_ns > 0) {
    t.it_value.tv_sec = deadline_ns / 1'000'000'000;
    t.it_value.tv_nsec = deadline_ns % 1'000'000'000;
  }
  // steady_clock is CLOCK_MONOTONIC on Linux; zero disarms.
  timerfd_settime(policy_timer_fd_, TFD_TIMER_ABSTIME, &t, nullptr);
}

}  // namespace xsched::daemon

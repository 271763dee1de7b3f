#include "ipc/agent.h"

#include <pthread.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "gates/gate_words.h"
#include "core/log.h"
#include "core/platform_list.h"
#include "ipc/board.h"
#include "ipc/agent_input.h"
#include "ipc/protocol.h"
#include "ipc/unix_socket.h"

namespace xsched::ipc {
namespace {

class Agent final : public RemoteLink {
 public:
  Agent(LocalScheduler& sched, AgentOptions opts) : sched_(sched), opts_(std::move(opts)) {}

  void main();
  void forget_after_fork();

  // ---- RemoteLink: called with the scheduler's lock held ----
  void queue_added(XQueue& q) override;
  void queue_changed(XQueue& q) override;
  void queue_removed(XQueue& q) override;

 private:
  bool register_once();
  void serve();
  void lose(const char* why);
  void close_link();
  void apply_decisions();
  // Registered: the mapped board and the doorbells of the Welcome (fds[1], fds[2]) become the link.
  void take_board(Board* board, const Welcome& w, const std::vector<int>& fds);
  bool handle_frames();
  void write_slot(BoardSlot& s, XQueue& q);
  void ring();
  void send_gate_pages();

  LocalScheduler& sched_;
  const AgentOptions opts_;
  int sock_ = -1;
  int to_daemon_ = -1;
  int to_agent_ = -1;
  Board* board_ = nullptr;
  FrameReader reader_;
  bool said_absent_ = false;
  bool said_foreign_ = false;
  bool said_unfit_ = false;  // about a board it could not map safely (once until it registers)
  std::string said_refused_;  // why the daemon last did not welcome it, as logged (once until that changes)
  int64_t timeout_ns_ = 0;  // opts_.timeout_ns, at least three of the daemon's heartbeats

  // Under the scheduler's lock.
  std::unordered_map<uint64_t, uint32_t> slot_of_;  // queue id -> board slot
  std::vector<uint32_t> free_slots_;
  bool said_full_ = false;

  // The agent's thread only.
  uint64_t seen_decision_[kBoardSlots] = {};
  uint32_t pages_sent_ = 0;  // gate pages 1..pages_sent_ went to the daemon
};

Agent* g_agent = nullptr;

void Agent::main() {
  for (;;) {
    try {
      if (register_once()) serve();
    } catch (...) {
      // Only allocation can fail: fail open, try again later.
      if (board_ != nullptr) lose("out of memory");
    }
    std::this_thread::sleep_for(std::chrono::nanoseconds(opts_.retry_ns));
  }
}

bool Agent::register_once() {
  int err = 0;
  // In members at once: a fork in the middle closes them in the child (forget_after_fork).
  sock_ = connect_unix(opts_.socket, &err);
  const int fd = sock_;
  if (fd < 0) {
    said_refused_.clear();
    // Only here: a daemon that answers and refuses says why itself.
    if (opts_.expect_daemon && !said_absent_) {
      log(LogLevel::kWarn, "XSCHED_SCHEDULER=daemon but no xschedd answers at %s: scheduling in-process until one does",
          opts_.socket.c_str());
      said_absent_ = true;
    }
    return false;
  }
  // Only a daemon of root or of this user may schedule the process.
  PeerCredentials peer;
  if (!peer_credentials(fd, &peer) || (peer.uid != 0 && peer.uid != geteuid())) {
    if (!said_foreign_) {
      log(LogLevel::kWarn, "the xschedd socket %s belongs to uid %u, neither root nor this user: not registering",
          opts_.socket.c_str(), static_cast<unsigned>(peer.uid));
      said_foreign_ = true;
    }
    close(fd);
    sock_ = -1;
    return false;
  }
  reader_ = FrameReader();
  std::vector<int> fds;
  Frame reply{};
  const Hello hello{kVersion, 0};
  const int r = call(fd, MsgType::kHello, bytes_of(hello), &reader_, &reply, 2000, &fds);
  Welcome w{};
  const bool ok = r == 0 && welcome_fits(reply, fds.size(), &w);
  // A board that could shrink under the mapping would end the process
  // (SIGBUS) at the next read: refused before it is mapped.
  const char* unfit = ok ? board_fd_problem(fds[0]) : nullptr;
  void* mem = MAP_FAILED;
  if (ok && unfit == nullptr) mem = mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
  if (!fds.empty()) close(fds[0]);
  if (mem == MAP_FAILED || static_cast<Board*>(mem)->magic != kBoardMagic) {
    if (r != 0 || !ok) {
      // A refused process asks again every second: its reason is said once, until it changes.
      std::string why = r != 0 ? std::strerror(r) : refusal_reason(reply);
      if (why != said_refused_) {
        log(LogLevel::kWarn, "xschedd at %s did not welcome this process (%s): scheduling in-process",
            opts_.socket.c_str(), why.c_str());
        said_refused_ = std::move(why);
      }
    } else if (unfit != nullptr && !said_unfit_) {
      said_unfit_ = true;
      log(LogLevel::kWarn, "xschedd at %s sent a board this process cannot map safely (%s): scheduling in-process",
          opts_.socket.c_str(), unfit);
    }
    if (mem != MAP_FAILED) munmap(mem, sizeof(Board));
    for (std::size_t i = 1; i < fds.size(); ++i) close(fds[i]);
    close(fd);
    sock_ = -1;
    return false;
  }
  take_board(static_cast<Board*>(mem), w, fds);
  return true;
}

void Agent::take_board(Board* board, const Welcome& w, const std::vector<int>& fds) {
  board_ = board;
  // A daemon stamps every heartbeat: never give up on it sooner than three of them.
  timeout_ns_ = daemon_timeout_ns(opts_.timeout_ns, w.heartbeat_ns);
  to_daemon_ = fds[1];
  to_agent_ = fds[2];
  // Our own ends of the doorbells (socket pairs): rings and drains use
  // MSG_DONTWAIT, and a ring to a daemon that is gone raises no SIGPIPE.
  for (std::size_t i = 3; i < fds.size(); ++i) close(fds[i]);
  std::fill(std::begin(seen_decision_), std::end(seen_decision_), 0);
  // Not attached yet: nothing else touches the slot table.
  slot_of_.clear();
  free_slots_.clear();
  for (uint32_t i = kBoardSlots; i > 0; --i) free_slots_.push_back(i - 1);
  said_full_ = false;
  said_absent_ = false;
  said_unfit_ = false;
  said_refused_.clear();
  pages_sent_ = 0;
  sched_.attach(this);
  send_gate_pages();
  log(LogLevel::kInfo, "registered with xschedd at %s", opts_.socket.c_str());
}

void Agent::serve() {
  const int64_t check_ns = std::clamp<int64_t>(timeout_ns_ / 4, 1'000'000, 50'000'000);
  // Since when this thread has watched the daemon without a gap of its own. A
  // thread that was kept off the CPU (its process stopped or frozen, a
  // starved host) cannot tell a silent daemon from its own absence: its wait
  // for a stamp starts again when it is back, and from any word of the daemon.
  int64_t watched_from = now_ns();
  for (;;) {
    const int64_t turn = now_ns();
    // The daemon reads this to know the process can still run its queues.
    board_->agent_beat_ns.store(turn, std::memory_order_release);
    pollfd p[2] = {{to_agent_, POLLIN, 0}, {sock_, POLLIN, 0}};
    const int r = poll(p, 2, static_cast<int>(check_ns / 1'000'000));
    if (r < 0 && errno != EINTR) return lose(std::strerror(errno));
    if (now_ns() - turn > 2 * check_ns) watched_from = now_ns();
    if (r > 0 && p[0].revents != 0) {
      char drain[256];
      ssize_t n;
      while ((n = recv(to_agent_, drain, sizeof drain, MSG_DONTWAIT)) > 0) {
      }
      if (n == 0) return lose("it closed its doorbell");
      watched_from = now_ns();
      apply_decisions();
    }
    if (r > 0 && p[1].revents != 0) {
      if (!handle_frames()) return;
      watched_from = now_ns();
    }
    send_gate_pages();
    // The stamp before the clock: a live daemon's is then never in the future.
    const int64_t beat = board_->heartbeat_ns.load(std::memory_order_acquire);
    if (heartbeat_late(std::max(beat, watched_from), now_ns(), timeout_ns_)) return lose("it stopped answering");
  }
}

// Gate pages made since the last look go to the daemon, which can then hold
// their words with its own stores (gates/gate_words.h).
void Agent::send_gate_pages() {
  const uint32_t count = gates::page_count();
  for (; pages_sent_ < count; ++pages_sent_) {
    const uint32_t id = pages_sent_ + 1;
    int fd = -1;
    if (!gates::page_fd(id, &fd) || fd < 0) continue;
    const GatePage page{id, static_cast<uint32_t>(gates::kPageBytes)};
    std::vector<std::byte> msg;
    encode(MsgType::kGatePage, bytes_of(page), &msg);
    const int fds[1] = {fd};
    // A daemon that cannot take it now has gone or is stuck: the heartbeat tells.
    if (!send_message(sock_, msg, fds)) return;
  }
}

bool Agent::handle_frames() {
  std::byte buf[4096];
  const long n = receive_some(sock_, buf, nullptr);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
  if (n <= 0) {
    lose("it closed the connection");
    return false;
  }
  if (reader_.feed(std::span<const std::byte>(buf, static_cast<std::size_t>(n))) == FrameReader::Status::kBad) {
    lose("it sent a malformed message");
    return false;
  }
  Frame f{};
  FrameReader::Status s;
  while ((s = reader_.next(&f)) == FrameReader::Status::kFrame) {
    HintsChange h{};
    if (f.type != MsgType::kHints || !read_exact(f.payload, &h)) continue;
    sched_.apply_hints(h.queue, hints_from_daemon(h));
  }
  if (s == FrameReader::Status::kBad) {
    lose("it sent a malformed message");
    return false;
  }
  return true;
}

void Agent::apply_decisions() {
  const uint32_t used = slots_in_use(*board_);
  for (uint32_t i = 0; i < used; ++i) {
    SlotDecision d;
    if (!read_decision(board_->slot[i], &seen_decision_[i], &d)) continue;
    const RemoteEffect e = sched_.apply_decision({d.queue, d.run, d.bounded, d.stored_ns != 0});
    if (e.hold_changed) record_sample(*board_, i, d, e.by_store, now_ns());
  }
}

void Agent::lose(const char* why) {
  log(LogLevel::kWarn, "lost xschedd at %s (%s): its holds are released and the process schedules itself until it returns",
      opts_.socket.c_str(), why);
  close_link();
}

void Agent::close_link() {
  // The daemon's holds open first, without the scheduler's lock (which a
  // launch blocked behind one of them could be keeping).
  gates::revoke_all();
  // Detached: after this no queue change touches the board.
  sched_.detach();
  munmap(board_, sizeof(Board));
  board_ = nullptr;
  for (int* fd : {&sock_, &to_daemon_, &to_agent_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void Agent::forget_after_fork() {
  // A forked child has no agent thread and must not write its parent's board.
  if (board_ != nullptr) munmap(board_, sizeof(Board));
  board_ = nullptr;
  for (int* fd : {&sock_, &to_daemon_, &to_agent_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void Agent::write_slot(BoardSlot& s, XQueue& q) {
  const xs_hints_t h = q.hints();
  s.ready.store(q.ready() ? 1 : 0, std::memory_order_relaxed);
  s.priority.store(h.priority, std::memory_order_relaxed);
  s.share.store(h.share, std::memory_order_relaxed);
  s.timeslice_ns.store(h.timeslice_ns, std::memory_order_relaxed);
  s.deadline_ns.store(h.deadline_ns, std::memory_order_relaxed);
  s.level.store(static_cast<uint32_t>(q.level()), std::memory_order_relaxed);
  s.platform.store(platform_from_name(q.platform()), std::memory_order_relaxed);
  s.device.store(q.device(), std::memory_order_relaxed);
  uint64_t uuid[2];
  std::memcpy(uuid, q.device_id().uuid.data(), sizeof uuid);
  s.device_uuid[0].store(uuid[0], std::memory_order_relaxed);
  s.device_uuid[1].store(uuid[1], std::memory_order_relaxed);
  uint64_t name[4];
  static_assert(sizeof name == sizeof(DeviceName));
  std::memcpy(name, q.device_name(), sizeof name);
  for (std::size_t k = 0; k < 4; ++k) s.device_name[k].store(name[k], std::memory_order_relaxed);
  s.submitted.store(q.submitted(), std::memory_order_relaxed);
  s.completed.store(q.completed(), std::memory_order_relaxed);
  // The board names the gate word xschedd may store into (the only external hold there is).
  const auto* w = dynamic_cast<const gates::Word*>(q.external_hold());
  s.gate_page.store(w != nullptr ? gates::page_id(*w) : 0, std::memory_order_relaxed);
  s.gate_index.store(w != nullptr ? w->index : 0, std::memory_order_relaxed);
  s.changed_ns.store(now_ns(), std::memory_order_relaxed);
  s.state_seq.fetch_add(1, std::memory_order_release);
  board_->changes.fetch_add(1, std::memory_order_release);
}

void Agent::ring() {
  const char one = 1;
  // Fails when the doorbell is full (the daemon has rings pending anyway) or
  // the daemon is gone (the agent's thread finds out): never a signal.
  if (send(to_daemon_, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) return;
}

void Agent::queue_added(XQueue& q) {
  if (board_ == nullptr) return;
  if (free_slots_.empty()) {
    if (!said_full_) {
      log(LogLevel::kWarn, "more than %u queues in this process: xschedd does not schedule the rest", kBoardSlots);
      said_full_ = true;
    }
    return;
  }
  const uint32_t i = free_slots_.back();
  free_slots_.pop_back();
  slot_of_[q.id()] = i;
  BoardSlot& s = board_->slot[i];
  s.queue_id.store(q.id(), std::memory_order_relaxed);
  write_slot(s, q);
  if (board_->slots_used.load(std::memory_order_relaxed) < i + 1) board_->slots_used.store(i + 1, std::memory_order_release);
  ring();
}

void Agent::queue_changed(XQueue& q) {
  if (board_ == nullptr) return;
  auto it = slot_of_.find(q.id());
  if (it == slot_of_.end()) return;
  write_slot(board_->slot[it->second], q);
  ring();
}

void Agent::queue_removed(XQueue& q) {
  if (board_ == nullptr) return;
  auto it = slot_of_.find(q.id());
  if (it == slot_of_.end()) return;
  BoardSlot& s = board_->slot[it->second];
  s.queue_id.store(0, std::memory_order_relaxed);
  s.ready.store(0, std::memory_order_relaxed);
  s.gate_page.store(0, std::memory_order_relaxed);
  s.state_seq.fetch_add(1, std::memory_order_release);
  board_->changes.fetch_add(1, std::memory_order_release);
  free_slots_.push_back(it->second);
  slot_of_.erase(it);
  ring();
}

}  // namespace

bool start_agent(LocalScheduler& sched, const AgentOptions& opts) {
  static std::once_flag once;
  bool started = false;
  std::call_once(once, [&] {
    try {
      g_agent = new Agent(sched, opts);
      std::thread([] {
        pthread_setname_np(pthread_self(), "xsched-agent");
        g_agent->main();
      }).detach();
      pthread_atfork(nullptr, nullptr, [] { g_agent->forget_after_fork(); });
      started = true;
    } catch (...) {
      log(LogLevel::kError, "cannot start the xschedd agent: the process schedules itself");
    }
  });
  return started;
}

}  // namespace xsched::ipc

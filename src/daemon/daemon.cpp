#include "daemon/daemon.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>

#include "core/clock.h"
#include "core/config.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "sched/policy.h"
#include "sched/window_rule.h"

namespace xsched::daemon {
namespace {

using namespace ipc;

constexpr std::size_t kRecentLatencies = 64;
// What one reply can carry.
constexpr std::size_t kMaxSamples = (kMaxPayload - sizeof(SamplesHead)) / sizeof(Sample);

std::string errno_text(int e) { return std::strerror(e); }

std::string process_name(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(f, name);
  return name.empty() ? "?" : name;
}

// The directory that holds the socket must be the daemon's own (or root's)
// and writable by nobody else, so that no one can put a socket of theirs in
// its place.
bool prepare_directory(const std::string& dir, gid_t group, bool with_group, std::string* err) {
  const mode_t mode = with_group ? 0750 : 0700;
  if (mkdir(dir.c_str(), mode) == 0) {
    if (with_group && chown(dir.c_str(), static_cast<uid_t>(-1), group) != 0) {
      *err = "cannot give " + dir + " to its group: " + errno_text(errno);
      return false;
    }
    // mkdir's mode passes through the umask.
    if (chmod(dir.c_str(), mode) != 0) {
      *err = "cannot set the mode of " + dir + ": " + errno_text(errno);
      return false;
    }
    return true;
  }
  if (errno != EEXIST) {
    *err = "cannot create " + dir + ": " + errno_text(errno);
    return false;
  }
  struct stat st{};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *err = dir + " exists and is not a directory";
    return false;
  }
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    *err = dir + " belongs to uid " + std::to_string(st.st_uid) + ": refusing to serve from it";
    return false;
  }
  if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    *err = dir + " is writable by everyone: refusing to serve from it";
    return false;
  }
  return true;
}

bool add_to_epoll(int epfd, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

}  // namespace

Daemon::Daemon(Options opts) : opts_(std::move(opts)), engine_(make_policy(opts_.policy, opts_.timeslice_ns), *this) {
  if (opts_.socket.empty()) opts_.socket = daemon_socket_path();
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

bool Daemon::open(std::string* err) {
  gid_t gid = 0;
  const bool with_group = !opts_.group.empty();
  if (with_group) {
    const group* g = getgrnam(opts_.group.c_str());
    if (g == nullptr) {
      *err = "no group named '" + opts_.group + "'";
      return false;
    }
    gid = g->gr_gid;
  }
  sockaddr_un addr{};
  if (opts_.socket.size() >= sizeof addr.sun_path) {
    *err = "socket path too long: " + opts_.socket;
    return false;
  }
  const auto slash = opts_.socket.rfind('/');
  if (slash != std::string::npos && slash != 0 &&
      !prepare_directory(opts_.socket.substr(0, slash), gid, with_group, err)) {
    return false;
  }
  // A live daemon keeps its socket; a stale one is replaced.
  int e = 0;
  const int probe = connect_unix(opts_.socket, &e);
  if (probe >= 0) {
    close(probe);
    *err = "another xschedd is serving " + opts_.socket;
    return false;
  }
  struct stat st{};
  if (lstat(opts_.socket.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *err = opts_.socket + " exists and is not a socket";
      return false;
    }
    unlink(opts_.socket.c_str());
  }
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) {
    *err = "socket: " + errno_text(errno);
    return false;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, opts_.socket.c_str(), opts_.socket.size() + 1);
  // Owner-only from the start: no moment where others could connect.
  const mode_t old_mask = umask(0177);
  const int b = bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  umask(old_mask);
  if (b != 0) {
    *err = "cannot bind " + opts_.socket + ": " + errno_text(bind_errno);
    return false;
  }
  socket_made_ = true;
  if (with_group && (chown(opts_.socket.c_str(), static_cast<uid_t>(-1), gid) != 0 || chmod(opts_.socket.c_str(), 0660) != 0)) {
    *err = "cannot give " + opts_.socket + " to group " + opts_.group + ": " + errno_text(errno);
    return false;
  }
  if (listen(listen_fd_, 128) != 0) {
    *err = "listen: " + errno_text(errno);
    return false;
  }
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  heartbeat_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  policy_timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (epoll_fd_ < 0 || stop_fd_ < 0 || heartbeat_fd_ < 0 || policy_timer_fd_ < 0) {
    *err = "cannot set up the event loop: " + errno_text(errno);
    return false;
  }
  itimerspec beat{};
  beat.it_interval.tv_sec = opts_.heartbeat_ns / 1'000'000'000;
  beat.it_interval.tv_nsec = opts_.heartbeat_ns % 1'000'000'000;
  beat.it_value = beat.it_interval;
  timerfd_settime(heartbeat_fd_, 0, &beat, nullptr);
  for (int fd : {listen_fd_, stop_fd_, heartbeat_fd_, policy_timer_fd_}) {
    if (!add_to_epoll(epoll_fd_, fd)) {
      *err = "epoll: " + errno_text(errno);
      return false;
    }
  }
  return true;
}

void Daemon::stop() {
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof one) < 0) return;
}

int Daemon::run() {
  log(LogLevel::kInfo, "serving %s with the %s policy", opts_.socket.c_str(), policy_name(opts_.policy));
  epoll_event events[64];
  for (;;) {
    if (opts_.busy_poll) poll_boards();
    const int n = epoll_wait(epoll_fd_, events, 64, opts_.busy_poll ? 0 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log(LogLevel::kError, "epoll_wait: %s", std::strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_fd_) {
        log(LogLevel::kInfo, "stopping");
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
          engine_ran(engine_.decide(cause_ns_));
        }
      } else if (auto d = doorbells_.find(fd); d != doorbells_.end()) {
        // Drained first: a ring after this read finds the board's newer state.
        char drain[256];
        while (recv(fd, drain, sizeof drain, MSG_DONTWAIT) > 0) {
        }
        scan_board(*d->second);
      } else if (auto it = clients_.find(fd); it != clients_.end()) {
        Client& c = *it->second;
        if ((events[i].events & EPOLLOUT) != 0) flush(c);
        if (c.fd >= 0 && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) on_readable(c);
      }
      after_decisions();
      // A later event of this batch may name a dropped client's old fds:
      // they are gone from the maps, so it finds nothing (or a new client
      // with nothing to read).
      for (int gone : dropped_) clients_.erase(gone);
      dropped_.clear();
    }
  }
}

void Daemon::accept_clients() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // The connection stays queued: stop listening until the next
        // heartbeat instead of waking for it again at once.
        log(LogLevel::kWarn, "out of file descriptors: not accepting connections for a while");
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
        accept_paused_ = true;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        log(LogLevel::kWarn, "accept: %s", std::strerror(errno));
      }
      return;
    }
    auto c = std::make_unique<Client>();
    c->fd = fd;
    if (!peer_credentials(fd, &c->cred) || !add_to_epoll(epoll_fd_, fd)) {
      close(fd);
      continue;
    }
    c->since_ns = now_ns();
    clients_[fd] = std::move(c);
  }
}

void Daemon::on_readable(Client& c) {
  std::byte buf[16384];
  // Only a registered agent passes descriptors (its gate pages); others' are closed unread.
  const long n = receive_some(c.fd, buf, c.agent ? &c.fds_in : nullptr);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) return drop(c, n == 0 ? "closed" : std::strerror(errno));
  if (c.fds_in.size() > 4) return drop(c, "sent descriptors without messages for them");
  if (c.reader.feed(std::span<const std::byte>(buf, static_cast<std::size_t>(n))) == FrameReader::Status::kBad) {
    return drop(c, "sent more than one message can hold");
  }
  Frame f{};
  FrameReader::Status s;
  while ((s = c.reader.next(&f)) == FrameReader::Status::kFrame) {
    handle_frame(c, f);
    if (c.fd < 0) return;  // dropped
  }
  if (s == FrameReader::Status::kBad) drop(c, "sent a malformed message");
}

void Daemon::handle_frame(Client& c, const Frame& f) {
  if (c.agent) {
    GatePage page{};
    if (f.type != MsgType::kGatePage) return drop(c, "an agent sent a request");
    if (!read_exact(f.payload, &page) || !map_gate_page(c, page)) return drop(c, "sent a bad gate page");
    return;
  }
  switch (f.type) {
    case MsgType::kHello: {
      Hello h{};
      if (!read_exact(f.payload, &h)) return drop(c, "sent a malformed hello");
      if (h.version != kVersion) {
        reply_error(c, EPROTO, "protocol version mismatch");
        return drop(c, "speaks another protocol version");
      }
      if (!welcome(c)) drop(c, "could not be registered");
      return;
    }
    case MsgType::kList:
      if (!f.payload.empty()) break;
      return handle_list(c);
    case MsgType::kHints: {
      HintsChange h{};
      if (!read_exact(f.payload, &h)) break;
      return handle_hints(c, h);
    }
    case MsgType::kGetPolicy:
      if (!f.payload.empty()) break;
      return handle_policy(c, nullptr);
    case MsgType::kSetPolicy: {
      PolicyMsg p{};
      if (!read_exact(f.payload, &p)) break;
      return handle_policy(c, &p);
    }
    case MsgType::kSamples: {
      SamplesRequest r{};
      if (!read_exact(f.payload, &r)) break;
      return handle_samples(c, r);
    }
    default:
      break;
  }
  reply_error(c, EPROTO, "malformed or unexpected request");
  drop(c, "sent a malformed or unexpected request");
}

bool Daemon::welcome(Client& c) {
  const int mem = memfd_create("xsched-board", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mem < 0) return false;
  void* p = MAP_FAILED;
  if (ftruncate(mem, sizeof(Board)) == 0) p = mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE, MAP_SHARED, mem, 0);
  // Sealed, the process cannot shrink the board under the daemon's reads.
  if (p == MAP_FAILED || fcntl(mem, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    if (p != MAP_FAILED) munmap(p, sizeof(Board));
    close(mem);
    return false;
  }
  auto* board = static_cast<Board*>(p);  // zero-filled by the kernel
  board->magic = kBoardMagic;
  board->slots = kBoardSlots;
  board->heartbeat_ns.store(now_ns(), std::memory_order_release);
  // Doorbells are datagram socket pairs: the daemon keeps its own end, a
  // file description the process cannot make blocking (an eventfd handed
  // over would share its O_NONBLOCK flag), and a ring to a closed end is an
  // error, not SIGPIPE (which a pipe would raise in the process).
  int to_daemon[2] = {-1, -1};
  int to_agent[2] = {-1, -1};
  const int type = SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK;
  const bool piped = socketpair(AF_UNIX, type, 0, to_daemon) == 0 && socketpair(AF_UNIX, type, 0, to_agent) == 0;
  c.to_daemon = to_daemon[0];
  c.to_agent = to_agent[1];
  c.board = board;
  c.agent = true;
  c.name = process_name(c.cred.pid);
  c.since_ns = now_ns();
  c.slots = std::make_unique<std::array<Slot, kBoardSlots>>();
  bool ok = piped && add_to_epoll(epoll_fd_, c.to_daemon);
  if (ok) {
    doorbells_[c.to_daemon] = &c;
    Welcome w{kVersion, kBoardSlots, sizeof(Board), opts_.heartbeat_ns, static_cast<uint32_t>(c.cred.pid), 0};
    std::vector<std::byte> msg;
    encode(MsgType::kWelcome, bytes_of(w), &msg);
    const int fds[3] = {mem, to_daemon[1], to_agent[0]};
    ok = send_message_now(c.fd, msg, fds);
  }
  close(mem);
  for (int f : {to_daemon[1], to_agent[0]}) {
    if (f >= 0) close(f);
  }
  if (ok) log(LogLevel::kInfo, "registered pid %d (%s), uid %u", static_cast<int>(c.cred.pid), c.name.c_str(), c.cred.uid);
  return ok;
}

void Daemon::drop(Client& c, const char* why) {
  if (c.fd < 0) return;
  if (c.agent) {
    log(LogLevel::kInfo, "pid %d (%s) left: %s", static_cast<int>(c.cred.pid), c.name.c_str(), why);
    const int64_t now = now_ns();
    cause_ns_ = now;
    for (uint32_t i = 0; i < kBoardSlots; ++i) {
      if ((*c.slots)[i].queue_id != 0) forget_slot(c, i, now);
    }
    if (c.to_daemon >= 0) {
      doorbells_.erase(c.to_daemon);
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.to_daemon, nullptr);
    }
  } else if (std::strcmp(why, "closed") != 0) {
    log(LogLevel::kInfo, "connection of pid %d dropped: %s", static_cast<int>(c.cred.pid), why);
  }
  if (c.board != nullptr) munmap(c.board, sizeof(Board));
  c.board = nullptr;
  for (uint32_t*& page : c.gate_pages) {
    if (page != nullptr) munmap(page, gates::kPageBytes);
    page = nullptr;
  }
  if (c.slots != nullptr) {
    for (Slot& s : *c.slots) s.gate = nullptr;
  }
  for (int f : c.fds_in) close(f);
  c.fds_in.clear();
  for (int* f : {&c.to_daemon, &c.to_agent}) {
    if (*f >= 0) close(*f);
    *f = -1;
  }
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  close(c.fd);
  // Freed once the event being served is done with it.
  dropped_.push_back(c.fd);
  c.fd = -1;
}

void Daemon::poll_boards() {
  for (auto& [fd, c] : clients_) {
    if (c->board == nullptr) continue;
    // One load per process: a queue's change is seen as soon as its process
    // wrote it, before its doorbell's ring makes its way through the socket.
    const uint64_t changes = c->board->changes.load(std::memory_order_acquire);
    if (changes == c->changes_seen) continue;
    c->changes_seen = changes;
    scan_board(*c);
    after_decisions();
  }
}

void Daemon::scan_board(Client& c) {
  if (c.board == nullptr) return;
  const int64_t now = now_ns();
  const uint32_t used = std::min(c.board->slots_used.load(std::memory_order_acquire), kBoardSlots);
  for (uint32_t i = 0; i < used; ++i) {
    const uint64_t seq = c.board->slot[i].state_seq.load(std::memory_order_acquire);
    Slot& s = (*c.slots)[i];
    if (seq == s.seen_seq) continue;
    s.seen_seq = seq;
    read_slot(c, i, now);
  }
}

// Reads what the agent wrote into slot i (untrusted: every value is bounded)
// and tells the engine.
void Daemon::read_slot(Client& c, uint32_t i, int64_t now) {
  BoardSlot& b = c.board->slot[i];
  Slot& s = (*c.slots)[i];
  const uint64_t id = b.queue_id.load(std::memory_order_relaxed);
  if (id != s.queue_id && s.queue_id != 0) forget_slot(c, i, now);
  if (id == 0) return;
  const xs_hints_t h = clamp_hints({b.priority.load(std::memory_order_relaxed), b.share.load(std::memory_order_relaxed),
                                    b.timeslice_ns.load(std::memory_order_relaxed),
                                    b.deadline_ns.load(std::memory_order_relaxed)});
  const bool ready = b.ready.load(std::memory_order_relaxed) != 0;
  s.level = b.level.load(std::memory_order_relaxed);
  s.platform = b.platform.load(std::memory_order_relaxed);
  s.device = b.device.load(std::memory_order_relaxed);
  s.submitted = b.submitted.load(std::memory_order_relaxed);
  s.completed = b.completed.load(std::memory_order_relaxed);
  // The cause of what follows: when the process saw the change (a clock
  // that claims the future or the distant past is not believed).
  const int64_t changed = b.changed_ns.load(std::memory_order_relaxed);
  cause_ns_ = changed <= now && changed > now - 10'000'000'000 ? changed : now;
  const bool fresh = id != s.queue_id;
  if (fresh) s.queue_id = id;  // bind_gate needs it
  bind_gate(c, i);
  s.ready = ready;
  s.hints = h;
  s.used = s.used || ready;
  if (fresh) {
    s.number = next_number_++;
    s.run = true;
    s.bounded = true;
    s.dirty = true;  // tell the agent where it stands
    s.suspensions = 0;
    s.recent_ns.clear();
    queues_[s.number] = QueueRef{&c, i};
    engine_ran(engine_.add(s.number, ready, h, now));
  } else {
    engine_ran(engine_.update(s.number, ready, h, now));
  }
}

void Daemon::forget_slot(Client& c, uint32_t i, int64_t now) {
  Slot& s = (*c.slots)[i];
  if (s.queue_id == 0) return;
  const uint64_t number = s.number;
  // The engine resumes it if held: the executor still finds it.
  engine_ran(engine_.remove(number, now));
  queues_.erase(number);
  // The decision number keeps counting: the agent knows the slot by it.
  const uint64_t decision_seq = s.decision_seq;
  const uint64_t seen_seq = s.seen_seq;
  s = Slot{};
  s.decision_seq = decision_seq;
  s.seen_seq = seen_seq;
}

bool Daemon::map_gate_page(Client& c, const GatePage& page) {
  if (c.fds_in.empty()) return false;
  const int fd = c.fds_in.front();
  c.fds_in.erase(c.fds_in.begin());
  struct stat st{};
  // Sealed against shrinking, a page the process cannot take away under the
  // daemon's stores; exactly one page (a huge-page file would map, and pin, far more).
  const int seals = fcntl(fd, F_GET_SEALS);
  const bool ok = page.id >= 1 && page.id <= gates::kMaxPages && page.bytes == gates::kPageBytes &&
                  c.gate_pages[page.id] == nullptr && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                  st.st_size == static_cast<off_t>(gates::kPageBytes) && seals >= 0 && (seals & F_SEAL_SHRINK) != 0;
  void* mem = ok ? mmap(nullptr, gates::kPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
  close(fd);
  if (!ok) return false;
  if (mem == MAP_FAILED) {
    // The daemon's own trouble: the process's agent still applies every decision.
    log(LogLevel::kWarn, "cannot map a gate page of pid %d: %s", static_cast<int>(c.cred.pid), std::strerror(errno));
    return true;
  }
  c.gate_pages[page.id] = static_cast<uint32_t*>(mem);
  for (uint32_t i = 0; i < kBoardSlots; ++i) {
    if ((*c.slots)[i].queue_id != 0) bind_gate(c, i);
  }
  return true;
}

void Daemon::bind_gate(Client& c, uint32_t i) {
  const BoardSlot& b = c.board->slot[i];
  Slot& s = (*c.slots)[i];
  const uint32_t page = b.gate_page.load(std::memory_order_relaxed);
  const uint32_t index = b.gate_index.load(std::memory_order_relaxed);
  uint32_t* word = nullptr;
  if (s.queue_id != 0 && page >= 1 && page <= gates::kMaxPages && c.gate_pages[page] != nullptr &&
      index < gates::kWordsPerPage) {
    word = c.gate_pages[page] + index;
  }
  // Read with every change of the slot, on the way to a decision: the rest
  // only when the binding changes.
  if (word == s.gate) return;
  s.gate = word;
  if (word == nullptr) return;
  // A word passes to a new queue when the old one is gone: the newest slot
  // to name it has it, so the daemon never stores for a queue that left.
  for (uint32_t j = 0; j < kBoardSlots; ++j) {
    if (j != i && (*c.slots)[j].gate == word) (*c.slots)[j].gate = nullptr;
  }
}

void Daemon::suspend(uint64_t number) { decide_queue(number, false); }

void Daemon::resume(uint64_t number) { decide_queue(number, true); }

// Records the engine's decision for the queue; after_decisions() publishes it.
void Daemon::decide_queue(uint64_t number, bool run) {
  auto it = queues_.find(number);
  if (it == queues_.end()) return;
  Slot& s = (*it->second.client->slots)[it->second.slot];
  s.run = run;
  s.dirty = true;
  s.cause_ns = cause_ns_;
  s.decided_ns = now_ns();
  if (!run) ++s.suspensions;
  if (s.gate != nullptr) {
    // The decision takes effect here, before any process wakes up: the word
    // closes (or opens) the queue's gate if its process granted it.
    std::atomic_ref<uint32_t> word(*s.gate);
    if (run) {
      word.fetch_or(gates::kDaemonRuns, std::memory_order_seq_cst);
    } else {
      word.fetch_and(~gates::kDaemonRuns, std::memory_order_seq_cst);
    }
    s.stored_ns = s.decided_ns;
  }
}

// Windows follow the decisions (window_rule.h), then every changed slot is
// written to its board and each process whose board changed is rung once.
void Daemon::after_decisions() {
  if (!engine_ran_) return;
  engine_ran_ = false;
  WindowContext w;
  w.policy = engine_.policy_kind();
  for (const auto& [number, ref] : queues_) {
    const Slot& s = (*ref.client->slots)[ref.slot];
    if (!s.used) continue;
    ++w.used;
    w.top_priority = std::max(w.top_priority, s.hints.priority);
  }
  to_ring_.clear();
  const int64_t decided = now_ns();
  for (const auto& [number, ref] : queues_) {
    Slot& s = (*ref.client->slots)[ref.slot];
    const bool bounded = window_bounded(w, s.hints.priority, s.used);
    if (bounded != s.bounded) {
      s.bounded = bounded;
      s.dirty = true;
      if (s.cause_ns == 0) s.cause_ns = cause_ns_;
    }
    if (!s.dirty || ref.client->board == nullptr) continue;
    s.dirty = false;
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
  for (Client* c : to_ring_) {
    c->ring = false;
    const char one = 1;
    // A full doorbell already holds a ring the agent has not read.
    if (send(c->to_agent, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
      log(LogLevel::kWarn, "cannot ring pid %d: %s", static_cast<int>(c->cred.pid), std::strerror(errno));
    }
  }
}

void Daemon::heartbeat() {
  const int64_t now = now_ns();
  if (accept_paused_ && add_to_epoll(epoll_fd_, listen_fd_)) accept_paused_ = false;
  for (auto& [fd, c] : clients_) {
    if (c->board == nullptr) continue;
    c->board->heartbeat_ns.store(now, std::memory_order_release);
    harvest_samples(*c);
  }
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
    if (slot >= kBoardSlots || (kind != 1 && kind != 2) || latency < 0 || latency > 10'000'000'000) continue;
    const int64_t to_daemon = std::clamp<int64_t>(b.daemon_ns.load(std::memory_order_relaxed), 0, latency);
    Slot& s = (*c.slots)[slot];
    if (s.queue_id == 0) continue;
    s.recent_ns.push_back(latency);
    if (s.recent_ns.size() > kRecentLatencies) s.recent_ns.pop_front();
    const uint32_t by = b.by.load(std::memory_order_relaxed) == 2 ? 2 : 1;
    samples_.push_back(Sample{latency, static_cast<uint32_t>(c.cred.pid), kind, s.number, to_daemon, by, 0});
    if (samples_.size() > kMaxSamples) samples_.pop_front();
  }
}

void Daemon::engine_ran(int64_t deadline_ns) {
  engine_ran_ = true;
  deadline_ns = timer_due_ns(deadline_ns, now_ns());  // never a timer that fires again at once
  itimerspec t{};
  if (deadline_ns > 0) {
    t.it_value.tv_sec = deadline_ns / 1'000'000'000;
    t.it_value.tv_nsec = deadline_ns % 1'000'000'000;
  }
  // steady_clock is CLOCK_MONOTONIC on Linux; zero disarms.
  timerfd_settime(policy_timer_fd_, TFD_TIMER_ABSTIME, &t, nullptr);
}

void Daemon::reply(Client& c, MsgType type, std::span<const std::byte> payload) {
  if (c.fd < 0) return;
  append_message(type, payload, &c.out);
  flush(c);
}

// Sends what the socket takes now; the rest waits for EPOLLOUT. A reader
// that lets replies pile up is dropped, never waited for.
void Daemon::flush(Client& c) {
  constexpr std::size_t kMaxBacklog = 8u << 20;
  while (c.out_sent < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) return drop(c, "closed before reading its replies");
    c.out_sent += static_cast<std::size_t>(n);
  }
  if (c.out.size() - c.out_sent > kMaxBacklog) return drop(c, "does not read its replies");
  const bool pending = c.out_sent < c.out.size();
  if (!pending) {
    c.out.clear();
    c.out_sent = 0;
  }
  if (pending != c.want_write) {
    epoll_event ev{};
    ev.events = EPOLLIN | (pending ? EPOLLOUT : 0u);
    ev.data.fd = c.fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_write = pending;
  }
}

void Daemon::reply_error(Client& c, int code, const char* text) {
  ErrorMsg e{};
  e.code = code;
  copy_text(e.text, text);
  reply(c, MsgType::kError, bytes_of(e));
}

}  // namespace xsched::daemon

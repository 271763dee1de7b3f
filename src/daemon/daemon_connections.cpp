// xschedd's connections: accepting, reading requests, registering agents,
// replying, and dropping a connection (and forgetting its queues).
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "core/clock.h"
#include "core/log.h"
#include "daemon/daemon.h"
#include "daemon/untrusted_input.h"

namespace xsched::daemon {
namespace {

using namespace ipc;

// A connection's share of one turn of the loop: so many requests, or so many
// bytes of replies (one large list), whichever comes first.
constexpr int kRequestsPerTurn = 16;
constexpr uint64_t kReplyBytesPerTurn = 64u << 10;
// Replies the socket did not take: past this the connection's replies are
// backed up (it is not read until they drain); past the second it is dropped.
// One reply is at most kMaxPayload.
constexpr std::size_t kBackedUpBytes = 64u << 10;
constexpr std::size_t kMaxBacklog = 2 * (kMaxPayload + sizeof(Header));
// Connections accepted per turn: a flood of connections waits its turn too.
constexpr int kAcceptsPerTurn = 32;
// Connections refused at accept, kept open until they read why (their first
// request, or a second): past this many at once, the next ones are closed at once.
constexpr uint32_t kMaxLingering = 64;

// What the process named itself (prctl(PR_SET_NAME) takes any bytes but NUL,
// a newline too): kept as it is, printed through printable_text.
std::string process_name(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm", std::ios::binary);
  std::string name((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!name.empty() && name.back() == '\n') name.pop_back();  // the kernel's
  return name.empty() ? "?" : name;
}

}  // namespace

bool Daemon::Client::more_requests_waiting() const {
  int unread = 0;
  return reader.buffered() > 0 || (ioctl(fd, FIONREAD, &unread) == 0 && unread > 0);
}

bool Daemon::watch(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void Daemon::accept_clients() {
  for (int accepted = 0; accepted < kAcceptsPerTurn; ++accepted) {
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
    if (!peer_credentials(fd, &c->cred) || !watch(fd)) {
      close(fd);
      continue;
    }
    c->since_ns = now_ns();
    Client& added = *c;
    clients_[fd] = std::move(c);
    const auto u = users_.find(added.cred.uid);
    const uint32_t open = u == users_.end() ? 0 : u->second.connections;
    count_client(added, +1);
    if (open >= opts_.max_clients_per_user) refuse(added, "connections open to", open);
  }
}

void Daemon::count_client(const Client& c, int delta) {
  const auto [it, fresh] = users_.try_emplace(c.cred.uid);
  UserClients& u = it->second;
  uint32_t& n = c.agent ? u.registered : u.connections;
  n = static_cast<uint32_t>(static_cast<int64_t>(n) + delta);
  if (u.registered == 0 && u.connections == 0) users_.erase(it);
}

bool Daemon::may_register(const Client& c) const {
  const auto u = users_.find(c.cred.uid);
  return u == users_.end() || u->second.registered < opts_.max_clients_per_user;
}

void Daemon::refuse(Client& c, const char* what, uint32_t count) {
  ++rejected_;
  count_client(c, -1);
  c.refused = true;
  // The user has clients of the kind refused: its entry stays.
  UserClients& u = users_[c.cred.uid];
  if (!u.said_full) {
    log(LogLevel::kWarn, "uid %u has %u %s xschedd, the most it takes from one user: refusing more until one goes",
        c.cred.uid, count, what);
    u.said_full = true;
  }
  char text[sizeof(ErrorMsg::text)];
  std::snprintf(text, sizeof text, "uid %u already has %u %s xschedd, the most it takes from one user (xschedd --max-clients-per-user)",
                c.cred.uid, count, what);
  // Nothing is queued before it: the socket takes it now.
  reply_error(c, EDQUOT, text);
  if (c.fd < 0) return;
  if (c.reader.buffered() > 0 || refused_ >= kMaxLingering) return drop(c, "refused");
  // Dropped at its first request or hang-up (serve), else after a second (heartbeat).
  c.lingering = true;
  ++refused_;
}

bool Daemon::receive(Client& c) {
  std::byte buf[16384];
  // Only a registered agent passes descriptors (its gate pages); others' are closed unread.
  const long n = receive_some(c.fd, buf, c.agent ? &c.fds_in : nullptr);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
  if (n <= 0) {
    drop(c, n == 0 ? "closed" : std::strerror(errno));
    return false;
  }
  if (c.fds_in.size() > 4) {
    drop(c, "sent descriptors without messages for them");
    return false;
  }
  if (c.reader.feed(std::span<const std::byte>(buf, static_cast<std::size_t>(n))) == FrameReader::Status::kBad) {
    drop(c, "sent more than one message can hold");
    return false;
  }
  return true;
}

void Daemon::serve(Client& c) {
  if (c.refused) return drop(c, "refused");
  if (c.fd < 0 || !c.reading) return;
  const uint64_t replied_before = c.replied;
  bool received = false;
  for (int budget = kRequestsPerTurn; budget > 0;) {
    Frame f{};
    const FrameReader::Status s = c.reader.next(&f);
    if (s == FrameReader::Status::kBad) return drop(c, "sent a malformed message");
    if (s == FrameReader::Status::kNeedMore) {
      // The socket is read once a turn, and only for requests not yet in hand.
      if (received || !receive(c)) return;
      received = true;
      continue;
    }
    handle_frame(c, f);
    if (c.fd < 0 || c.refused) return;  // dropped, or told why it is refused
    --budget;
    if (c.backlog() > kBackedUpBytes) {
      // Its replies back up: one that sent more requests meanwhile is
      // flooding the daemon; one that waits for them is read again once they drained.
      if (c.more_requests_waiting()) return drop(c, "sends requests without reading the replies");
      c.reading = false;
      return update_events(c);
    }
    if (c.replied - replied_before >= kReplyBytesPerTurn) break;
  }
  if (c.reader.buffered() > 0) serve_later(c);
}

void Daemon::serve_later(Client& c) {
  if (c.pending) return;
  c.pending = true;
  pending_.push_back(c.fd);
}

void Daemon::serve_pending() {
  serving_.swap(pending_);
  for (int fd : serving_) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) continue;
    it->second->pending = false;
    serve(*it->second);
    finish_event();
  }
  serving_.clear();
}

void Daemon::update_events(Client& c) {
  epoll_event ev{};
  ev.events = (c.reading ? EPOLLIN : 0u) | (c.want_write ? EPOLLOUT : 0u);
  ev.data.fd = c.fd;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
}

Request parse_request(const Frame& f, bool agent) {
  Request r;
  r.type = f.type;
  const std::size_t n = f.payload.size();
  const auto allowed = [&](Sender from, PayloadRule rule, std::size_t one) {
    if ((from == kAgent) != agent) return false;  // a registered agent sends only its own kind
    switch (rule) {
      case kEmpty:
        return n == 0;
      case kOne:
        return n == one;
      case kEmptyOrOne:
        return n == 0 || n == one;
    }
    return false;
  };
  switch (f.type) {
#define XSCHED_PARSE(Name, number, from, payload, Payload, handler) \
  case MsgType::k##Name:                                            \
    r.ok = allowed(from, payload, sizeof(Payload));                 \
    break;
    XSCHED_DAEMON_REQUESTS(XSCHED_PARSE)
#undef XSCHED_PARSE
    default:
      break;
  }
  if (r.ok) {
    r.size = n;
    if (n != 0) std::memcpy(r.bytes.data(), f.payload.data(), n);
  }
  return r;
}

void Daemon::handle_frame(Client& c, const Frame& f) {
  const Request r = parse_request(f, c.agent);
  if (r.ok) {
    switch (r.type) {
#define XSCHED_DISPATCH(Name, number, from, rule, Payload, handler) \
  case MsgType::k##Name: {                                             \
    Payload msg{};                                                     \
    return handler(c, r.payload(&msg));                                \
  }
      XSCHED_DAEMON_REQUESTS(XSCHED_DISPATCH)
#undef XSCHED_DISPATCH
      default:
        break;
    }
  }
  if (c.agent) return drop(c, "an agent sent a request or a malformed gate page");
  reply_error(c, EPROTO, "malformed or unexpected request");
  drop(c, "sent a malformed or unexpected request");
}

void Daemon::on_hello(Client& c, const Hello* hello) {
  if (hello->version != kVersion) {
    reply_error(c, EPROTO, "protocol version mismatch");
    return drop(c, "speaks another protocol version");
  }
  if (!may_register(c)) return refuse(c, "processes registered with", opts_.max_clients_per_user);
  if (!welcome(c)) drop(c, "could not be registered");
}

void Daemon::on_gate_page(Client& c, const GatePage* page) {
  if (!map_gate_page(c, *page)) drop(c, "sent a bad gate page");
}

bool Daemon::welcome(Client& c) {
  const int mem = memfd_create("xsched-board", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mem < 0) return false;
  void* p = MAP_FAILED;
  if (ftruncate(mem, sizeof(Board)) == 0) p = mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE, MAP_SHARED, mem, 0);
  // Sealed, the process cannot shrink the board under the daemon's reads
  // (and its agent maps only a board with these seals).
  if (p == MAP_FAILED || fcntl(mem, F_ADD_SEALS, kBoardSeals) != 0) {
    if (p != MAP_FAILED) munmap(p, sizeof(Board));
    close(mem);
    return false;
  }
  auto* board = static_cast<Board*>(p);  // zero-filled by the kernel
  board->magic = kBoardMagic;
  board->slots = kBoardSlots;
  board->heartbeat_ns.store(now_ns(), std::memory_order_release);
  board->agent_beat_ns.store(now_ns(), std::memory_order_release);  // the agent's stamps take over
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
  count_client(c, -1);
  c.agent = true;
  count_client(c, +1);
  c.name = process_name(c.cred.pid);
  c.since_ns = now_ns();
  bool ok = piped && watch(c.to_daemon);
  if (ok) {
    doorbells_[c.to_daemon] = &c;
    boards_.push_back(&c);
    const int64_t promise = std::max(opts_.heartbeat_ns, opts_.heartbeat_promise_ns);
    Welcome w{kVersion, kBoardSlots, sizeof(Board), promise, static_cast<uint32_t>(c.cred.pid), 0};
    std::vector<std::byte> msg;
    encode(MsgType::kWelcome, bytes_of(w), &msg);
    const int fds[3] = {mem, to_daemon[1], to_agent[0]};
    ok = send_message_now(c.fd, msg, fds);
  }
  close(mem);
  for (int f : {to_daemon[1], to_agent[0]}) {
    if (f >= 0) close(f);
  }
  if (ok) {
    log(LogLevel::kInfo, "registered pid %d (%s), uid %u", static_cast<int>(c.cred.pid), printable_text(c.name).c_str(),
        c.cred.uid);
  }
  return ok;
}

void Daemon::drop(Client& c, const char* why) {
  if (c.fd < 0) return;
  if (c.lingering) --refused_;
  if (!c.refused) {  // refuse() stopped counting it
    count_client(c, -1);
    // The user has room again: a refusal is worth a line in the log again.
    if (auto u = users_.find(c.cred.uid); u != users_.end()) u->second.said_full = false;
  }
  if (c.agent) {
    log(LogLevel::kInfo, "pid %d (%s) left: %s", static_cast<int>(c.cred.pid), printable_text(c.name).c_str(), why);
    const int64_t now = now_ns();
    cause_ns_ = now;
    for (uint32_t i = 0; i < c.slots.size(); ++i) {
      if (c.slots[i].queue_id != 0) forget_slot(c, i, now);
    }
    if (c.to_daemon >= 0) {
      doorbells_.erase(c.to_daemon);
      std::erase(boards_, &c);
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.to_daemon, nullptr);
    }
  } else if (!c.refused && std::strcmp(why, "closed") != 0) {  // refusals are logged once per user (refuse)
    log(LogLevel::kInfo, "connection of pid %d dropped: %s", static_cast<int>(c.cred.pid), why);
  }
  if (c.board != nullptr) munmap(c.board, sizeof(Board));
  c.board = nullptr;
  for (uint32_t*& page : c.gate_pages) {
    if (page != nullptr) munmap(page, gates::kPageBytes);
    page = nullptr;
  }
  for (Slot& s : c.slots) s.gate = nullptr;
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
  for (uint32_t i = 0; i < c.slots.size(); ++i) {
    if (c.slots[i].queue_id != 0) bind_gate(c, i, read_gate_ref(c.board->slot[i]));
  }
  return true;
}

void Daemon::reply(Client& c, MsgType type, std::span<const std::byte> payload) {
  if (c.fd < 0) return;
  append_message(type, payload, &c.out);
  c.replied += sizeof(Header) + payload.size();
  // A socket that was full waits for EPOLLOUT, not for a send per reply.
  if (!c.want_write) return flush(c);
  if (c.backlog() > kMaxBacklog) drop(c, "does not read its replies");
}

// Sends what the socket takes now; the rest waits for EPOLLOUT. A reader
// that lets replies pile up is dropped, never waited for.
void Daemon::flush(Client& c) {
  while (c.out_sent < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) return drop(c, "closed before reading its replies");
    c.out_sent += static_cast<std::size_t>(n);
  }
  if (c.backlog() > kMaxBacklog) return drop(c, "does not read its replies");
  const bool unsent = c.out_sent < c.out.size();
  if (!unsent) {
    // A large reply's memory goes back once it is sent.
    if (c.out.capacity() > kBackedUpBytes) std::vector<std::byte>().swap(c.out);
    c.out.clear();
    c.out_sent = 0;
  } else if (c.out_sent >= kBackedUpBytes && 2 * c.out_sent >= c.out.size()) {
    c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(c.out_sent));
    c.out_sent = 0;
  }
  const bool resume = !c.reading && !unsent;
  if (resume) {
    c.reading = true;
    if (c.reader.buffered() > 0) serve_later(c);
  }
  if (unsent != c.want_write || resume) {
    c.want_write = unsent;
    update_events(c);
  }
}

void Daemon::reply_error(Client& c, int code, const char* text) {
  ErrorMsg e{};
  e.code = code;
  copy_text(e.text, text);
  reply(c, MsgType::kError, bytes_of(e));
}

}  // namespace xsched::daemon

// xschedd: one scheduling domain per device (core/device_id.h), each an
// engine for the queues of every registered process on that device: a
// decision never crosses devices.
//
// One thread serves everything through epoll: the listening socket, each
// connection (agents and the command line), each agent's doorbell, a
// heartbeat timer and the policy's timer. An agent's doorbell makes the
// daemon read that process's board, feed the engine, and write the
// decisions to the boards of the processes whose queues change, ringing each
// once. Nothing the daemon does blocks on a client, and no client gets more
// than a bounded share of one turn of the loop: a connection is served a few
// requests per turn, is not read while its replies back up, and is dropped
// when it sends more requests without reading the replies, or lets them pile
// up past a limit.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gates/gate_words.h"
#include "daemon/decision_phases.h"
#include "daemon/metrics.h"
#include "daemon/untrusted_input.h"
#include "ipc/board.h"
#include "ipc/protocol.h"
#include "ipc/unix_socket.h"
#include "core/device_id.h"
#include "sched/engine.h"
#include "sched/window_rule.h"

namespace xsched::daemon {

struct Options {
  std::string socket;                       // empty: ipc::daemon_socket_path()
  xs_policy_t policy = XS_POLICY_PRIORITY;
  int64_t timeslice_ns = 2'000'000;         // the default timeslice of the policies that take turns
  std::string group;                        // empty: the socket is the owner's only
  int64_t heartbeat_ns = 20'000'000;        // how often boards are stamped
  // What processes are told (Welcome::heartbeat_ns): a stamp at least this
  // often. Their agents wait three of these before they give up on the
  // daemon, so a stamp may come 280 ms late (a busy host, a hypervisor
  // that holds the daemon's CPU) before any process drops the daemon.
  int64_t heartbeat_promise_ns = 100'000'000;
  // A process whose agent has not stamped its board for this long cannot run
  // its queues (stopped, frozen, stuck): they count as idle until it stamps
  // again, so that they hold no one back. Agents stamp at least every 50 ms.
  int64_t stall_ns = 500'000'000;
  bool busy_poll = false;                   // never sleep: one core spins, decisions skip a wake-up
  // Each user (uid, root and the daemon's own included) may have this many
  // registered processes, and this many other connections (the command line).
  uint32_t max_clients_per_user = 256;
  // Where the Prometheus listener binds (xschedd's main starts it); none: no
  // metrics, and the daemon keeps no snapshot.
  std::optional<MetricsAddress> metrics;
  // A timeline of the daemon's decisions (core/timeline.h's format, one track
  // per queue of every process); empty: none.
  std::string timeline;
};

class Daemon final : private Executor {
 public:
  explicit Daemon(Options opts);
  ~Daemon() override;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Creates the socket, readying its directory first (socket_dir.h); false
  // with *err on failure.
  bool open(std::string* err);
  // Serves until stop(). Returns 0, or 1 after a fatal error.
  int run();
  // Async-signal-safe.
  void stop();

  const std::string& socket_path() const { return opts_.socket; }
  // With Options::metrics, after open(): where a listener gets snapshots.
  MetricsExchange* metrics() { return metrics_.get(); }

 private:
  // bench/daemon/decision_compute.cpp: drives the decision code with fake boards.
  friend struct DecisionProbe;
  struct Domain;

  struct Slot {
    uint64_t seen_seq = 0;
    uint64_t queue_id = 0;  // the process's XQueue id; 0: free
    uint64_t number = 0;    // the daemon's queue number
    bool used = false;      // has had work
    bool ready = false;
    xs_hints_t hints{0, 1, 0, 0};
    uint32_t level = 0;
    uint32_t platform = 0;
    int32_t device = -1;
    DeviceId device_id;     // its scheduling domain
    DeviceName device_name{};
    uint64_t submitted = 0;
    uint64_t completed = 0;
    uint64_t suspensions = 0;
    bool run = true;
    bool bounded = true;
    bool dirty = false;     // decision to publish
    uint64_t decision_seq = 0;
    int64_t cause_ns = 0;
    uint32_t* gate = nullptr;  // the queue's gate word, in a page of the process's (null: none mapped)
    int64_t decided_ns = 0;    // when the engine made the decision to publish (0: a window change only)
    int64_t stored_ns = 0;     // when that decision was stored in the gate word (0: it was not)
    std::vector<int64_t> recent_ns;  // recent decision latencies: a ring, allocated at the first sample
    uint32_t recent_next = 0;        // where the next one goes once the ring is full
    // Time held and let run, counted when the decision changes (never per command).
    int64_t since_ns = 0;    // when the current decision (run) began
    bool since_run = true;   // the decision that began then (run differs only until stamp_decisions())
    int64_t held_ns = 0;     // of the decisions before it
    int64_t running_ns = 0;
    Domain* domain = nullptr;  // its device's, which lives while it has queues
  };

  struct Client {
    int fd = -1;
    ipc::PeerCredentials cred;
    std::string name;
    int64_t since_ns = 0;
    ipc::FrameReader reader;
    bool agent = false;
    ipc::Board* board = nullptr;
    int to_daemon = -1;  // read end of the process's doorbell pipe
    int to_agent = -1;   // write end of the daemon's
    uint64_t samples_read = 0;
    uint64_t changes_seen = 0;  // the board's change count when last scanned
    bool ring = false;  // decisions published since the last ring
    bool ring_failing = false;  // the last ring failed (and was logged)
    bool stalled = false;       // its agent stopped stamping the board (Options::stall_ns)
    std::vector<std::byte> out;  // replies the socket could not take yet
    std::size_t out_sent = 0;
    uint64_t replied = 0;        // bytes of replies queued, ever (a turn's budget)
    bool want_write = false;     // EPOLLOUT armed
    bool reading = true;         // EPOLLIN armed: not while its replies are backed up
    bool pending = false;        // in pending_: requests left over from its turn
    bool refused = false;        // over its user's limit: told so, not counted, dropped without a word in the log
    bool lingering = false;      // refused at accept, open until its first word or a second (refused_)
    std::vector<Slot> slots;  // as many as the board says are in use, made when first used
    std::array<uint32_t*, gates::kMaxPages + 1> gate_pages{};  // by page id, mapped (gates/gate_words.h)
    std::vector<int> fds_in;  // received with its messages, for the next kGatePage

    std::size_t backlog() const { return out.size() - out_sent; }
    // Whether the peer sent more than the daemon has handled so far.
    bool more_requests_waiting() const;
  };

  // A user's clients, against Options::max_clients_per_user.
  struct UserClients {
    uint32_t registered = 0;
    uint32_t connections = 0;  // not registered
    bool said_full = false;    // the limit was logged (until it has room again)
  };

  struct QueueRef {
    Client* client;
    uint32_t slot;
  };

  // One device's queues: an engine with the daemon's policy, and when it wants to decide again.
  struct Domain {
    Domain(std::unique_ptr<Policy> policy, Executor& exec) : engine(std::move(policy), exec) {}
    Engine engine;
    int64_t deadline_ns = 0;  // 0: never
    std::size_t members = 0;
    WindowContext windows;    // after_decisions()'s, per device
    uint64_t windows_policy = UINT64_MAX;  // the engine's policy_changes() when `windows` was collected
    // For the metrics: counted from the device's first queue on.
    uint32_t platform = 0;    // its first queue's: names the identity
    DeviceName name{};        // as its first queue's process gave it
    uint64_t decisions = 0;   // holds and releases applied
    LatencyHistogram latency;  // of the samples its queues' agents measured
  };

  // ---- Executor ----
  void suspend(uint64_t number) override;
  void resume(uint64_t number) override;
  void decide_queue(uint64_t number, bool run);
  // After an engine call: its decisions' times, from one clock read after its last store.
  void stamp_decisions();

  // Adds fd to the event loop, for reading.
  bool watch(int fd);
  // Counts c for its user (delta +1) or stops counting it (-1).
  void count_client(const Client& c, int delta);
  // Tells a connection over its user's limit why it is refused (`what`: of
  // what its user has too many); the connection is then dropped.
  void refuse(Client& c, const char* what, uint32_t count);
  // Whether c's user may register one more process.
  bool may_register(const Client& c) const;
  // The epoll loop, its timers and wake-ups, and the metrics hand-off (open()).
  bool open_event_loop(std::string* err);
  void accept_clients();
  // One turn of a connection: a few of its requests, reading the socket once if needed.
  void serve(Client& c);
  // Reads what the socket has into c.reader; false if nothing came (or c was dropped).
  bool receive(Client& c);
  // Serves again, in a later turn, a connection whose turn ended with requests left.
  void serve_later(Client& c);
  void serve_pending();
  // Arms EPOLLIN / EPOLLOUT for c as c.reading / c.want_write say.
  void update_events(Client& c);
  // After each event: publishes decisions and frees dropped connections.
  void finish_event();
  void handle_frame(Client& c, const ipc::Frame& f);
  void drop(Client& c, const char* why);
  bool welcome(Client& c);
  void scan_board(Client& c);
  // Scans every board whose change count moved, without waiting for its
  // doorbell; whether any did.
  bool scan_changed_boards();
  // Busy-poll: the same, then one publication for all of them.
  void poll_boards();
  void read_slot(Client& c, uint32_t i, int64_t now);
  void forget_slot(Client& c, uint32_t i, int64_t now);
  // Names slot s's track of the timeline after its process and device (--timeline).
  void name_track(const Client& c, const Slot& s);
  // Maps a page of the process's gate words (kGatePage); false for a bad one.
  bool map_gate_page(Client& c, const ipc::GatePage& page);
  // Points slot i at the gate word its board slot names, if mapped.
  void bind_gate(Client& c, uint32_t i, GateRef ref);
  void heartbeat();
  void check_stall(Client& c, int64_t now);
  // A heartbeat if the last one is older than a period (a long turn delayed the timer).
  void heartbeat_if_due();
  void harvest_samples(Client& c);
  // Publishes what the engine decided since the last call (nothing if it did not run).
  void after_decisions();
  // Slot i of c has a decision to publish.
  void mark_dirty(Client& c, uint32_t i);
  // The window rule's context per device and every queue's bound: only when
  // an input of the rule changed (windows_stale_, a policy switched).
  void update_windows();
  // Writes the marked slots' decisions into their boards.
  void publish();
  // Rings every process told, deciding first on any board that changed meanwhile.
  void ring_clients();
  void ring(Client& c);
  // The domain of a device, made for its first queue.
  Domain& domain(const DeviceId& device);
  // The domain of a device's last queue left: it goes.
  void domain_left(const DeviceId& device);
  // After every call of d's engine: arms the policy's timer for the earliest
  // decision any domain wants (deadline_ns: d's, 0 for none).
  void engine_ran(Domain& d, int64_t deadline_ns);
  // The timer fired: every domain whose time has come decides.
  void decide_due(int64_t now);
  // Arms the policy's timer for the earliest decision a domain wants (none: disarmed).
  void arm_policy_timer();
  void reply(Client& c, ipc::MsgType type, std::span<const std::byte> payload);
  void flush(Client& c);
  void reply_error(Client& c, int code, const char* text);

  // ---- requests: one handler per row of XSCHED_DAEMON_REQUESTS (ipc/protocol.h) ----
  // Hello and GatePage in daemon_connections.cpp, the command line's in daemon_requests.cpp.
  // The payload is null only where the row allows an empty one.
#define XSCHED_DECLARE_HANDLER(Name, number, from, payload, Payload, handler) \
  void handler(Client& c, const ipc::Payload* msg);
  XSCHED_DAEMON_REQUESTS(XSCHED_DECLARE_HANDLER)
#undef XSCHED_DECLARE_HANDLER
  // msg: null, or names one device; set: switch to msg's policy, else only tell.
  void answer_policy(Client& c, const ipc::PolicyMsg* msg, bool set);

  // ---- metrics (daemon_metrics.cpp) ----
  // A scrape asked: a snapshot of every counter, handed to the listener.
  void publish_metrics();

  Options opts_;
  bool socket_named_ = false;  // Options::socket was given, not the default
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  int heartbeat_fd_ = -1;
  int policy_timer_fd_ = -1;
  bool socket_made_ = false;
  bool accept_paused_ = false;  // out of descriptors: the listening socket rests until the next heartbeat
  xs_policy_t policy_;  // every domain's, but those below
  std::unordered_map<DeviceId, xs_policy_t, DeviceIdHash> device_policy_;  // set for one device (xsched policy --device)
  xs_policy_t policy_of(const DeviceId& device) const;
  std::unordered_map<DeviceId, std::unique_ptr<Domain>, DeviceIdHash> domains_;
  std::unordered_map<int, std::unique_ptr<Client>> clients_;  // by socket
  std::unordered_map<int, Client*> doorbells_;                 // by to_daemon eventfd
  std::unordered_map<uint64_t, QueueRef> queues_;              // by queue number
  std::unordered_map<uid_t, UserClients> users_;
  uint32_t refused_ = 0;  // refused connections not closed yet
  std::vector<int> dropped_;  // sockets of clients dropped while serving one event: freed after it
  std::vector<int> pending_;  // sockets of clients with requests left over from their turn
  std::vector<int> serving_;  // serve_pending()'s, kept to reuse its memory
  int64_t last_beat_ns_ = 0;
  uint64_t next_number_ = 1;
  int64_t cause_ns_ = 0;  // what the decisions being made answer to
  bool engine_ran_ = false;  // since the last after_decisions()
  std::vector<Client*> to_ring_;  // after_decisions()'s, kept to reuse its memory
  // The slots the running engine call decided, and whether into a gate
  // word; stamped when it returns. Kept to reuse its memory.
  std::vector<std::pair<Slot*, bool>> decided_;
  bool ringing_ = false;          // ring_clients() is running: a nested after_decisions() leaves rings to it
  std::vector<Client*> boards_;   // the registered processes (each with a board), for polling
  std::vector<QueueRef> dirty_;   // slots marked dirty since the last publication, kept to reuse its memory
  // A queue joined or left, or its priority or `used` changed: the window
  // rule's inputs moved, and every bound is computed again.
  bool windows_stale_ = true;
  std::deque<ipc::Sample> samples_;
  std::unique_ptr<MetricsExchange> metrics_;  // with Options::metrics
  uint64_t rejected_ = 0;  // connections and registrations refused (refuse())
  int64_t started_ns_ = 0;
  double started_unix_s_ = 0;
  PhaseLog* phases_ = nullptr;  // decision_phases.h: null unless a probe measures the phases
  int64_t phase_start() const { return phases_ != nullptr ? now_phase_ns() : 0; }
  void phase_end(Phase p, int64_t start) {
    if (phases_ != nullptr) phases_->add(p, now_phase_ns() - start);
  }
  static int64_t now_phase_ns();
};

}  // namespace xsched::daemon

// The daemon's own compute per decision, phase by phase, in-process: the
// real Daemon's busy-poll path (poll_boards: scan, engine and gate stores,
// window rule, publish, rings) over P fake processes of Q queues each, with
// no other process, so that a 2-core host measures the daemon's code and not
// its scheduler. decision_phases.h names the phases.
//
//   decision_compute [--scales 2x1,16x4,32x4,64x4] [--rounds N] [--json FILE]
//
// Per scale: one high process (priority 10) and P-1 low ones (priority 0),
// every low queue ready, the high ones idle. Each round: the high queue turns ready (the daemon
// holds every low queue: "hold"), one low process reports a change that
// decides nothing ("report"), the high queue goes idle (every low queue
// runs again: "release"), and a poll finds no change ("idle"). The doorbells
// are real socket pairs, drained between rounds (nobody waits on them, so a
// ring costs less here than when it wakes an agent). Then "mid_ring": the
// low queues held again, the high queue goes idle, and as the daemon rings
// the first process of that release the high queue turns ready again (a
// request that comes while the daemon rings): the time until that hold's
// last store is what a change waits for the rings.
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "gates/gate_words.h"
#include "core/log.h"
#include "daemon/daemon.h"

namespace xsched::daemon {

struct Fake {
  ipc::Board* board = nullptr;
  int agent_end = -1;  // the agent's end of the daemon's doorbell
};

struct DecisionProbe {
  Daemon& d;

  Fake add_process(int key, uint32_t queues, int32_t priority, bool ready, uint64_t first_id) {
    auto c = std::make_unique<Daemon::Client>();
    void* mem = mmap(nullptr, sizeof(ipc::Board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    void* page = mmap(nullptr, gates::kPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int sv[2];
    if (mem == MAP_FAILED || page == MAP_FAILED || socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) != 0) {
      std::perror("decision_compute");
      std::exit(1);
    }
    Fake f{static_cast<ipc::Board*>(mem), sv[0]};
    f.board->magic = ipc::kBoardMagic;
    f.board->slots = ipc::kBoardSlots;
    c->agent = true;
    c->board = f.board;
    c->to_agent = sv[1];
    c->gate_pages[1] = static_cast<uint32_t*>(page);
    for (uint32_t i = 0; i < queues; ++i) write(f, i, first_id + i, priority, ready, 0);
    f.board->slots_used.store(queues, std::memory_order_release);
    Daemon::Client& ref = *c;
    d.clients_[key] = std::move(c);  // fd stays -1: the daemon closes nothing of a fake's but its doorbell
    d.boards_.push_back(&ref);
    d.scan_board(ref);
    d.after_decisions();
    return f;
  }

  // What an agent writes when its queue changes (ipc/agent.cpp).
  static void write(Fake& f, uint32_t i, uint64_t id, int32_t priority, bool ready, uint64_t completed) {
    ipc::BoardSlot& s = f.board->slot[i];
    s.queue_id.store(id, std::memory_order_relaxed);
    s.ready.store(ready ? 1 : 0, std::memory_order_relaxed);
    s.priority.store(priority, std::memory_order_relaxed);
    s.share.store(1, std::memory_order_relaxed);
    s.level.store(2, std::memory_order_relaxed);
    s.platform.store(XS_PLATFORM_HOST, std::memory_order_relaxed);
    s.device.store(0, std::memory_order_relaxed);
    s.device_uuid[0].store(0x1234, std::memory_order_relaxed);
    s.completed.store(completed, std::memory_order_relaxed);
    s.submitted.store(completed + 1, std::memory_order_relaxed);
    s.gate_page.store(1, std::memory_order_relaxed);
    s.gate_index.store(i, std::memory_order_relaxed);
    s.changed_ns.store(now_ns(), std::memory_order_relaxed);
    s.state_seq.fetch_add(1, std::memory_order_release);
    f.board->changes.fetch_add(1, std::memory_order_release);
  }

  void poll() { d.poll_boards(); }
  void log_to(PhaseLog* log) { d.phases_ = log; }
};

}  // namespace xsched::daemon

namespace {

using xsched::daemon::DecisionProbe;
using xsched::daemon::Fake;
using xsched::daemon::kPhases;
using xsched::daemon::PhaseLog;

const char* const kKinds[] = {"hold", "report", "release", "idle", "mid_ring"};
constexpr int kKindCount = 5;
// Columns: the phases, what else the poll spent ("other": the change counts
// of every board, the loop), the poll's total, and for a hold the time from
// the poll's start to the last low queue's gate store; for "mid_ring", from
// the high queue's change, written while the daemon rings the processes of
// a release, to the last store of the hold it causes.
const char* const kColumns[] = {"scan", "engine", "windows", "publish", "ring", "other", "total", "to_last_store"};
constexpr int kColumnCount = 8;

// The mid_ring event's change, made from inside the daemon's first ring.
struct MidRing {
  Fake* high = nullptr;
  PhaseLog* log = nullptr;
  uint64_t completed = 0;
  int64_t changed_ns = 0;  // 0: not made yet
};

void change_mid_ring(void* arg) {
  auto* m = static_cast<MidRing*>(arg);
  if (m->changed_ns != 0) return;
  DecisionProbe::write(*m->high, 0, 1, 10, true, m->completed);
  m->changed_ns = xsched::now_ns();
  m->log->last_store_ns = 0;
}

struct Series {
  std::vector<int64_t> v[kColumnCount];
};

int64_t pct(std::vector<int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

void run_scale(uint32_t procs, uint32_t queues, int rounds, FILE* json, bool first) {
  xsched::daemon::Options opts;
  opts.socket = "/nonexistent/decision_compute.sock";
  xsched::daemon::Daemon daemon(opts);
  DecisionProbe probe{daemon};
  std::vector<Fake> fakes;
  for (uint32_t p = 0; p < procs; ++p) {
    fakes.push_back(probe.add_process(static_cast<int>(100000 + p), queues, p == 0 ? 10 : 0, p != 0, 1 + p * 1000));
  }
  PhaseLog log;
  for (auto& v : log.ns) v.reserve(4);
  Series series[kKindCount];
  for (auto& s : series) {
    for (auto& v : s.v) v.reserve(static_cast<std::size_t>(rounds));
  }
  probe.log_to(&log);
  char drain[256];
  uint64_t completed = 0;
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < kKindCount; ++k) {
      if (k == 0) DecisionProbe::write(fakes[0], 0, 1, 10, true, completed);
      if (k == 1) {
        const uint32_t p = 1 + static_cast<uint32_t>(r) % (procs - 1);
        DecisionProbe::write(fakes[p], 0, 1 + p * 1000, 0, true, ++completed);
      }
      if (k == 2) DecisionProbe::write(fakes[0], 0, 1, 10, false, completed);
      MidRing mid{&fakes[0], &log, completed, 0};
      if (k == 4) {
        DecisionProbe::write(fakes[0], 0, 1, 10, true, completed);  // held again, not measured
        probe.poll();
        DecisionProbe::write(fakes[0], 0, 1, 10, false, completed);
        log.on_ring = change_mid_ring;
        log.on_ring_arg = &mid;
      }
      for (auto& v : log.ns) v.clear();
      log.acc = {};  // the unmeasured polls above count nowhere
      log.last_store_ns = 0;
      const int64_t t0 = xsched::now_ns();
      probe.poll();
      if (k == 4) {
        log.on_ring = nullptr;
        if (log.last_store_ns == 0) probe.poll();  // the change waited for every ring: the next turn sees it
      }
      const int64_t total = xsched::now_ns() - t0;
      log.end();  // every board's decisions of this poll: one entry
      int64_t sum = 0;
      int64_t ph[kPhases];
      for (std::size_t p = 0; p < kPhases; ++p) {
        ph[p] = log.ns[p].empty() ? 0 : log.ns[p].back();
        if (p != 1) sum += ph[p];  // the engine's time is inside the scan's
      }
      // Scan is measured with the engine's calls inside it.
      const int64_t scan = ph[0] - ph[1];
      const int64_t cols[kColumnCount] = {scan,  ph[1], ph[2], ph[3], ph[4], total - sum, total,
                                          k == 0 && log.last_store_ns != 0 ? log.last_store_ns - t0
                                          : k == 4 && mid.changed_ns != 0 ? log.last_store_ns - mid.changed_ns
                                                                           : 0};
      for (int c = 0; c < kColumnCount; ++c) series[k].v[c].push_back(cols[c]);
      if (k == 4) {
        DecisionProbe::write(fakes[0], 0, 1, 10, false, completed);  // back to idle, not measured
        probe.poll();
      }
    }
    for (Fake& f : fakes) {
      while (recv(f.agent_end, drain, sizeof drain, MSG_DONTWAIT) > 0) {
      }
    }
  }
  probe.log_to(nullptr);
  std::printf("\n%ux%u (%u queues), %d rounds; ns p50 / p99 / max\n", procs, queues, procs * queues, rounds);
  std::printf("%-8s", "event");
  for (const char* c : kColumns) std::printf(" %22s", c);
  std::printf("\n");
  for (int k = 0; k < kKindCount; ++k) {
    std::printf("%-8s", kKinds[k]);
    for (int c = 0; c < kColumnCount; ++c) {
      const auto& v = series[k].v[c];
      char cell[64];
      std::snprintf(cell, sizeof cell, "%lld/%lld/%lld", static_cast<long long>(pct(v, 0.5)),
                    static_cast<long long>(pct(v, 0.99)), static_cast<long long>(*std::max_element(v.begin(), v.end())));
      std::printf(" %22s", cell);
    }
    std::printf("\n");
  }
  if (json == nullptr) return;
  std::fprintf(json, "%s\n  \"%ux%u\": {", first ? "" : ",", procs, queues);
  for (int k = 0; k < kKindCount; ++k) {
    std::fprintf(json, "%s\n    \"%s\": {", k == 0 ? "" : ",", kKinds[k]);
    for (int c = 0; c < kColumnCount; ++c) {
      const auto& v = series[k].v[c];
      std::fprintf(json, "%s\"%s\": {\"p50\": %lld, \"p99\": %lld, \"max\": %lld}", c == 0 ? "" : ", ", kColumns[c],
                   static_cast<long long>(pct(v, 0.5)), static_cast<long long>(pct(v, 0.99)),
                   static_cast<long long>(*std::max_element(v.begin(), v.end())));
    }
    std::fprintf(json, "}");
  }
  std::fprintf(json, "\n  }");
}

}  // namespace

int main(int argc, char** argv) {
  std::string scales = "2x1,16x4,32x4,64x4";
  int rounds = 5000;
  const char* json_path = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--scales") == 0) scales = argv[i + 1];
    else if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--json") == 0) json_path = argv[i + 1];
  }
  xsched::set_log_level(xsched::LogLevel::kError);
  FILE* json = json_path != nullptr ? std::fopen(json_path, "w") : nullptr;
  if (json != nullptr) std::fprintf(json, "{");
  bool first = true;
  for (std::size_t at = 0; at < scales.size();) {
    std::size_t end = scales.find(',', at);
    if (end == std::string::npos) end = scales.size();
    unsigned p = 0, q = 0;
    if (std::sscanf(scales.substr(at, end - at).c_str(), "%ux%u", &p, &q) == 2 && p >= 2 && q >= 1 && q <= 256) {
      run_scale(p, q, rounds, json, first);
      first = false;
    }
    at = end + 1;
  }
  if (json != nullptr) {
    std::fprintf(json, "\n}\n");
    std::fclose(json);
  }
  return 0;
}

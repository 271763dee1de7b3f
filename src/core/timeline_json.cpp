// The timeline's file: Chrome's JSON trace-event format, which Perfetto and
// chrome://tracing open. One process, one track (tid) per queue. Holds,
// back-pressure waits and confinement become complete slices ("X"); launches
// and gate changes instants ("i"); a decision that held other queues is a
// short slice on the causing queue's track, with a flow arrow ("s" to "f")
// to each hold it made.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/timeline_ring.h"
#include "xsched/xsched.h"

namespace xsched::timeline::detail {

std::vector<Copy> snapshot(Ring& ring) {
  std::vector<Copy> out;
  const uint64_t next = ring.next.load(std::memory_order_acquire);
  const uint64_t from = next > kCapacity ? next - kCapacity : 0;
  out.reserve(next - from);
  for (uint64_t n = from; n < next; ++n) {
    const Entry& s = ring.slots[n & (kCapacity - 1)];
    if (s.stamp.load(std::memory_order_acquire) != n + 1) continue;  // being written, or overwritten
    constexpr auto kAcquire = std::memory_order_acquire;  // pairs with the writer's release stores
    Copy c{s.ts_ns.load(kAcquire), s.queue.load(kAcquire), s.a.load(kAcquire), s.b.load(kAcquire),
           static_cast<Event>(s.event.load(kAcquire)), static_cast<Reason>(s.reason.load(kAcquire))};
    if (s.stamp.load(std::memory_order_relaxed) == n + 1) out.push_back(c);
  }
  return out;
}

namespace {

const char* reason_name(Reason r) {
  switch (r) {
    case Reason::kPolicy: return "policy";
    case Reason::kUser: return "user (xs_queue_suspend)";
    case Reason::kDaemon: return "xschedd";
    case Reason::kTimer: return "policy timer";
    case Reason::kNone: break;
  }
  return "none";
}

const char* kind_name(uint64_t kind) {
  switch (kind) {
    case XS_CMD_KERNEL: return "kernel";
    case XS_CMD_COPY: return "copy";
    case XS_CMD_MEMSET: return "memset";
    case XS_CMD_EVENT_RECORD: return "event record";
    case XS_CMD_EVENT_WAIT: return "event wait";
    case XS_CMD_HOST_FUNC: return "host function";
    case XS_CMD_GRAPH: return "graph";
    case XS_CMD_MEM_OP: return "memory operation";
    default: return "command";
  }
}

// JSON string contents: the names come from the platform (a device's name).
std::string escaped(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// What is open on a queue's track while the events are read in order.
struct Track {
  int64_t held_since = -1;
  Reason held_reason = Reason::kNone;
  uint64_t held_flow = 0;
  int64_t waiting_since = -1;
  int64_t confined_since = -1;
  int64_t confined_until = 0;
};

class Writer {
 public:
  Writer(std::FILE* f, int pid) : f_(f), pid_(pid) {}

  void meta(const char* what, uint64_t tid, const std::string& name) {
    event("{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%d,\"tid\":%llu,\"args\":{\"name\":\"%s\"}}", what, pid_,
          static_cast<unsigned long long>(tid), escaped(name).c_str());
  }
  void slice(uint64_t tid, int64_t from_ns, int64_t to_ns, const char* name, const char* cat, const std::string& args) {
    event("{\"ph\":\"X\",\"name\":\"%s\",\"cat\":\"%s\",\"pid\":%d,\"tid\":%llu,\"ts\":%.3f,\"dur\":%.3f,\"args\":{%s}}",
          name, cat, pid_, static_cast<unsigned long long>(tid), from_ns / 1e3, (to_ns - from_ns) / 1e3, args.c_str());
  }
  void instant(uint64_t tid, int64_t ts_ns, const char* name, const char* cat, const std::string& args) {
    event("{\"ph\":\"i\",\"s\":\"t\",\"name\":\"%s\",\"cat\":\"%s\",\"pid\":%d,\"tid\":%llu,\"ts\":%.3f,\"args\":{%s}}", name,
          cat, pid_, static_cast<unsigned long long>(tid), ts_ns / 1e3, args.c_str());
  }
  // ph "s" (start, on the causing queue's decision slice) or "f" (end, bound to the hold's slice).
  void flow(const char* ph, uint64_t tid, int64_t ts_ns, uint64_t id) {
    event("{\"ph\":\"%s\",%s\"name\":\"hold\",\"cat\":\"cause\",\"id\":%llu,\"pid\":%d,\"tid\":%llu,\"ts\":%.3f}", ph,
          ph[0] == 'f' ? "\"bp\":\"e\"," : "", static_cast<unsigned long long>(id), pid_,
          static_cast<unsigned long long>(tid), ts_ns / 1e3);
  }

 private:
  template <class... A>
  void event(const char* fmt, A... args) {
    std::fputs(first_ ? "\n" : ",\n", f_);
    first_ = false;
    std::fprintf(f_, fmt, args...);
  }
  std::FILE* f_;
  int pid_;
  bool first_ = true;
};

std::string process_name() {
  std::ifstream comm("/proc/self/comm");
  std::string name;
  std::getline(comm, name);
  return name.empty() ? "process" : name;
}

void write_events(Writer& w, const std::vector<Copy>& events, int64_t now_ns) {
  std::map<uint64_t, Track> tracks;
  const int64_t first_ns = events.empty() ? now_ns : events.front().ts_ns;
  for (const Copy& e : events) {
    Track& t = tracks[e.queue];
    switch (e.event) {
      case Event::kLaunch:
        w.instant(e.queue, e.ts_ns, "launch", "launch",
                  "\"command\":" + std::to_string(e.a) + ",\"kind\":\"" + kind_name(e.b) + "\"");
        break;
      case Event::kHold:
        t = Track{e.ts_ns, e.reason, e.a, t.waiting_since, t.confined_since};
        break;
      case Event::kRelease: {
        const int64_t from = t.held_since >= 0 ? t.held_since : first_ns;  // held before the oldest event kept
        w.slice(e.queue, from, e.ts_ns, "held", "hold",
                std::string("\"reason\":\"") + reason_name(t.held_reason) + "\",\"released_by\":\"" +
                    reason_name(e.reason) + "\"");
        if (t.held_flow != 0 && t.held_since >= 0) w.flow("f", e.queue, t.held_since, t.held_flow);
        t.held_since = -1;
        t.held_flow = 0;
        break;
      }
      case Event::kGateClose: w.instant(e.queue, e.ts_ns, "gate closed", "gate", ""); break;
      case Event::kGateOpen: w.instant(e.queue, e.ts_ns, "gate opened", "gate", ""); break;
      case Event::kWaitBegin: t.waiting_since = e.ts_ns; break;
      case Event::kWaitEnd:
        w.slice(e.queue, t.waiting_since >= 0 ? t.waiting_since : first_ns, e.ts_ns, "back-pressure", "wait", "");
        t.waiting_since = -1;
        break;
      case Event::kConfine:  // each confinement lasts until its time or the next one
        if (t.confined_since >= 0) {
          w.slice(e.queue, t.confined_since, std::min(t.confined_until, e.ts_ns), "confined (reserve kept free)",
                  "reserve", "");
        }
        t.confined_since = static_cast<int64_t>(e.a) > e.ts_ns ? e.ts_ns : -1;
        t.confined_until = static_cast<int64_t>(e.a);
        break;
      case Event::kCause:
        w.slice(e.queue, e.ts_ns, e.ts_ns + 1000, "decision", "cause",
                std::string("\"by\":\"") + reason_name(e.reason) + "\"");
        w.flow("s", e.queue, e.ts_ns, e.a);
        break;
    }
  }
  // Still open when the file was written.
  for (const auto& [queue, t] : tracks) {
    if (t.held_since >= 0) {
      w.slice(queue, t.held_since, now_ns, "held", "hold",
              std::string("\"reason\":\"") + reason_name(t.held_reason) + "\",\"released_by\":\"(still held)\"");
      if (t.held_flow != 0) w.flow("f", queue, t.held_since, t.held_flow);
    }
    if (t.confined_since >= 0) {
      w.slice(queue, t.confined_since, std::min(t.confined_until, now_ns), "confined (reserve kept free)", "reserve", "");
    }
  }
}

}  // namespace

bool write_json(const std::string& path, const std::vector<Copy>& events, Names& names, int64_t now_ns) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  std::fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"source\":\"xsched\",\"clock\":\"CLOCK_MONOTONIC\"},"
             "\"traceEvents\":[",
             f);
  Writer w(f, static_cast<int>(getpid()));
  w.meta("process_name", 0, process_name() + " (xsched queues)");
  {
    std::lock_guard lk(names.mu);
    for (const auto& [queue, name] : names.tracks) w.meta("thread_name", queue, name);
  }
  write_events(w, events, now_ns);
  std::fputs("\n]}\n", f);
  const bool ok = std::fflush(f) == 0 && std::ferror(f) == 0;
  std::fclose(f);
  return ok && std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace xsched::timeline::detail

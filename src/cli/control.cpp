#include "cli/control.h"

#include <time.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/options.h"

#include "core/config.h"
#include "core/device_id.h"
#include "core/hint_limits.h"
#include "core/platform_list.h"
#include "core/policy_list.h"
#include "ipc/protocol.h"
#include "ipc/unix_socket.h"
#include "xsched/xsched.h"

namespace xsched::cli {
namespace {

using namespace ipc;

// The longest one exchange with the daemon (connect and request, or one
// request of `top`) may take: a stopped daemon must not hang the command.
constexpr int kTimeoutMs = 5000;

// Options every control command takes.
struct Common {
  std::string socket;  // empty: XSCHED_SOCKET or the default
  bool json = false;
};

void add_common(Options& opt, Common* c, bool json = true) {
  if (json) opt.add_flag("--json", &c->json, "print JSON instead of text");
  opt.add_text("--socket", &c->socket, "PATH", "xschedd's socket (default: XSCHED_SOCKET, else the usual path)");
}

// A connection to the daemon, or a clear message and exit status 1.
struct Link {
  int fd = -1;
  std::string path;
  FrameReader reader;
  // The first request shares the connect's time; each later one (`top`) has its own.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  ~Link() {
    if (fd >= 0) close(fd);
  }
};

bool open_link(const Common& c, const char* cmd, Link* link) {
  link->path = socket_path(c.socket.empty() ? std::getenv("XSCHED_SOCKET") : c.socket.c_str());
  int err = 0;
  link->deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  link->fd = connect_unix(link->path, &err, kTimeoutMs);
  if (link->fd >= 0) {
    // Only a daemon of root or of this user is believed.
    PeerCredentials peer;
    if (peer_credentials(link->fd, &peer) && (peer.uid == 0 || peer.uid == geteuid())) return true;
    std::fprintf(stderr,
                 "xsched %s: %s belongs to uid %u, neither root nor you: not talking to it (point --socket or "
                 "XSCHED_SOCKET at your own daemon's socket)\n",
                 cmd, link->path.c_str(), static_cast<unsigned>(peer.uid));
    return false;
  }
  if (err == ENOENT || err == ECONNREFUSED) {
    std::fprintf(stderr, "xsched %s: no xschedd at %s (start one with 'xschedd', or point XSCHED_SOCKET or --socket at its socket)\n",
                 cmd, link->path.c_str());
  } else if (err == ETIMEDOUT) {
    std::fprintf(stderr, "xsched %s: xschedd at %s takes no connections (stopped or overloaded?)\n", cmd,
                 link->path.c_str());
  } else {
    std::fprintf(stderr, "xsched %s: cannot connect to %s: %s\n", cmd, link->path.c_str(), std::strerror(err));
  }
  return false;
}

// One request; prints the daemon's error and returns false if it refused.
bool request(Link& link, const char* cmd, MsgType type, std::span<const std::byte> payload, MsgType want, Frame* reply) {
  int64_t left = kTimeoutMs;
  if (link.deadline) {
    left = std::chrono::duration_cast<std::chrono::milliseconds>(*link.deadline - std::chrono::steady_clock::now()).count();
    link.deadline.reset();
  }
  const int r = call(link.fd, type, payload, &link.reader, reply, static_cast<int>(std::max<int64_t>(left, 1)));
  if (r != 0) {
    std::fprintf(stderr, "xsched %s: no answer from xschedd at %s: %s\n", cmd, link.path.c_str(), std::strerror(r));
    return false;
  }
  if (reply->type == MsgType::kError) {
    ErrorMsg e{};
    if (!read_exact(reply->payload, &e)) {
      std::fprintf(stderr, "xsched %s: malformed error from xschedd\n", cmd);
    } else {
      std::fprintf(stderr, "xsched %s: %.*s\n", cmd, static_cast<int>(text_length(e.text)), e.text);
    }
    return false;
  }
  if (reply->type != want) {
    std::fprintf(stderr, "xsched %s: unexpected reply from xschedd\n", cmd);
    return false;
  }
  return true;
}

using Json = nlohmann::ordered_json;

// JSON text: bytes that are not UTF-8 (a process names itself as it likes)
// become U+FFFD, so that the output is always valid JSON.
std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// The daemon's number, checked before it becomes an xs_policy_t.
const char* policy_name(uint32_t p) {
  return p < kPolicyCount ? xsched::policy_name(static_cast<xs_policy_t>(p)) : "unknown";
}

const char* state_of(const QueueRecord& q) {
  if (q.running == 0) return q.ready != 0 ? "held" : "idle,held";
  return q.ready != 0 ? "running" : "idle";
}

std::string micros(int64_t ns) {
  if (ns < 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(ns) / 1000.0);
  return buf;
}

// Microseconds to one decimal, or null for "none yet" (negative).
Json micros_json(int64_t ns) {
  if (ns < 0) return nullptr;
  return static_cast<double>((ns + 50) / 100) / 10.0;
}

// The daemon's registered_ns is its host's steady clock (CLOCK_MONOTONIC);
// the command line runs on the same host.
int64_t steady_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Commands completed per second since the process registered.
double rate(uint64_t completed, int64_t registered_ns, int64_t now_ns) {
  const int64_t age = now_ns - registered_ns;
  return age > 0 ? static_cast<double>(completed) * 1e9 / static_cast<double>(age) : 0.0;
}

std::string rate_text(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", r);
  return buf;
}

// A process's full command line, from /proc/<pid>/cmdline (its arguments
// separated by spaces), or its 16-byte name where that cannot be read (gone,
// another PID namespace, a kernel thread).
std::string cmdline_of(uint32_t pid, std::string_view name) {
  std::string out;
  if (pid != 0) {
    const std::string path = "/proc/" + std::to_string(pid) + "/cmdline";
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && out.size() < 65536) out.append(buf, n);
      std::fclose(f);
    }
  }
  while (!out.empty() && out.back() == '\0') out.pop_back();
  std::replace(out.begin(), out.end(), '\0', ' ');
  return out.empty() ? std::string(name) : out;
}

struct Snapshot {
  ListHead head{};
  std::vector<ProcessRecord> procs;
  std::vector<QueueRecord> queues;
  int64_t now_ns = 0;  // when it was taken
};

bool fetch(Link& link, const char* cmd, Snapshot* s) {
  Frame reply{};
  if (!request(link, cmd, MsgType::kList, {}, MsgType::kListReply, &reply)) return false;
  if (!read_list(reply.payload, &s->head, &s->procs, &s->queues)) {
    std::fprintf(stderr, "xsched %s: malformed list from xschedd\n", cmd);
    return false;
  }
  s->now_ns = steady_now_ns();
  return true;
}

DeviceId device_of(const QueueRecord& q) {
  DeviceId d;
  std::memcpy(d.uuid.data(), q.device_uuid, d.uuid.size());
  return d;
}

// One device as the daemon sees it: its scheduling domain's queues.
struct DeviceSummary {
  DeviceId id;
  uint32_t platform = 0;
  int32_t ordinal = -1;  // as its first queue's process numbers it
  std::string name;      // as its first queue's process gave it (untrusted)
  uint32_t queues = 0, ready = 0, held = 0;
};

// Per device, in the order of each device's first queue.
std::vector<DeviceSummary> devices_of(const Snapshot& s) {
  std::vector<DeviceSummary> out;
  for (const QueueRecord& q : s.queues) {
    const DeviceId id = device_of(q);
    auto it = std::find_if(out.begin(), out.end(), [&](const DeviceSummary& d) { return d.id == id; });
    if (it == out.end()) {
      it = out.insert(out.end(), DeviceSummary{id, q.platform, q.device,
                                               std::string(q.device_name, text_length(q.device_name))});
    }
    ++it->queues;
    it->ready += q.ready != 0;
    it->held += q.running == 0;
  }
  return out;
}

const ProcessRecord* process_of(const Snapshot& s, uint32_t pid) {
  for (const ProcessRecord& p : s.procs) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

std::string raw_name(const ProcessRecord& p) { return std::string(p.name, text_length(p.name)); }

// The queue's commands completed per second since its process registered.
double queue_rate(const Snapshot& s, const QueueRecord& q) {
  const ProcessRecord* p = process_of(s, q.pid);
  return p != nullptr ? rate(q.completed, p->registered_ns, s.now_ns) : 0.0;
}

double process_rate(const Snapshot& s, const ProcessRecord& p) {
  uint64_t completed = 0;
  for (const QueueRecord& q : s.queues) {
    if (q.pid == p.pid) completed += q.completed;
  }
  return rate(completed, p.registered_ns, s.now_ns);
}

Json to_json(const Snapshot& s) {
  Json j;
  j["policy"] = policy_name(s.head.policy);
  Json procs = Json::array();
  for (const ProcessRecord& p : s.procs) {
    procs.push_back({{"pid", p.pid},
                     {"uid", p.uid},
                     {"name", raw_name(p)},
                     {"queues", p.queues},
                     {"cmdline", cmdline_of(p.pid, raw_name(p))},
                     {"registered_ns", p.registered_ns},
                     {"completed_per_s", process_rate(s, p)}});
  }
  j["processes"] = std::move(procs);
  Json devices = Json::array();
  for (const DeviceSummary& d : devices_of(s)) {
    devices.push_back({{"device_uuid", d.id.text(platform_name(d.platform))},
                       {"name", d.name},
                       {"platform", platform_name(d.platform)},
                       {"device", d.ordinal},
                       {"queues", d.queues},
                       {"ready", d.ready},
                       {"held", d.held}});
  }
  j["devices"] = std::move(devices);
  Json queues = Json::array();
  for (const QueueRecord& q : s.queues) {
    queues.push_back({{"queue", q.id},
                      {"pid", q.pid},
                      {"local_id", q.local_id},
                      {"platform", platform_name(q.platform)},
                      {"device", q.device},
                      {"device_uuid", device_of(q).text(platform_name(q.platform))},
                      {"level", q.level},
                      {"state", state_of(q)},
                      {"ready", q.ready != 0},
                      {"running", q.running != 0},
                      {"priority", q.priority},
                      {"share", q.share},
                      {"deadline_us", q.deadline_ns / 1000},
                      {"preemptions", q.suspensions},
                      {"latency_p50_us", micros_json(q.latency_p50_ns)},
                      {"latency_p99_us", micros_json(q.latency_p99_ns)},
                      {"submitted", q.submitted},
                      {"completed", q.completed},
                      {"completed_per_s", queue_rate(s, q)}});
  }
  j["queues"] = std::move(queues);
  return j;
}

void print_json(const Snapshot& s) { std::printf("%s\n", dump(to_json(s)).c_str()); }

// A process's name as the table shows it: the process chose it, so it may
// hold terminal escapes.
std::string name_of(const ProcessRecord* p) {
  return p != nullptr ? printable_text(std::string_view(p->name, text_length(p->name))) : "?";
}

void print_queue_row(const Snapshot& s, const QueueRecord& q) {
  const ProcessRecord* p = process_of(s, q.pid);
  char platform[24];
  const char* pname = platform_from_name(platform_name(q.platform)) != 0 ? platform_name(q.platform) : "?";
  if (q.device >= 0) {
    std::snprintf(platform, sizeof platform, "%s:%d", pname, q.device);
  } else {
    std::snprintf(platform, sizeof platform, "%s", pname);
  }
  std::printf("%7u %-15s %6llu %-9s %5u %-9s %8d %6u %9s %8llu %9s %9s %10llu %9s\n", q.pid, name_of(p).c_str(),
              static_cast<unsigned long long>(q.id), platform, q.level, state_of(q), q.priority, q.share,
              q.deadline_ns > 0 ? std::to_string(q.deadline_ns / 1000).c_str() : "-",
              static_cast<unsigned long long>(q.suspensions), micros(q.latency_p50_ns).c_str(),
              micros(q.latency_p99_ns).c_str(), static_cast<unsigned long long>(q.completed),
              rate_text(queue_rate(s, q)).c_str());
}

void print_table(const Snapshot& s) {
  const std::vector<DeviceSummary> devices = devices_of(s);
  std::printf("policy %s, %zu processes, %zu queues, %zu devices\n", policy_name(s.head.policy), s.procs.size(),
              s.queues.size(), devices.size());
  // Each device is a scheduling domain of its own: its queues together, under its identity.
  for (const DeviceSummary& d : devices) {
    std::printf("\ndevice %s (%s:%d%s%s): %u queues, %u ready, %u held\n", d.id.text(platform_name(d.platform)).c_str(),
                platform_name(d.platform), d.ordinal, d.name.empty() ? "" : ", ", printable_text(d.name).c_str(),
                d.queues, d.ready, d.held);
    std::printf("%7s %-15s %6s %-9s %5s %-9s %8s %6s %9s %8s %9s %9s %10s %9s\n", "PID", "NAME", "QUEUE", "PLATFORM",
                "LEVEL", "STATE", "PRIORITY", "SHARE", "DEADL_US", "PREEMPT", "LAT50_US", "LAT99_US", "DONE", "DONE/S");
    for (const QueueRecord& q : s.queues) {
      if (device_of(q) == d.id) print_queue_row(s, q);
    }
  }
  for (const ProcessRecord& p : s.procs) {
    if (p.queues == 0) std::printf("%7u %-15s (no queues yet)\n", p.pid, name_of(&p).c_str());
  }
  if (!s.procs.empty()) {
    std::printf("\n%7s %6s %6s %9s %s\n", "PID", "UID", "QUEUES", "DONE/S", "COMMAND");
    for (const ProcessRecord& p : s.procs) {
      std::printf("%7u %6u %6u %9s %s\n", p.pid, p.uid, p.queues, rate_text(process_rate(s, p)).c_str(),
                  printable_text(cmdline_of(p.pid, raw_name(p))).c_str());
    }
  }
}

// --device's check: "" or what is wrong.
std::string device_check(const std::string& v) {
  DeviceId id;
  return parse_device_id(v, &id) ? ""
                                 : "is not a device identity (GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx or host-..., "
                                   "as 'xsched list' shows it)";
}

// ---- set: what a change did ----

// The distinct values of one hint among a target's queues, in their order.
struct OldValues {
  std::vector<int64_t> priority, share, deadline_us;
  void add(const QueueRecord& q) {
    auto put = [](std::vector<int64_t>& v, int64_t x) {
      if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
    };
    put(priority, q.priority);
    put(share, q.share);
    put(deadline_us, q.deadline_ns / 1000);
  }
};

struct Target {
  std::string what;  // "pid 1234" or "queue 7 of pid 1234"
  uint32_t pid = 0;
  uint64_t queue = 0;  // 0: the whole process
  std::string name;
  OldValues old;
};

std::vector<Target> targets_of(const Snapshot& s, const HintsChange& h) {
  std::vector<Target> out;
  auto queue_target = [&](const QueueRecord& q) {
    const ProcessRecord* p = process_of(s, q.pid);
    Target t{"queue " + std::to_string(q.id) + " of pid " + std::to_string(q.pid), q.pid, q.id,
             p != nullptr ? raw_name(*p) : "?", {}};
    t.old.add(q);
    out.push_back(t);
  };
  if (h.one_device != 0) {
    DeviceId id;
    std::memcpy(id.uuid.data(), h.device_uuid, id.uuid.size());
    for (const QueueRecord& q : s.queues) {
      if (device_of(q) == id && (h.pid == 0 || q.pid == h.pid)) queue_target(q);
    }
  } else if (h.queue != 0) {
    for (const QueueRecord& q : s.queues) {
      if (q.id == h.queue) queue_target(q);
    }
  } else if (const ProcessRecord* p = process_of(s, h.pid)) {
    Target t{"pid " + std::to_string(p->pid), p->pid, 0, raw_name(*p), {}};
    for (const QueueRecord& q : s.queues) {
      if (q.pid == p->pid) t.old.add(q);
    }
    out.push_back(t);
  }
  if (out.empty()) {
    // Registered after the list was taken: what was asked, without values before.
    DeviceId id;
    std::memcpy(id.uuid.data(), h.device_uuid, id.uuid.size());
    out.push_back(Target{h.queue != 0    ? "queue " + std::to_string(h.queue)
                         : h.one_device ? "device " + id.text("cuda") + (h.pid != 0 ? " of pid " + std::to_string(h.pid) : "")
                                        : "pid " + std::to_string(h.pid),
                         h.pid, h.queue, "?", {}});
  }
  return out;
}

// Old values as text: "0", "0/3" where the queues differ, "-" where there are none.
std::string old_text(const std::vector<int64_t>& v) {
  if (v.empty()) return "-";
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : "/") + std::to_string(x);
  return s;
}

Json old_json(const std::vector<int64_t>& v) {
  if (v.empty()) return nullptr;
  if (v.size() == 1) return v[0];
  return v;
}

void print_changes(const std::vector<Target>& targets, const HintsChange& h, bool json) {
  struct Field {
    uint32_t bit;
    const char* name;
    std::vector<int64_t> OldValues::*old;
    int64_t value;
  };
  const Field fields[] = {{kHintPriority, "priority", &OldValues::priority, h.priority},
                          {kHintShare, "share", &OldValues::share, h.share},
                          {kHintDeadline, "deadline_us", &OldValues::deadline_us, h.deadline_ns / 1000}};
  Json changed = Json::array();
  for (const Target& t : targets) {
    if (json) {
      Json j = {{"pid", t.pid}, {"name", t.name}};
      if (t.queue != 0) j["queue"] = t.queue;
      for (const Field& f : fields) {
        if ((h.fields & f.bit) != 0) j[f.name] = {{"old", old_json(t.old.*f.old)}, {"new", f.value}};
      }
      changed.push_back(std::move(j));
      continue;
    }
    std::string line = t.what + " (" + printable_text(t.name) + "):";
    const char* sep = " ";
    for (const Field& f : fields) {
      if ((h.fields & f.bit) == 0) continue;
      line += sep + std::string(f.name) + " " + old_text(t.old.*f.old) + " -> " + std::to_string(f.value);
      sep = ", ";
    }
    std::printf("%s\n", line.c_str());
  }
  if (json) std::printf("%s\n", dump(Json{{"changed", std::move(changed)}}).c_str());
}

// ---- samples --summary ----

struct Summary {
  std::size_t count = 0;
  int64_t p50 = -1, p99 = -1, max = -1;
};

Summary summarize(std::vector<int64_t> v) {
  Summary s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least p of the samples at or below it.
  auto rank = [&](double p) {
    const auto k = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::min(v.size(), std::max<std::size_t>(k, 1)) - 1];
  };
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  s.max = v.back();
  return s;
}

}  // namespace

int list_main(int argc, char** argv) {
  Options opt("list", "usage: xsched list [--json] [--socket PATH]\n",
              "Lists the processes and queues xschedd schedules: state, hints, preemptions,\n"
              "recent decision latency (from a change to the queue's decision applied) and\n"
              "commands completed per second since the process registered; then each\n"
              "process's full command line (from /proc on this host; its 16-byte name where\n"
              "that cannot be read).");
  Common c;
  add_common(opt, &c);
  if (const int r = opt.parse(argc, argv); r >= 0) return r;
  Link link;
  if (!open_link(c, "list", &link)) return 1;
  Snapshot s;
  if (!fetch(link, "list", &s)) return 1;
  c.json ? print_json(s) : print_table(s);
  return 0;
}

int top_main(int argc, char** argv) {
  constexpr double kMinInterval = 0.05, kMaxInterval = 3600;
  Options opt("top", "usage: xsched top [--interval SECONDS] [--count N] [--json] [--socket PATH]\n",
              "A live view of xschedd's queues (as 'xsched list' shows them), refreshed every\n"
              "interval until interrupted, or N times. --json prints one snapshot per line instead.");
  Common c;
  add_common(opt, &c);
  std::string interval_text;
  int64_t count = -1;
  char range[64];
  std::snprintf(range, sizeof range, "a number of seconds in %g..%g", kMinInterval, kMaxInterval);
  opt.add_text("--interval", &interval_text, "SECONDS", std::string("time between snapshots (default 1; ") + range + ")",
               [&](const std::string& v) {
                 char* end = nullptr;
                 const double x = std::strtod(v.c_str(), &end);
                 return end != v.c_str() && *end == '\0' && x >= kMinInterval && x <= kMaxInterval
                            ? std::string()
                            : "is not valid: wants " + std::string(range);
               });
  opt.add_int("--count", &count, 1, 1'000'000'000, "N", "stop after N snapshots");
  if (const int r = opt.parse(argc, argv); r >= 0) return r;
  const double interval = interval_text.empty() ? 1.0 : std::strtod(interval_text.c_str(), nullptr);
  Link link;
  if (!open_link(c, "top", &link)) return 1;
  const bool tty = isatty(STDOUT_FILENO) != 0 && !c.json;
  for (int64_t n = 0; count < 0 || n < count; ++n) {
    if (n > 0) std::this_thread::sleep_for(std::chrono::duration<double>(interval));
    Snapshot s;
    if (!fetch(link, "top", &s)) return 1;
    if (tty) std::fputs("\033[H\033[2J", stdout);  // home, clear
    c.json ? print_json(s) : print_table(s);
    if (!tty && !c.json) std::putchar('\n');
    std::fflush(stdout);
  }
  return 0;
}

int set_main(int argc, char** argv) {
  Options opt("set",
              "usage: xsched set (--pid PID | --queue Q | --device ID [--pid PID]) [--priority N] [--share S]\n"
              "                  [--deadline-us D] [--json] [--socket PATH]\n",
              "Changes the hints of a running program (every queue it has and will make; a\n"
              "queue's own offset, such as a CUDA stream priority, adds to a pid's priority), of\n"
              "one queue (its number in 'xsched list'), or of every queue on one device (its\n"
              "identity as 'xsched list' shows it; with --pid, that program's only), each set to\n"
              "exactly the values given. Only root changes another user's programs. Prints one\n"
              "line per program or queue changed, with each hint's value before and after\n"
              "(values before as 'xsched list' showed them; a/b where the queues differed).");
  Common c;
  add_common(opt, &c);
  int64_t pid = 0, queue = 0, priority = 0, share = 0, deadline_us = 0;
  std::string device;
  opt.add_int("--pid", &pid, 1, INT32_MAX, "PID", "a registered program's process id");
  opt.add_int("--queue", &queue, 1, INT64_MAX, "Q", "one queue: its number in 'xsched list'");
  opt.add_text("--device", &device, "ID", "every queue on one device: its identity in 'xsched list'", device_check);
  opt.add_int("--priority", &priority, kMinPriority, kMaxPriority, "N",
              "priority, " + Options::range(kMinPriority, kMaxPriority) + "; higher runs first");
  opt.add_int("--share", &share, 1, kMaxShare, "S", "bandwidth share, " + Options::range(1, kMaxShare));
  opt.add_int("--deadline-us", &deadline_us, kMinDeadlineNs / 1000, kMaxDeadlineNs / 1000, "D",
              "deadline in microseconds, " + Options::range(kMinDeadlineNs / 1000, kMaxDeadlineNs / 1000, true) +
                  " (0: none)",
              true);
  if (const int r = opt.parse(argc, argv); r >= 0) return r;
  HintsChange h{};
  h.pid = static_cast<uint32_t>(pid);
  h.queue = static_cast<uint64_t>(queue);
  if (!device.empty()) {
    DeviceId id;
    parse_device_id(device, &id);
    h.one_device = 1;
    std::memcpy(h.device_uuid, id.uuid.data(), sizeof h.device_uuid);
  }
  auto given = [&](const char* name) { return opt.app().count(name) != 0; };
  if (given("--priority")) {
    h.priority = static_cast<int32_t>(priority);
    h.fields |= kHintPriority;
  }
  if (given("--share")) {
    h.share = static_cast<uint32_t>(share);
    h.fields |= kHintShare;
  }
  if (given("--deadline-us")) {
    h.deadline_ns = deadline_us * 1000;
    h.fields |= kHintDeadline;
  }
  if (h.queue != 0 ? (h.pid != 0 || h.one_device != 0) : (h.pid == 0 && h.one_device == 0)) {
    return opt.fail("name one program (--pid), one queue (--queue) or one device (--device)");
  }
  if (h.fields == 0) return opt.fail("nothing to set (--priority, --share or --deadline-us)");
  Link link;
  if (!open_link(c, "set", &link)) return 1;
  // The values before, to say what changed (the daemon's reply says only that it did).
  Snapshot before;
  if (!fetch(link, "set", &before)) return 1;
  Frame reply{};
  if (!request(link, "set", MsgType::kHints, bytes_of(h), MsgType::kOk, &reply)) return 1;
  print_changes(targets_of(before, h), h, c.json);
  return 0;
}

int policy_main(int argc, char** argv) {
  Options opt("policy", "usage: xsched policy [NAME] [--device ID] [--json] [--socket PATH]\n",
              "Shows xschedd's policy, or switches it to NAME for every device at once, or\n"
              "with --device for one device (its identity as 'xsched list' shows it: GPU-...\n"
              "or host-...). Each device is scheduled on its own. Only root or the daemon's\n"
              "user may switch it.",
              "The policies:\n" + policy_help("  "));
  Common c;
  add_common(opt, &c);
  std::string name, device;
  opt.app().add_option("name", name, "one of " + policy_names(", "));
  opt.add_text("--device", &device, "ID", "one device: its identity in 'xsched list'", device_check);
  if (const int r = opt.parse(argc, argv); r >= 0) return r;
  const bool has_name = opt.app().count("name") != 0;
  const bool one = opt.app().count("--device") != 0;
  PolicyMsg set{};
  if (has_name) {
    xs_policy_t p;
    if (!policy_from_name(name, &p)) return opt.fail("'" + name + "' is not one of " + policy_names(", "));
    set.policy = static_cast<uint32_t>(p);
  }
  if (one) {
    DeviceId id;
    parse_device_id(device, &id);
    set.one_device = 1;
    std::memcpy(set.device_uuid, id.uuid.data(), sizeof set.device_uuid);
  }
  Link link;
  if (!open_link(c, "policy", &link)) return 1;
  Frame reply{};
  const std::span<const std::byte> ask = one ? bytes_of(set) : std::span<const std::byte>{};
  const bool ok = has_name ? request(link, "policy", MsgType::kSetPolicy, bytes_of(set), MsgType::kPolicyReply, &reply)
                           : request(link, "policy", MsgType::kGetPolicy, ask, MsgType::kPolicyReply, &reply);
  PolicyMsg got{};
  if (!ok || !read_exact(reply.payload, &got)) return 1;
  if (c.json) {
    Json j = {{"policy", policy_name(got.policy)}};
    if (one) j["device_uuid"] = device;
    std::printf("%s\n", dump(j).c_str());
  } else {
    std::printf("%s\n", policy_name(got.policy));
  }
  return 0;
}

int samples_main(int argc, char** argv) {
  Options opt("samples", "usage: xsched samples [--clear] [--summary] [--json] [--socket PATH]\n",
              "The decision latencies xschedd has collected (the newest 32767): for each suspend or\n"
              "resume, the time from its cause (a queue's change, seen by its process) to the\n"
              "decision taking effect (latency_ns): xschedd's store in the queue's gate word (by\n"
              "store) or else the queue's process having applied it (by agent); and of that the\n"
              "time to the daemon's decision (daemon_ns). One line each: latency_ns daemon_ns pid\n"
              "queue kind by.");
  Common c;
  add_common(opt, &c);
  bool clear = false, summary = false;
  opt.add_flag("--clear", &clear, "forget them after printing (root or the daemon's user)");
  opt.add_flag("--summary", &summary, "count, p50, p99 and max of latency_ns instead, in all and per kind");
  if (const int r = opt.parse(argc, argv); r >= 0) return r;
  SamplesRequest req{};
  req.clear = clear ? 1 : 0;
  Link link;
  if (!open_link(c, "samples", &link)) return 1;
  Frame reply{};
  if (!request(link, "samples", MsgType::kSamples, bytes_of(req), MsgType::kSamplesReply, &reply)) return 1;
  SamplesHead head{};
  std::vector<Sample> samples;
  if (!read_records(reply.payload, &head, &samples, [](const SamplesHead& h) { return h.count; })) {
    std::fprintf(stderr, "xsched samples: malformed reply from xschedd\n");
    return 1;
  }
  auto kind_of = [](const Sample& s) { return s.kind == 1 ? "suspend" : "resume"; };
  if (summary) {
    std::vector<std::pair<const char*, Summary>> rows;
    for (const char* kind : {"all", "suspend", "resume"}) {
      std::vector<int64_t> v;
      for (const Sample& s : samples) {
        if (std::strcmp(kind, "all") == 0 || std::strcmp(kind, kind_of(s)) == 0) v.push_back(s.latency_ns);
      }
      rows.emplace_back(kind, summarize(std::move(v)));
    }
    if (c.json) {
      Json j = Json::object();
      for (const auto& [kind, s] : rows) {
        auto ns = [](int64_t x) { return x < 0 ? Json(nullptr) : Json(x); };
        j[kind] = {{"count", s.count}, {"p50_ns", ns(s.p50)}, {"p99_ns", ns(s.p99)}, {"max_ns", ns(s.max)}};
      }
      std::printf("%s\n", dump(Json{{"summary", std::move(j)}}).c_str());
    } else {
      std::printf("%-8s %8s %10s %10s %10s\n", "KIND", "COUNT", "P50_US", "P99_US", "MAX_US");
      for (const auto& [kind, s] : rows) {
        std::printf("%-8s %8zu %10s %10s %10s\n", kind, s.count, micros(s.p50).c_str(), micros(s.p99).c_str(),
                    micros(s.max).c_str());
      }
    }
    return 0;
  }
  Json list = Json::array();
  for (const Sample& s : samples) {
    const char* by = s.by == 2 ? "store" : "agent";
    if (c.json) {
      list.push_back({{"latency_ns", s.latency_ns},
                      {"daemon_ns", s.daemon_ns},
                      {"pid", s.pid},
                      {"queue", s.queue},
                      {"kind", kind_of(s)},
                      {"by", by}});
    } else {
      std::printf("%lld %lld %u %llu %s %s\n", static_cast<long long>(s.latency_ns), static_cast<long long>(s.daemon_ns),
                  s.pid, static_cast<unsigned long long>(s.queue), kind_of(s), by);
    }
  }
  if (c.json) std::printf("%s\n", dump(Json{{"samples", std::move(list)}}).c_str());
  return 0;
}

}  // namespace xsched::cli

#include "cli/daemon_view.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/config.h"
#include "core/hint_limits.h"
#include "core/platform_list.h"
#include "core/policy_list.h"
#include "ipc/unix_socket.h"
#include "xsched/xsched.h"

namespace xsched::cli {

// The longest one exchange with the daemon (connect and request, or one
// request of `top`) may take: a stopped daemon must not hang the command.


void add_common(Options& opt, Common* c, bool json) {
  if (json) opt.add_flag("--json", &c->json, "print JSON instead of text");
  opt.add_text("--socket", &c->socket, "PATH", "xschedd's socket (default: XSCHED_SOCKET, else the usual path)");
}


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

}  // namespace xsched::cli

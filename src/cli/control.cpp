#include "cli/control.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/device_id.h"
#include "core/hint_limits.h"
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

// Parses the common options and calls more(option, value-or-null, &i) for
// the others; returns 0 to go on, or an exit status.
template <class More>
int parse(int argc, char** argv, const char* cmd, const char* usage, Common* c, More more) {
  for (int i = 0; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0) {
      std::fputs(usage, stdout);
      return -1;
    }
    if (std::strcmp(a, "--json") == 0) {
      c->json = true;
      continue;
    }
    if (std::strcmp(a, "--socket") == 0) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "xsched %s: --socket needs a value\n", cmd);
        return 2;
      }
      c->socket = argv[++i];
      continue;
    }
    const int r = more(argc, argv, &i);
    if (r != 0) {
      if (r == 2) std::fputs(usage, stderr);
      return r;
    }
  }
  return 0;
}

// The daemon's number, checked before it becomes an xs_policy_t.
const char* policy_name(uint32_t p) {
  return p < kPolicyCount ? xsched::policy_name(static_cast<xs_policy_t>(p)) : "unknown";
}

std::string json_text(const char* s, std::size_t n) {
  std::string out = "\"";
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20 || ch >= 0x7f) {  // control bytes, and bytes that may not be UTF-8 (read as Latin-1)
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
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

struct Snapshot {
  ListHead head{};
  std::vector<ProcessRecord> procs;
  std::vector<QueueRecord> queues;
};

bool fetch(Link& link, const char* cmd, Snapshot* s) {
  Frame reply{};
  if (!request(link, cmd, MsgType::kList, {}, MsgType::kListReply, &reply)) return false;
  if (!read_list(reply.payload, &s->head, &s->procs, &s->queues)) {
    std::fprintf(stderr, "xsched %s: malformed list from xschedd\n", cmd);
    return false;
  }
  return true;
}

const char* platform_name(uint32_t platform) {
  return platform == XS_PLATFORM_CUDA ? "cuda" : platform == XS_PLATFORM_HOST ? "host" : "unknown";
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

void print_json(const Snapshot& s) {
  std::printf("{\"policy\":\"%s\",\"processes\":[", policy_name(s.head.policy));
  for (std::size_t i = 0; i < s.procs.size(); ++i) {
    const ProcessRecord& p = s.procs[i];
    std::printf("%s{\"pid\":%u,\"uid\":%u,\"name\":%s,\"queues\":%u}", i ? "," : "", p.pid, p.uid,
                json_text(p.name, text_length(p.name)).c_str(), p.queues);
  }
  std::printf("],\"devices\":[");
  const std::vector<DeviceSummary> devices = devices_of(s);
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const DeviceSummary& d = devices[i];
    std::printf("%s{\"device_uuid\":\"%s\",\"name\":%s,\"platform\":\"%s\",\"device\":%d,\"queues\":%u,"
                "\"ready\":%u,\"held\":%u}",
                i ? "," : "", d.id.text(platform_name(d.platform)).c_str(), json_text(d.name.data(), d.name.size()).c_str(),
                platform_name(d.platform), d.ordinal, d.queues, d.ready, d.held);
  }
  std::printf("],\"queues\":[");
  for (std::size_t i = 0; i < s.queues.size(); ++i) {
    const QueueRecord& q = s.queues[i];
    std::printf("%s{\"queue\":%llu,\"pid\":%u,\"local_id\":%llu,\"platform\":\"%s\",\"device\":%d,"
                "\"device_uuid\":\"%s\",\"level\":%u,"
                "\"state\":\"%s\",\"ready\":%s,\"running\":%s,\"priority\":%d,\"share\":%u,\"deadline_us\":%lld,"
                "\"preemptions\":%llu,\"latency_p50_us\":%s,\"latency_p99_us\":%s,\"submitted\":%llu,\"completed\":%llu}",
                i ? "," : "", static_cast<unsigned long long>(q.id), q.pid, static_cast<unsigned long long>(q.local_id),
                platform_name(q.platform), q.device, device_of(q).text(platform_name(q.platform)).c_str(),
                q.level, state_of(q), q.ready ? "true" : "false", q.running ? "true" : "false", q.priority, q.share,
                static_cast<long long>(q.deadline_ns / 1000), static_cast<unsigned long long>(q.suspensions),
                q.latency_p50_ns < 0 ? "null" : micros(q.latency_p50_ns).c_str(),
                q.latency_p99_ns < 0 ? "null" : micros(q.latency_p99_ns).c_str(),
                static_cast<unsigned long long>(q.submitted), static_cast<unsigned long long>(q.completed));
  }
  std::printf("]}\n");
}

// A process's name as the table shows it: the process chose it, so it may
// hold terminal escapes.
std::string name_of(const ProcessRecord* p) {
  return p != nullptr ? printable_text(std::string_view(p->name, text_length(p->name))) : "?";
}

void print_queue_row(const Snapshot& s, const QueueRecord& q) {
  const ProcessRecord* p = process_of(s, q.pid);
  char platform[24];
  const char* pname = q.platform == XS_PLATFORM_CUDA ? "cuda" : q.platform == XS_PLATFORM_HOST ? "host" : "?";
  if (q.device >= 0) {
    std::snprintf(platform, sizeof platform, "%s:%d", pname, q.device);
  } else {
    std::snprintf(platform, sizeof platform, "%s", pname);
  }
  std::printf("%7u %-15s %6llu %-9s %5u %-9s %8d %6u %9s %8llu %9s %9s %10llu\n", q.pid, name_of(p).c_str(),
              static_cast<unsigned long long>(q.id), platform, q.level, state_of(q), q.priority, q.share,
              q.deadline_ns > 0 ? std::to_string(q.deadline_ns / 1000).c_str() : "-",
              static_cast<unsigned long long>(q.suspensions), micros(q.latency_p50_ns).c_str(),
              micros(q.latency_p99_ns).c_str(), static_cast<unsigned long long>(q.completed));
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
    std::printf("%7s %-15s %6s %-9s %5s %-9s %8s %6s %9s %8s %9s %9s %10s\n", "PID", "NAME", "QUEUE", "PLATFORM",
                "LEVEL", "STATE", "PRIORITY", "SHARE", "DEADL_US", "PREEMPT", "LAT50_US", "LAT99_US", "DONE");
    for (const QueueRecord& q : s.queues) {
      if (device_of(q) == d.id) print_queue_row(s, q);
    }
  }
  for (const ProcessRecord& p : s.procs) {
    if (p.queues == 0) std::printf("%7u %-15s (no queues yet)\n", p.pid, name_of(&p).c_str());
  }
}

}  // namespace

int list_main(int argc, char** argv) {
  static const char* const usage =
      "usage: xsched list [--json] [--socket PATH]\n"
      "Lists the processes and queues xschedd schedules: state, hints, preemptions and\n"
      "recent decision latency (from a change to the queue's decision applied).\n";
  Common c;
  const int r = parse(argc, argv, "list", usage, &c, [](int, char** v, int* i) {
    std::fprintf(stderr, "xsched list: unknown option '%s'\n", v[*i]);
    return 2;
  });
  if (r != 0) return r < 0 ? 0 : r;
  Link link;
  if (!open_link(c, "list", &link)) return 1;
  Snapshot s;
  if (!fetch(link, "list", &s)) return 1;
  c.json ? print_json(s) : print_table(s);
  return 0;
}

int top_main(int argc, char** argv) {
  static const char* const usage =
      "usage: xsched top [--interval SECONDS] [--count N] [--json] [--socket PATH]\n"
      "A live view of xschedd's queues, refreshed every interval (default 1 s) until\n"
      "interrupted, or N times. --json prints one snapshot per line instead.\n";
  Common c;
  double interval = 1.0;
  int64_t count = -1;
  const int r = parse(argc, argv, "top", usage, &c, [&](int n, char** v, int* i) {
    const std::string a = v[*i];
    if ((a == "--interval" || a == "--count") && *i + 1 < n) {
      const char* value = v[++*i];
      if (a == "--count") {
        if (int_in_range(value, 1, 1'000'000'000, &count)) return 0;
      } else {
        char* end = nullptr;
        interval = std::strtod(value, &end);
        if (end != value && *end == '\0' && interval >= 0.05 && interval <= 3600) return 0;
      }
      std::fprintf(stderr, "xsched top: %s '%s' is not valid\n", a.c_str(), value);
      return 2;
    }
    std::fprintf(stderr, "xsched top: unknown option '%s'\n", a.c_str());
    return 2;
  });
  if (r != 0) return r < 0 ? 0 : r;
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
  static const char* const usage =
      "usage: xsched set (--pid PID | --queue Q | --device ID [--pid PID]) [--priority N] [--share S]\n"
      "                  [--deadline-us D] [--socket PATH]\n"
      "Changes the hints of a running program (every queue it has and will make; a\n"
      "queue's own offset, such as a CUDA stream priority, adds to a pid's priority), of\n"
      "one queue (its number in 'xsched list'), or of every queue on one device (its\n"
      "identity as 'xsched list' shows it; with --pid, that program's only), each set to\n"
      "exactly the values given. Only root changes another user's programs.\n"
      "  --priority N     -1000000..1000000\n"
      "  --share S        1..1000000\n"
      "  --deadline-us D  0 (none) or 100..3600000000\n";
  Common c;
  HintsChange h{};
  const int r = parse(argc, argv, "set", usage, &c, [&](int n, char** v, int* i) {
    const std::string a = v[*i];
    if (*i + 1 >= n) {
      std::fprintf(stderr, "xsched set: %s needs a value\n", a.c_str());
      return 2;
    }
    const char* value = v[++*i];
    int64_t x = 0;
    bool ok = false;
    if (a == "--pid") {
      ok = int_in_range(value, 1, INT32_MAX, &x);
      h.pid = static_cast<uint32_t>(x);
    } else if (a == "--device") {
      DeviceId id;
      if (!parse_device_id(value, &id)) {
        std::fprintf(stderr, "xsched set: '%s' is not a device identity (GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx or "
                             "host-..., as 'xsched list' shows it)\n", value);
        return 2;
      }
      h.one_device = 1;
      std::memcpy(h.device_uuid, id.uuid.data(), sizeof h.device_uuid);
      return 0;
    } else if (a == "--queue") {
      ok = int_in_range(value, 1, INT64_MAX, &x);
      h.queue = static_cast<uint64_t>(x);
    } else if (a == "--priority") {
      ok = int_in_range(value, kMinPriority, kMaxPriority, &x);
      h.priority = static_cast<int32_t>(x);
      h.fields |= kHintPriority;
    } else if (a == "--share") {
      ok = int_in_range(value, 1, kMaxShare, &x);
      h.share = static_cast<uint32_t>(x);
      h.fields |= kHintShare;
    } else if (a == "--deadline-us") {
      ok = int_in_range(value, 0, kMaxDeadlineNs / 1000, &x) && valid_deadline(x * 1000);
      h.deadline_ns = x * 1000;
      h.fields |= kHintDeadline;
    } else {
      std::fprintf(stderr, "xsched set: unknown option '%s'\n", a.c_str());
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "xsched set: %s '%s' is out of range or not an integer\n", a.c_str(), value);
      return 2;
    }
    return 0;
  });
  if (r != 0) return r < 0 ? 0 : r;
  if (h.queue != 0 ? (h.pid != 0 || h.one_device != 0) : (h.pid == 0 && h.one_device == 0)) {
    std::fprintf(stderr, "xsched set: name one program (--pid), one queue (--queue) or one device (--device)\n%s",
                 usage);
    return 2;
  }
  if (h.fields == 0) {
    std::fprintf(stderr, "xsched set: nothing to set (--priority, --share or --deadline-us)\n%s", usage);
    return 2;
  }
  Link link;
  if (!open_link(c, "set", &link)) return 1;
  Frame reply{};
  return request(link, "set", MsgType::kHints, bytes_of(h), MsgType::kOk, &reply) ? 0 : 1;
}

int policy_main(int argc, char** argv) {
  static const std::string usage_text =
      "usage: xsched policy [NAME] [--device ID] [--json] [--socket PATH]\n"
      "Shows xschedd's policy, or switches it to NAME for every device at once, or\n"
      "with --device for one device (its identity as `xsched list` shows it: GPU-...\n"
      "or host-...). Each device is scheduled on its own. Only root or the daemon's\n"
      "user may switch it. The policies:\n" +
      policy_help("  ");
  const char* const usage = usage_text.c_str();
  Common c;
  const char* name = nullptr;
  const char* device = nullptr;
  const int r = parse(argc, argv, "policy", usage, &c, [&](int n, char** v, int* i) {
    if (std::strcmp(v[*i], "--device") == 0 && *i + 1 < n) {
      device = v[++*i];
      return 0;
    }
    if (std::strncmp(v[*i], "--device=", 9) == 0) {
      device = v[*i] + 9;
      return 0;
    }
    if (v[*i][0] != '-' && name == nullptr) {
      name = v[*i];
      return 0;
    }
    std::fprintf(stderr, "xsched policy: unexpected argument '%s'\n", v[*i]);
    return 2;
  });
  if (r != 0) return r < 0 ? 0 : r;
  PolicyMsg set{};
  if (name != nullptr) {
    xs_policy_t p;
    if (!policy_from_name(name, &p)) {
      std::fprintf(stderr, "xsched policy: '%s' is not one of %s\n", name, policy_names(", ").c_str());
      return 2;
    }
    set.policy = static_cast<uint32_t>(p);
  }
  DeviceId id;
  if (device != nullptr) {
    if (!parse_device_id(device, &id)) {
      std::fprintf(stderr,
                   "xsched policy: '%s' is not a device identity (GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx or host-..., "
                   "as `xsched list` shows it)\n",
                   device);
      return 2;
    }
    set.one_device = 1;
    std::memcpy(set.device_uuid, id.uuid.data(), sizeof set.device_uuid);
  }
  Link link;
  if (!open_link(c, "policy", &link)) return 1;
  Frame reply{};
  const std::span<const std::byte> ask = device != nullptr ? bytes_of(set) : std::span<const std::byte>{};
  const bool ok = name != nullptr ? request(link, "policy", MsgType::kSetPolicy, bytes_of(set), MsgType::kPolicyReply, &reply)
                                  : request(link, "policy", MsgType::kGetPolicy, ask, MsgType::kPolicyReply, &reply);
  PolicyMsg got{};
  if (!ok || !read_exact(reply.payload, &got)) return 1;
  if (c.json) {
    std::printf(device != nullptr ? "{\"policy\":\"%s\",\"device_uuid\":\"%s\"}\n" : "{\"policy\":\"%s\"}\n",
                policy_name(got.policy), device);
  } else {
    std::printf("%s\n", policy_name(got.policy));
  }
  return 0;
}

int samples_main(int argc, char** argv) {
  static const char* const usage =
      "usage: xsched samples [--clear] [--json] [--socket PATH]\n"
      "The decision latencies xschedd has collected (the newest 32767): for each suspend or\n"
      "resume, the time from its cause (a queue's change, seen by its process) to the\n"
      "decision taking effect (latency_ns): xschedd's store in the queue's gate word (by\n"
      "store) or else the queue's process having applied it (by agent); and of that the\n"
      "time to the daemon's decision (daemon_ns). One line each: latency_ns daemon_ns pid\n"
      "queue kind by.\n"
      "--clear forgets them after printing.\n";
  Common c;
  SamplesRequest req{};
  const int r = parse(argc, argv, "samples", usage, &c, [&](int, char** v, int* i) {
    if (std::strcmp(v[*i], "--clear") == 0) {
      req.clear = 1;
      return 0;
    }
    std::fprintf(stderr, "xsched samples: unknown option '%s'\n", v[*i]);
    return 2;
  });
  if (r != 0) return r < 0 ? 0 : r;
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
  if (c.json) std::printf("{\"samples\":[");
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    const char* kind = s.kind == 1 ? "suspend" : "resume";
    const char* by = s.by == 2 ? "store" : "agent";
    if (c.json) {
      std::printf("%s{\"latency_ns\":%lld,\"daemon_ns\":%lld,\"pid\":%u,\"queue\":%llu,\"kind\":\"%s\",\"by\":\"%s\"}",
                  i ? "," : "", static_cast<long long>(s.latency_ns), static_cast<long long>(s.daemon_ns), s.pid,
                  static_cast<unsigned long long>(s.queue), kind, by);
    } else {
      std::printf("%lld %lld %u %llu %s %s\n", static_cast<long long>(s.latency_ns), static_cast<long long>(s.daemon_ns),
                  s.pid, static_cast<unsigned long long>(s.queue), kind, by);
    }
  }
  if (c.json) std::printf("]}\n");
  return 0;
}

}  // namespace xsched::cli

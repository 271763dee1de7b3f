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

#include "cli/daemon_view.h"
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

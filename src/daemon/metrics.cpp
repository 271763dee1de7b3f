#include "daemon/metrics.h"

#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/clock.h"
#include "core/config.h"
#include "core/platform_list.h"

namespace xsched::daemon {
namespace {

bool all_of(std::string_view s, const char* allowed) {
  return s.find_first_not_of(allowed) == std::string_view::npos;
}

bool parse_port(std::string_view s, uint16_t* out) {
  if (s.empty() || s.size() > 5 || !all_of(s, "0123456789")) return false;
  uint32_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  if (v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

bool parse_metrics_address(std::string_view text, MetricsAddress* out, std::string* err) {
  const auto bad = [&](const char* why) {
    *err = "metrics address '" + std::string(text) + "' " + why;
    return false;
  };
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("is not [IPV6-ADDRESS]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr a{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &a) != 1) return bad("has no IPv6 address in its brackets");
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("is not HOST:PORT (127.0.0.1:9464, [::1]:9464, localhost:9464)");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return bad("has an IPv6 address without brackets: write [ADDRESS]:PORT");
    // No host is no wildcard: the user writes 0.0.0.0 to serve every network.
    if (host.empty()) return bad("names no host (127.0.0.1: this host only; 0.0.0.0: every network)");
    if (all_of(host, "0123456789.")) {
      in_addr a{};
      if (inet_pton(AF_INET, std::string(host).c_str(), &a) != 1) return bad("is not an IPv4 address");
    } else if (host.size() > 253 || !all_of(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")) {
      return bad("is not a host name or address");
    }
  }
  uint16_t p = 0;
  if (!parse_port(port, &p)) return bad("has no port in 0..65535");
  out->host = std::string(host);
  out->port = p;
  out->text = std::string(text);
  return true;
}

namespace {

constexpr char kReplacement[] = "\xef\xbf\xbd";  // U+FFFD

// The length of the well-formed UTF-8 sequence at s[i] (Unicode's table 3-7:
// no overlong forms, no surrogates, nothing past U+10FFFF), 0 if none.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
  }
  return n;
}

}  // namespace

void append_label_value(std::string* out, std::string_view v) {
  for (std::size_t i = 0; i < v.size();) {
    const unsigned char c = static_cast<unsigned char>(v[i]);
    if (c == '\\' || c == '"') {
      *out += '\\';
      *out += static_cast<char>(c);
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      *out += kReplacement;  // a terminal escape has no business in a scrape
    } else if (c < 0x80) {
      *out += static_cast<char>(c);
    } else if (const std::size_t n = utf8_length(v, i); n != 0) {
      out->append(v.substr(i, n));
      i += n;
      continue;
    } else {
      *out += kReplacement;
    }
    ++i;
  }
}

std::string device_label(const DeviceId& device, uint32_t platform) {
  return device.text(platform_name(platform));
}

namespace {

const char* platform_label(uint32_t platform) { return platform_name(platform); }

class Writer {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // labels: `a="x",b="y"` (escaped), or empty.
  void sample(const char* name, std::string_view suffix, const std::string& labels, double value) {
    out_ += name;
    out_ += suffix;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    char buf[32];
    // Shortest text that reads back as the same double; integers come out as integers.
    const auto r = std::to_chars(buf, buf + sizeof buf, value);
    out_.append(buf, r.ptr);
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void add_label(std::string* labels, const char* name, std::string_view value) {
  if (!labels->empty()) *labels += ',';
  *labels += name;
  *labels += "=\"";
  append_label_value(labels, value);
  *labels += '"';
}

std::string device_labels(const DeviceMetrics& d) {
  std::string l;
  add_label(&l, "device", device_label(d.device, d.platform));
  add_label(&l, "name", d.name);
  return l;
}

std::string queue_labels(const QueueMetrics& q) {
  std::string l;
  add_label(&l, "device", device_label(q.device, q.platform));
  add_label(&l, "pid", std::to_string(q.pid));
  add_label(&l, "comm", q.comm);
  add_label(&l, "queue", std::to_string(q.queue));
  add_label(&l, "platform", platform_label(q.platform));
  add_label(&l, "level", std::to_string(q.level));
  return l;
}

double seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

struct QueueFamily {
  const char* name;
  const char* type;
  const char* help;
  double (*value)(const QueueMetrics&);
};

constexpr QueueFamily kQueueFamilies[] = {
    {"xsched_queue_running", "gauge", "1 while xschedd lets the queue run, 0 while it holds it.",
     [](const QueueMetrics& q) { return q.running ? 1.0 : 0.0; }},
    {"xsched_queue_ready", "gauge", "1 while the queue has work (as its process reported), else 0.",
     [](const QueueMetrics& q) { return q.ready ? 1.0 : 0.0; }},
    {"xsched_queue_priority", "gauge", "The queue's priority hint; higher runs first.",
     [](const QueueMetrics& q) { return static_cast<double>(q.priority); }},
    {"xsched_queue_share", "gauge", "The queue's share hint (bandwidth and fair policies).",
     [](const QueueMetrics& q) { return static_cast<double>(q.share); }},
    {"xsched_queue_commands_submitted_total", "counter", "Commands submitted to the queue, as its process last reported.",
     [](const QueueMetrics& q) { return static_cast<double>(q.submitted); }},
    {"xsched_queue_commands_completed_total", "counter", "Commands the queue completed, as its process last reported.",
     [](const QueueMetrics& q) { return static_cast<double>(q.completed); }},
    {"xsched_queue_preemptions_total", "counter", "Holds xschedd applied to the queue.",
     [](const QueueMetrics& q) { return static_cast<double>(q.preemptions); }},
    {"xsched_queue_held_seconds_total", "counter", "Time xschedd held the queue since it registered.",
     [](const QueueMetrics& q) { return seconds(q.held_ns); }},
    {"xsched_queue_running_seconds_total", "counter", "Time xschedd let the queue run since it registered.",
     [](const QueueMetrics& q) { return seconds(q.running_ns); }},
};

void write_daemon(Writer& w, const MetricsSnapshot& s) {
  w.family("xsched_build_info", "gauge", "xschedd's version, in the label; always 1.");
  w.sample("xsched_build_info", "",
           "version=\"" + std::to_string(XSCHED_VERSION_MAJOR) + "." + std::to_string(XSCHED_VERSION_MINOR) + "." +
               std::to_string(XSCHED_VERSION_PATCH) + "\"",
           1);
  w.family("process_start_time_seconds", "gauge", "When xschedd started, in seconds since the Unix epoch.");
  w.sample("process_start_time_seconds", "", "", s.start_time_s);
  w.family("xsched_uptime_seconds", "gauge", "How long xschedd has been running.");
  w.sample("xsched_uptime_seconds", "", "", seconds(s.uptime_ns));
  w.family("xsched_processes", "gauge", "Processes registered with xschedd.");
  w.sample("xsched_processes", "", "", s.processes);
  w.family("xsched_connections_rejected_total", "counter",
           "Connections and registrations refused for their user's limit (--max-clients-per-user).");
  w.sample("xsched_connections_rejected_total", "", "", static_cast<double>(s.connections_rejected));
}

void write_devices(Writer& w, const MetricsSnapshot& s) {
  std::vector<std::string> labels;
  for (const DeviceMetrics& d : s.devices) labels.push_back(device_labels(d));
  w.family("xsched_device_queues", "gauge", "Queues registered on the device (its scheduling domain).");
  for (std::size_t i = 0; i < s.devices.size(); ++i) w.sample("xsched_device_queues", "", labels[i], s.devices[i].queues);
  w.family("xsched_device_decisions_total", "counter", "Holds and releases xschedd applied to the device's queues.");
  for (std::size_t i = 0; i < s.devices.size(); ++i) {
    w.sample("xsched_device_decisions_total", "", labels[i], static_cast<double>(s.devices[i].decisions));
  }
  w.family("xsched_device_policy", "gauge", "The device's scheduling policy, in the label; always 1.");
  for (std::size_t i = 0; i < s.devices.size(); ++i) {
    std::string l = labels[i];
    add_label(&l, "policy", policy_name(s.devices[i].policy));
    w.sample("xsched_device_policy", "", l, 1);
  }
  constexpr const char* kLatency = "xsched_device_decision_latency_seconds";
  w.family(kLatency, "histogram",
           "From a decision's cause (a queue's change, a timer) to its taking effect (xschedd's store in the "
           "queue's gate word, or its process applying it).");
  for (std::size_t i = 0; i < s.devices.size(); ++i) {
    const LatencyHistogram& h = s.devices[i].latency;
    uint64_t below = 0;
    for (std::size_t b = 0; b < kLatencyBuckets.size(); ++b) {
      below += h.counts[b];
      w.sample(kLatency, "_bucket", labels[i] + ",le=\"" + kLatencyBuckets[b].le + "\"", static_cast<double>(below));
    }
    w.sample(kLatency, "_bucket", labels[i] + ",le=\"+Inf\"", static_cast<double>(h.count));
    w.sample(kLatency, "_sum", labels[i], static_cast<double>(h.sum_ns) / 1e9);
    w.sample(kLatency, "_count", labels[i], static_cast<double>(h.count));
  }
}

void write_queues(Writer& w, const MetricsSnapshot& s) {
  std::vector<std::string> labels;
  for (const QueueMetrics& q : s.queues) labels.push_back(queue_labels(q));
  // A family's samples stand together: one pass over the queues per family.
  for (const QueueFamily& f : kQueueFamilies) {
    w.family(f.name, f.type, f.help);
    for (std::size_t i = 0; i < s.queues.size(); ++i) w.sample(f.name, "", labels[i], f.value(s.queues[i]));
  }
}

}  // namespace

std::string render_metrics(const MetricsSnapshot& s) {
  Writer w;
  write_daemon(w, s);
  write_devices(w, s);
  write_queues(w, s);
  return w.take();
}

MetricsExchange::MetricsExchange() : wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

MetricsExchange::~MetricsExchange() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::shared_ptr<const MetricsSnapshot> MetricsExchange::latest(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) return nullptr;
  if (snapshot_ != nullptr && now_ns() - snapshot_->taken_ns <= kMaxSnapshotAgeNs) return snapshot_;
  const uint64_t mine = ++requested_;
  const uint64_t one = 1;
  // An eventfd's counter takes 2^64-2 rings before a write would fail.
  if (write(wake_fd_, &one, sizeof one) < 0) return nullptr;
  if (!published_cv_.wait_for(lock, wait, [&] { return closed_ || answered_ >= mine; }) || closed_) return nullptr;
  return snapshot_;
}

uint64_t MetricsExchange::take_requests() {
  uint64_t rings = 0;
  if (read(wake_fd_, &rings, sizeof rings) < 0) {
    // Nothing to read: a ring another turn already answered.
  }
  std::lock_guard<std::mutex> lock(mu_);
  return requested_;
}

void MetricsExchange::publish(std::shared_ptr<const MetricsSnapshot> s, uint64_t answers) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_ = std::move(s);
    answered_ = std::max(answered_, answers);
  }
  published_cv_.notify_all();
}

void MetricsExchange::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  published_cv_.notify_all();
}

}  // namespace xsched::daemon

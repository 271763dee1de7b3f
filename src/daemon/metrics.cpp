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

using metrics::add_label;
using metrics::Family;
using metrics::TextWriter;

std::string device_labels(const DeviceMetrics& d) {
  std::string l;
  add_label(&l, "device", device_label(d.device, d.platform));
  add_label(&l, "name", d.name);
  return l;
}

double seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

// The daemon's own families (the shared ones are core/metrics_text.h's).
constexpr Family kStartTime{"process_start_time_seconds", "gauge",
                            "When xschedd started, in seconds since the Unix epoch."};
constexpr Family kUptime{"xsched_uptime_seconds", "gauge", "How long xschedd has been running."};
constexpr Family kProcesses{"xsched_processes", "gauge", "Processes registered with xschedd."};
constexpr Family kRejected{"xsched_connections_rejected_total", "counter",
                           "Connections and registrations refused for their user's limit (--max-clients-per-user)."};
constexpr Family kDecisions{"xsched_device_decisions_total", "counter",
                            "Holds and releases xschedd applied to the device's queues."};
constexpr Family kLatency{"xsched_device_decision_latency_seconds", "histogram",
                          "From a decision's cause (a queue's change, a timer) to its taking effect (xschedd's store "
                          "in the queue's gate word, or its process applying it)."};

void write_daemon(TextWriter& w, const MetricsSnapshot& s) {
  metrics::write_build_info(w, "");
  w.family(kStartTime);
  w.sample(kStartTime.name, "", "", s.start_time_s);
  w.family(kUptime);
  w.sample(kUptime.name, "", "", seconds(s.uptime_ns));
  w.family(kProcesses);
  w.sample(kProcesses.name, "", "", s.processes);
  w.family(kRejected);
  w.sample(kRejected.name, "", "", static_cast<double>(s.connections_rejected));
}

void write_devices(TextWriter& w, const MetricsSnapshot& s) {
  std::vector<std::string> labels;
  for (const DeviceMetrics& d : s.devices) labels.push_back(device_labels(d));
  w.family(metrics::kDeviceQueues);
  for (std::size_t i = 0; i < s.devices.size(); ++i) w.sample(metrics::kDeviceQueues.name, "", labels[i], s.devices[i].queues);
  w.family(kDecisions);
  for (std::size_t i = 0; i < s.devices.size(); ++i) {
    w.sample(kDecisions.name, "", labels[i], static_cast<double>(s.devices[i].decisions));
  }
  w.family(metrics::kDevicePolicy);
  for (std::size_t i = 0; i < s.devices.size(); ++i) {
    std::string l = labels[i];
    add_label(&l, "policy", policy_name(s.devices[i].policy));
    w.sample(metrics::kDevicePolicy.name, "", l, 1);
  }
  w.family(kLatency);
  for (std::size_t i = 0; i < s.devices.size(); ++i) {
    const LatencyHistogram& h = s.devices[i].latency;
    uint64_t below = 0;
    for (std::size_t b = 0; b < kLatencyBuckets.size(); ++b) {
      below += h.counts[b];
      w.sample(kLatency.name, "_bucket", labels[i] + ",le=\"" + kLatencyBuckets[b].le + "\"", static_cast<double>(below));
    }
    w.sample(kLatency.name, "_bucket", labels[i] + ",le=\"+Inf\"", static_cast<double>(h.count));
    w.sample(kLatency.name, "_sum", labels[i], static_cast<double>(h.sum_ns) / 1e9);
    w.sample(kLatency.name, "_count", labels[i], static_cast<double>(h.count));
  }
}

}  // namespace

std::string render_metrics(const MetricsSnapshot& s) {
  TextWriter w;
  write_daemon(w, s);
  write_devices(w, s);
  metrics::write_queues(w, s.queues);
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

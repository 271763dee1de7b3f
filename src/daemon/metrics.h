// xschedd's Prometheus metrics (`--metrics HOST:PORT`): what the daemon
// counts, the snapshot its thread publishes, and the text exposition format
// (0.0.4) written from that snapshot with core/metrics_text.h's writer.
//
// Threads: the daemon's thread owns every counter and builds a snapshot only
// when a scrape asks for one and the last is older than kMaxSnapshotAgeNs;
// the listener's thread (metrics_http.cpp) waits for it on MetricsExchange,
// whose lock is held for a pointer swap, and renders the text itself. So a
// scrape costs the decision loop one copy of its queues' numbers at most ten
// times a second, and nothing while nobody scrapes.
//
// Nothing here links anything but the standard library; the HTTP listener,
// the one part that needs a library, is xschedd's alone.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/device_id.h"
#include "core/metrics_text.h"
#include "xsched/xsched.h"

namespace xsched::daemon {

// Where the listener binds: exactly the host it is given (a name binds the
// first address it resolves to), never a wildcard the user did not write.
struct MetricsAddress {
  std::string host;   // without the brackets of an IPv6 literal
  uint16_t port = 0;  // 0: any free port (the log says which)
  std::string text;   // as given, for messages
};

// "HOST:PORT": 127.0.0.1:9464, [::1]:9464, localhost:9464. False with *err
// for anything else (no host, no port, an IPv6 address without brackets).
bool parse_metrics_address(std::string_view text, MetricsAddress* out, std::string* err);

// The decision latency histogram's upper bounds, from a few microseconds
// (a busy-polling daemon's store) to 100 ms (a starved host).
struct LatencyBucket {
  int64_t ns;
  const char* le;  // as the `le` label writes it
};
inline constexpr std::array<LatencyBucket, 14> kLatencyBuckets{{
    {5'000, "5e-06"}, {10'000, "1e-05"}, {25'000, "2.5e-05"}, {50'000, "5e-05"},
    {100'000, "0.0001"}, {250'000, "0.00025"}, {500'000, "0.0005"}, {1'000'000, "0.001"},
    {2'500'000, "0.0025"}, {5'000'000, "0.005"}, {10'000'000, "0.01"}, {25'000'000, "0.025"},
    {50'000'000, "0.05"}, {100'000'000, "0.1"},
}};

struct LatencyHistogram {
  std::array<uint64_t, kLatencyBuckets.size() + 1> counts{};  // per bucket, not cumulative; the last: past every bound
  uint64_t count = 0;
  uint64_t sum_ns = 0;  // samples are at most 10 s each: no overflow in centuries of decisions

  void add(int64_t ns) {
    std::size_t i = 0;
    while (i < kLatencyBuckets.size() && ns > kLatencyBuckets[i].ns) ++i;
    ++counts[i];
    ++count;
    sum_ns += static_cast<uint64_t>(ns);
  }
};

// One device's scheduling domain, as its counters stand.
struct DeviceMetrics {
  DeviceId device;
  uint32_t platform = 0;  // of its first queue: names the identity (GPU-..., host-...)
  std::string name;       // as its first queue's process gave it (untrusted)
  uint32_t queues = 0;
  uint64_t decisions = 0;  // holds and releases the daemon applied
  LatencyHistogram latency;
  xs_policy_t policy = XS_POLICY_PRIORITY;
};

// The queue's families and labels are those of a process's metrics file too.
using metrics::QueueMetrics;

struct MetricsSnapshot {
  int64_t taken_ns = 0;          // the daemon's steady clock
  double start_time_s = 0;       // the daemon's start, seconds since the Unix epoch
  int64_t uptime_ns = 0;
  uint32_t processes = 0;        // registered
  uint64_t connections_rejected = 0;
  std::vector<DeviceMetrics> devices;
  std::vector<QueueMetrics> queues;
};

using metrics::append_label_value;
using metrics::device_label;
// The whole exposition.
std::string render_metrics(const MetricsSnapshot& s);

// How stale a snapshot a scrape may be served without asking the daemon.
constexpr int64_t kMaxSnapshotAgeNs = 100'000'000;

// The hand-off between the daemon's thread and the listener's.
class MetricsExchange {
 public:
  MetricsExchange();  // makes wake_fd
  ~MetricsExchange();
  MetricsExchange(const MetricsExchange&) = delete;
  MetricsExchange& operator=(const MetricsExchange&) = delete;

  bool ok() const { return wake_fd_ >= 0; }
  // Readable when a scrape wants a snapshot: the daemon's loop watches it.
  int wake_fd() const { return wake_fd_; }

  // Listener: a snapshot at most kMaxSnapshotAgeNs old, asking the daemon
  // for one if needed and waiting at most `wait`; null if none came (the
  // daemon's loop is stuck or has stopped).
  std::shared_ptr<const MetricsSnapshot> latest(std::chrono::milliseconds wait);

  // Daemon: empties wake_fd and returns the requests a snapshot built now answers.
  uint64_t take_requests();
  void publish(std::shared_ptr<const MetricsSnapshot> s, uint64_t answers);
  // The daemon stopped: waiting scrapes return at once, with nothing.
  void close();

 private:
  int wake_fd_ = -1;
  std::mutex mu_;
  std::condition_variable published_cv_;
  std::shared_ptr<const MetricsSnapshot> snapshot_;
  uint64_t requested_ = 0;  // requests made
  uint64_t answered_ = 0;   // requests the current snapshot answers
  bool closed_ = false;
};

}  // namespace xsched::daemon

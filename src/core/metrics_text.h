// The Prometheus text exposition format (0.0.4), and the metrics that both
// xschedd (`--metrics`, daemon/metrics.h) and a process without a daemon
// (XSCHED_METRICS_FILE, sched/metrics_file.h) write in it: one writer, and
// one name, type and HELP line per quantity, whoever writes it.
//
// Standard library only: this runs inside the user's process too.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/device_id.h"

namespace xsched::metrics {

// A label value in the text format: backslash, double quote and newline
// escaped; other control bytes and bytes that are not UTF-8 become U+FFFD
// (a process names itself with any bytes, and a scraper must get UTF-8).
void append_label_value(std::string* out, std::string_view value);
// Appends `name="value"` (escaped) to a list of labels, after a comma if it has some.
void add_label(std::string* labels, const char* name, std::string_view value);
// The identity of a device as `xsched list` prints it: GPU-..., host-....
// (Platform names: core/platform_list.h.)
std::string device_label(const DeviceId& device, uint32_t platform);

// A metric family: its name, type (counter, gauge, histogram) and HELP text.
struct Family {
  const char* name;
  const char* type;
  const char* help;
};

class TextWriter {
 public:
  // The HELP and TYPE lines, once per family, before its samples.
  void family(const Family& f);
  // labels: `a="x",b="y"` (escaped, add_label), or empty; suffix: "" or a
  // histogram's _bucket, _sum, _count.
  void sample(const char* name, std::string_view suffix, const std::string& labels, double value);
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// The families both write. A process's samples carry pid and comm labels
// besides the daemon's, so that the files of several processes can stand
// side by side in one textfile collector's directory.
inline constexpr Family kBuildInfo{"xsched_build_info", "gauge", "xsched's version, in the label; always 1."};
inline constexpr Family kDeviceQueues{"xsched_device_queues", "gauge",
                                      "Queues registered on the device (its scheduling domain)."};
inline constexpr Family kDevicePolicy{"xsched_device_policy", "gauge",
                                      "The device's scheduling policy, in the label; always 1."};

// xsched_build_info's sample: the version label, then `labels` (may be empty).
void write_build_info(TextWriter& w, const std::string& labels);

// One queue, as its scheduler sees it.
struct QueueMetrics {
  DeviceId device;
  uint32_t platform = 0;  // xs_platform_t
  uint32_t pid = 0;
  std::string comm;     // what the process called itself (untrusted)
  uint64_t queue = 0;   // the daemon's queue number; in a process, the queue's id
  uint32_t level = 0;
  bool running = true;  // false: held
  bool ready = false;
  int32_t priority = 0;
  uint32_t share = 1;
  uint64_t submitted = 0;
  uint64_t completed = 0;
  uint64_t preemptions = 0;  // holds
  int64_t held_ns = 0;
  int64_t running_ns = 0;
};

// The labels every queue sample carries: device, pid, comm, queue, platform, level.
std::string queue_labels(const QueueMetrics& q);
// Every queue family (xsched_queue_*), each with one sample per queue.
void write_queues(TextWriter& w, const std::vector<QueueMetrics>& queues);

}  // namespace xsched::metrics

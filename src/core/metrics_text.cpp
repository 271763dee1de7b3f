#include "core/metrics_text.h"

#include <charconv>

#include "core/platform_list.h"

#include "xsched/xsched.h"

namespace xsched::metrics {
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

double seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

struct QueueFamily {
  Family family;
  double (*value)(const QueueMetrics&);
};

// A hold is the scheduler's (xschedd's, or in a process without one, its own
// policy's) or, in a process, its program's (xs_queue_suspend) too.
constexpr QueueFamily kQueueFamilies[] = {
    {{"xsched_queue_running", "gauge", "1 while the queue may run, 0 while it is held."},
     [](const QueueMetrics& q) { return q.running ? 1.0 : 0.0; }},
    {{"xsched_queue_ready", "gauge", "1 while the queue has work, else 0 (xschedd: as its process last reported)."},
     [](const QueueMetrics& q) { return q.ready ? 1.0 : 0.0; }},
    {{"xsched_queue_priority", "gauge", "The queue's priority hint; higher runs first."},
     [](const QueueMetrics& q) { return static_cast<double>(q.priority); }},
    {{"xsched_queue_share", "gauge", "The queue's share hint (bandwidth and fair policies)."},
     [](const QueueMetrics& q) { return static_cast<double>(q.share); }},
    {{"xsched_queue_commands_submitted_total", "counter", "Commands submitted to the queue (xschedd: as its process last reported)."},
     [](const QueueMetrics& q) { return static_cast<double>(q.submitted); }},
    {{"xsched_queue_commands_completed_total", "counter", "Commands the queue completed (xschedd: as its process last reported)."},
     [](const QueueMetrics& q) { return static_cast<double>(q.completed); }},
    {{"xsched_queue_preemptions_total", "counter", "Times the queue was held."},
     [](const QueueMetrics& q) { return static_cast<double>(q.preemptions); }},
    {{"xsched_queue_held_seconds_total", "counter", "Time the queue was held since it was registered."},
     [](const QueueMetrics& q) { return seconds(q.held_ns); }},
    {{"xsched_queue_running_seconds_total", "counter", "Time the queue was let run since it was registered."},
     [](const QueueMetrics& q) { return seconds(q.running_ns); }},
};

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

void add_label(std::string* labels, const char* name, std::string_view value) {
  if (!labels->empty()) *labels += ',';
  *labels += name;
  *labels += "=\"";
  append_label_value(labels, value);
  *labels += '"';
}

std::string device_label(const DeviceId& device, uint32_t platform) { return device.text(platform_name(platform)); }

void TextWriter::family(const Family& f) {
  out_ += "# HELP ";
  out_ += f.name;
  out_ += ' ';
  out_ += f.help;
  out_ += "\n# TYPE ";
  out_ += f.name;
  out_ += ' ';
  out_ += f.type;
  out_ += '\n';
}

void TextWriter::sample(const char* name, std::string_view suffix, const std::string& labels, double value) {
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

void write_build_info(TextWriter& w, const std::string& labels) {
  std::string l;
  add_label(&l, "version",
            std::to_string(XSCHED_VERSION_MAJOR) + "." + std::to_string(XSCHED_VERSION_MINOR) + "." +
                std::to_string(XSCHED_VERSION_PATCH));
  if (!labels.empty()) l += "," + labels;
  w.family(kBuildInfo);
  w.sample(kBuildInfo.name, "", l, 1);
}

std::string queue_labels(const QueueMetrics& q) {
  std::string l;
  add_label(&l, "device", device_label(q.device, q.platform));
  add_label(&l, "pid", std::to_string(q.pid));
  add_label(&l, "comm", q.comm);
  add_label(&l, "queue", std::to_string(q.queue));
  add_label(&l, "platform", platform_name(q.platform));
  add_label(&l, "level", std::to_string(q.level));
  return l;
}

void write_queues(TextWriter& w, const std::vector<QueueMetrics>& queues) {
  std::vector<std::string> labels;
  labels.reserve(queues.size());
  for (const QueueMetrics& q : queues) labels.push_back(queue_labels(q));
  // A family's samples stand together: one pass over the queues per family.
  for (const QueueFamily& f : kQueueFamilies) {
    w.family(f.family);
    for (std::size_t i = 0; i < queues.size(); ++i) w.sample(f.family.name, "", labels[i], f.value(queues[i]));
  }
}

}  // namespace xsched::metrics

#include "sched/metrics_file.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics_text.h"
#include "core/platform_list.h"

namespace xsched::metrics_file {
namespace {

struct Writer {
  std::string path;
  int64_t interval_ns = 0;
  pid_t pid = 0;  // the process that writes: a forked child does not
  const LocalScheduler* scheduler = nullptr;
  std::mutex mu;         // one write at a time
  bool failing = false;  // the last write failed, and the log said so
  bool done = false;     // the exit's write ran: no more
};

// Made once, never destroyed: the thread and the exit's write both use it.
std::atomic<Writer*> g_writer{nullptr};

// What the process calls itself now (it may rename itself), without the newline.
std::string read_comm() {
  char buf[64];
  const int fd = ::open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n <= 0) return "";
  std::string comm(buf, static_cast<std::size_t>(n));
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

bool write_now(Writer& w, bool last) {
  std::lock_guard lk(w.mu);
  if (w.done || getpid() != w.pid) return false;
  if (last) w.done = true;
  bool ok = false;
  int err = 0;
  try {
    ok = write_atomically(w.path, render(*w.scheduler));
    err = errno;
  } catch (const std::exception&) {
    err = ENOMEM;  // only allocation throws here
  }
  if (!ok && !w.failing) {
    log(LogLevel::kWarn, "XSCHED_METRICS_FILE: cannot write %s: %s (said once; tried again every interval)",
        w.path.c_str(), std::strerror(err));
  } else if (ok && w.failing) {
    log(LogLevel::kInfo, "XSCHED_METRICS_FILE: %s written again", w.path.c_str());
  }
  w.failing = !ok;
  return ok;
}

void write_at_exit() { write_now(*g_writer.load(std::memory_order_acquire), true); }

void writer_main(Writer* w) {
  pthread_setname_np(pthread_self(), "xsched-metrics");
  for (;;) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(w->interval_ns));
    write_now(*w, false);
    std::lock_guard lk(w->mu);
    if (w->done) return;
  }
}

}  // namespace

std::string render(const LocalScheduler& s) {
  struct Device {
    DeviceId id;
    uint32_t platform;
    std::string name;
    uint32_t queues;
  };
  const bool attached = s.attached();
  const xs_policy_t policy = s.policy();
  const uint32_t pid = static_cast<uint32_t>(getpid());
  const std::string comm = read_comm();
  std::vector<metrics::QueueMetrics> queues;
  std::vector<Device> devices;
  const int64_t now = now_ns();
  s.visit_queues([&](const XQueue& q) {
    xs_queue_info_t info{};
    q.query(&info);
    metrics::QueueMetrics m;
    m.device = q.device_id();
    m.platform = platform_from_name(q.platform());
    m.pid = pid;
    m.comm = comm;
    m.queue = q.id();
    m.level = static_cast<uint32_t>(info.level);
    m.running = info.suspended == 0;
    m.ready = info.ready != 0;
    m.priority = info.hints.priority;
    m.share = info.hints.share;
    m.submitted = info.submitted;
    m.completed = info.completed;
    m.preemptions = info.suspensions;
    q.hold_times(now, &m.held_ns, &m.running_ns);
    auto d = std::find_if(devices.begin(), devices.end(), [&](const Device& x) { return x.id == m.device; });
    if (d == devices.end()) {
      devices.push_back(Device{m.device, m.platform, q.device_name(), 0});
      d = devices.end() - 1;
    }
    ++d->queues;
    queues.push_back(std::move(m));
  });
  // A stable order for readers of the text.
  std::sort(devices.begin(), devices.end(), [](const Device& a, const Device& b) { return a.id.uuid < b.id.uuid; });
  std::sort(queues.begin(), queues.end(),
            [](const metrics::QueueMetrics& a, const metrics::QueueMetrics& b) { return a.queue < b.queue; });

  std::string process;
  metrics::add_label(&process, "pid", std::to_string(pid));
  metrics::add_label(&process, "comm", comm);
  std::vector<std::string> device_labels;
  for (const Device& d : devices) {
    std::string l;
    metrics::add_label(&l, "device", metrics::device_label(d.id, d.platform));
    metrics::add_label(&l, "name", d.name);
    device_labels.push_back(l + "," + process);
  }
  metrics::TextWriter w;
  metrics::write_build_info(w, process);
  w.family(metrics::kDeviceQueues);
  for (std::size_t i = 0; i < devices.size(); ++i) {
    w.sample(metrics::kDeviceQueues.name, "", device_labels[i], devices[i].queues);
  }
  // While xschedd schedules the process, the policy is the daemon's, and its metrics say which.
  w.family(metrics::kDevicePolicy);
  for (std::size_t i = 0; i < devices.size() && !attached; ++i) {
    std::string l = device_labels[i];
    metrics::add_label(&l, "policy", policy_name(policy));
    w.sample(metrics::kDevicePolicy.name, "", l, 1);
  }
  metrics::write_queues(w, queues);
  return w.take();
}

bool write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::size_t done = 0;
  int err = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err == 0) return true;
  ::unlink(tmp.c_str());
  errno = err;
  return false;
}

void start_from_config(const LocalScheduler& s) {
  static std::once_flag once;
  std::call_once(once, [&s] {
    const Config& cfg = process_config();
    if (cfg.metrics_file.empty()) return;
    Writer* w = nullptr;
    try {
      w = new Writer;
      w->path = expand_pid(cfg.metrics_file);
      w->interval_ns = cfg.metrics_interval_ns;
      w->pid = getpid();
      w->scheduler = &s;
    } catch (const std::bad_alloc&) {
      log(LogLevel::kWarn, "XSCHED_METRICS_FILE: no memory for the metrics file; not written");
      delete w;
      return;
    }
    g_writer.store(w, std::memory_order_release);
    if (std::atexit(write_at_exit) != 0) log(LogLevel::kWarn, "XSCHED_METRICS_FILE: no file at exit (atexit failed)");
    try {
      std::thread(writer_main, w).detach();
    } catch (const std::exception&) {
      log(LogLevel::kWarn, "XSCHED_METRICS_FILE: no thread to write %s; written at exit only", w->path.c_str());
    }
    log(LogLevel::kInfo, "XSCHED_METRICS_FILE: writing %s every %lld ms", w->path.c_str(),
        static_cast<long long>(w->interval_ns / 1'000'000));
  });
}

bool flush() {
  Writer* w = g_writer.load(std::memory_order_acquire);
  return w != nullptr && write_now(*w, false);
}

}  // namespace xsched::metrics_file

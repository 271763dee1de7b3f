// xschedd's metrics snapshot: built in the daemon's thread when a scrape
// asks for one (metrics.h), from what the daemon keeps anyway.
#include <algorithm>
#include <cstring>
#include <memory>

#include "core/clock.h"
#include "daemon/daemon.h"

namespace xsched::daemon {

void Daemon::publish_metrics() {
  const uint64_t answers = metrics_->take_requests();
  auto s = std::make_shared<MetricsSnapshot>();
  const int64_t now = now_ns();
  s->taken_ns = now;
  s->start_time_s = started_unix_s_;
  s->uptime_ns = now - started_ns_;
  s->connections_rejected = rejected_;
  s->devices.reserve(domains_.size());
  for (const auto& [device, d] : domains_) {
    DeviceMetrics m;
    m.device = device;
    m.platform = d->platform;
    m.name.assign(d->name.data(), strnlen(d->name.data(), d->name.size()));
    m.queues = static_cast<uint32_t>(d->members);
    m.decisions = d->decisions;
    m.latency = d->latency;
    m.policy = policy_of(device);
    s->devices.push_back(std::move(m));
  }
  s->queues.reserve(queues_.size());
  for (const auto& [fd, c] : clients_) {
    if (!c->agent || c->fd < 0) continue;
    ++s->processes;
    for (const Slot& q : c->slots) {
      if (q.queue_id == 0) continue;
      QueueMetrics m;
      m.device = q.device_id;
      m.platform = q.platform;
      m.pid = static_cast<uint32_t>(c->cred.pid);
      m.comm = c->name;
      m.queue = q.number;
      m.level = q.level;
      m.running = q.run;
      m.ready = q.ready;
      m.priority = q.hints.priority;
      m.share = q.hints.share;
      m.submitted = q.submitted;
      m.completed = q.completed;
      m.preemptions = q.suspensions;
      // The decision in force counts up to now.
      m.held_ns = q.held_ns + (q.run ? 0 : now - q.since_ns);
      m.running_ns = q.running_ns + (q.run ? now - q.since_ns : 0);
      s->queues.push_back(std::move(m));
    }
  }
  // A stable order for readers of the text (Prometheus does not need one).
  std::sort(s->devices.begin(), s->devices.end(),
            [](const DeviceMetrics& a, const DeviceMetrics& b) { return a.device.uuid < b.device.uuid; });
  std::sort(s->queues.begin(), s->queues.end(),
            [](const QueueMetrics& a, const QueueMetrics& b) { return a.queue < b.queue; });
  metrics_->publish(std::move(s), answers);
}

}  // namespace xsched::daemon

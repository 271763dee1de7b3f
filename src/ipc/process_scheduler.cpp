// The process's scheduler: local, and linked to xschedd unless
// XSCHED_SCHEDULER=local. Here, not in src/sched, because the link is IPC.
#include "core/config.h"
#include "ipc/agent.h"
#include "ipc/unix_socket.h"
#include "sched/local_scheduler.h"
#include "sched/metrics_file.h"

namespace xsched {

LocalScheduler& process_scheduler() {
  // Never destroyed: queues may report changes from their threads while the
  // process exits.
  static LocalScheduler* const scheduler = [] {
    const Config& cfg = process_config();
    auto* s = new LocalScheduler(cfg.policy, cfg.timeslice_ns, cfg.priority);
    if (cfg.reserve_sms > 0) s->enable_reservation(cfg.reserve_linger_ns);
    if (cfg.scheduler != Scheduler::kLocal) {
      ipc::AgentOptions o;
      o.socket = ipc::socket_path(cfg.socket.c_str());
      o.expect_daemon = cfg.scheduler == Scheduler::kDaemon;
      o.timeout_ns = cfg.daemon_timeout_ns;
      ipc::start_agent(*s, o);
    }
    metrics_file::start_from_config(*s);
    return s;
  }();
  return *scheduler;
}

}  // namespace xsched

// The agent: a process's link to xschedd. A thread of its own connects to
// the daemon (now and whenever it is lost), registers the process, and then
// carries the process scheduler's queue changes to the daemon through the
// shared board and the daemon's decisions back to the queues.
//
// Fail-open: if the daemon closes the connection, or stops stamping the
// board for longer than the timeout, the agent takes the decisions back
// (every hold the daemon applied is released and the local policy decides
// again) and tries to register again every retry interval.
#pragma once

#include <cstdint>
#include <string>

#include "sched/local_scheduler.h"

namespace xsched::ipc {

struct AgentOptions {
  std::string socket;               // xschedd's socket (ipc::socket_path)
  bool expect_daemon = false;       // XSCHED_SCHEDULER=daemon: say so when none answers
  int64_t timeout_ns = 500'000'000;  // silence after which the daemon is lost
  int64_t retry_ns = 1'000'000'000;  // between attempts to register
};

// Starts the agent of `sched` (at most one per process). False if its
// thread could not start; the process then schedules itself.
bool start_agent(LocalScheduler& sched, const AgentOptions& opts);

}  // namespace xsched::ipc

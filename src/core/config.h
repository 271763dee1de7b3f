// Process configuration from XSCHED_* environment variables. The table of
// variables, their ranges and defaults is in docs/configuration.md; keep the
// two in step. A malformed value or an unknown XSCHED_* name gives one warning
// and the default, never an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/log.h"
#include "xsched/xsched.h"

namespace xsched {

// Who schedules the process's queues: itself, or xschedd when one runs.
enum class Scheduler { kLocal, kDaemon, kAuto };

struct Config {
  xs_policy_t policy = XS_POLICY_PRIORITY;  // XSCHED_POLICY: none | priority | bandwidth
  xs_level_t level = XS_LEVEL_AUTO;         // XSCHED_LEVEL: auto | 1 | 2 | 3
  uint32_t window = 8;                      // XSCHED_WINDOW: commands in flight at Level 1, 1..65536
  uint32_t gated_window = 32;               // XSCHED_GATED_WINDOW: commands in flight at Level 2, 1..65536
  int64_t window_ns = 0;                    // XSCHED_WINDOW_US: device time in flight, 0 = no limit
  int32_t priority = 0;                     // XSCHED_PRIORITY: -1000000..1000000
  uint32_t share = 1;                       // XSCHED_SHARE: 1..1000000
  int64_t timeslice_ns = 2'000'000;         // XSCHED_TIMESLICE_US: 100..10000000 (µs)
  int64_t deadline_ns = 0;                  // XSCHED_DEADLINE_US: 0..3600000000 (µs), 0 = none
  Scheduler scheduler = Scheduler::kAuto;   // XSCHED_SCHEDULER: local | daemon | auto
  std::string socket;                       // XSCHED_SOCKET: xschedd's socket; empty = the default path
  int64_t daemon_timeout_ns = 500'000'000;  // XSCHED_DAEMON_TIMEOUT_MS: 10..60000
  LogLevel log_level = LogLevel::kWarn;     // XSCHED_LOG_LEVEL: error | warn | info | debug
};

// Parses an environ-style array ("NAME=VALUE", null-terminated; null = empty).
// Appends one human-readable warning per rejected variable to *warnings (may be null).
Config parse_config(const char* const* envp, std::vector<std::string>* warnings);

// The process's configuration: parsed from the environment once, on first
// use; its warnings are logged then, once each.
const Config& process_config();

}  // namespace xsched

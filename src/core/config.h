// Process configuration from XSCHED_* environment variables. The table of
// variables, their ranges and defaults is in docs/configuration.md; keep the
// two in step. A malformed value or an unknown XSCHED_* name gives one warning
// and the default, never an error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "xsched/xsched.h"

namespace xsched {

// Who schedules the process's queues: itself, or xschedd when one runs.
enum class Scheduler { kLocal, kDaemon, kAuto };

struct Config {
  xs_policy_t policy = XS_POLICY_PRIORITY;  // XSCHED_POLICY: a name of core/policy_list.h
  xs_level_t level = XS_LEVEL_AUTO;         // XSCHED_LEVEL: auto | 1 | 2 | 3
  uint32_t window = 8;                      // XSCHED_WINDOW: commands in flight at Level 1, 1..65536
  uint32_t gated_window = 32;               // XSCHED_GATED_WINDOW: commands in flight at Level 2, 1..65536
  int64_t window_ns = 0;                    // XSCHED_WINDOW_US: device time in flight, 0 = no limit
  // XSCHED_BACKPRESSURE: held commands before a submit waits, 0 = never;
  // unset: kDefaultCudaBackpressure for CUDA queues, 0 for the C API's.
  int32_t backpressure = -1;
  // Spatial reservation: SMs that less urgent kernels leave free while more
  // urgent work is around, and for how long after it was.
  uint32_t reserve_sms = 0;                 // XSCHED_RESERVE_SMS: 0 = off, 1..1024
  // CUDA queues: how long a queue that ran dry before its program
  // synchronised with it stays ready (XQueueOptions::request_grace_ns).
  int64_t request_grace_ns = 1'000'000;     // XSCHED_REQUEST_GRACE_US: 0 = off, ..1000000
  int64_t reserve_linger_ns = 500'000'000;  // XSCHED_RESERVE_LINGER_MS: 1..60000
  // The hints' ranges are those of core/hint_limits.h.
  int32_t priority = 0;                     // XSCHED_PRIORITY: -1000000..1000000
  uint32_t share = 1;                       // XSCHED_SHARE: 1..1000000
  int64_t timeslice_ns = 2'000'000;         // XSCHED_TIMESLICE_US: 100..10000000 (µs)
  int64_t deadline_ns = 0;                  // XSCHED_DEADLINE_US: 0 = none, or 100..3600000000 (µs)
  Scheduler scheduler = Scheduler::kAuto;   // XSCHED_SCHEDULER: local | daemon | auto
  std::string socket;                       // XSCHED_SOCKET: xschedd's socket; empty = the default path
  std::string timeline;                     // XSCHED_TIMELINE: the timeline's file (core/timeline.h); empty = none
  std::string metrics_file;                 // XSCHED_METRICS_FILE: the metrics file (sched/metrics_file.h); empty = none
  int64_t metrics_interval_ns = 5'000'000'000;  // XSCHED_METRICS_INTERVAL_MS: 10..3600000
  int64_t daemon_timeout_ns = 500'000'000;  // XSCHED_DAEMON_TIMEOUT_MS: 10..60000
  LogLevel log_level = LogLevel::kWarn;     // XSCHED_LOG_LEVEL: error | warn | info | debug
};

// Back-pressure of CUDA queues under the interposer unless XSCHED_BACKPRESSURE says otherwise.
constexpr uint32_t kDefaultCudaBackpressure = 16;

// The names the variables take, for the tools that take them too (xschedd,
// the command line) and the C API: one table each.
bool policy_from_name(std::string_view name, xs_policy_t* out);  // case-insensitive
const char* policy_name(xs_policy_t policy);                      // "unknown" for others
std::string policy_names(std::string_view separator);             // every policy's, in the enum's order
std::string policy_help(std::string_view indent);                 // one line per policy: name, description
bool log_level_from_name(std::string_view name, LogLevel* out);   // case-insensitive
// The whole of `s` as one decimal integer in [lo, hi] (an optional sign, no blanks).
bool int_in_range(std::string_view s, int64_t lo, int64_t hi, int64_t* out);
// An on/off switch: 1, on, true, yes (any case, blanks around) are on; 0, off,
// false, no, empty and null are off. Anything else is off with *valid false.
bool switch_value(const char* value, bool* valid);
// The switch in environment variable `name` (read now): a value that is
// neither on nor off gives one warning naming the variable, and is off.
bool env_switch(const char* name);

// A file name of XSCHED_TIMELINE or XSCHED_METRICS_FILE with each "%p" made
// the process id, for programs that start others under the same setting.
std::string expand_pid(const std::string& path);

// Parses an environ-style array ("NAME=VALUE", null-terminated; null = empty).
// Appends one human-readable warning per rejected variable to *warnings (may be null).
Config parse_config(const char* const* envp, std::vector<std::string>* warnings);

// The process's configuration: parsed from the environment once, on first
// use; its warnings are logged then, once each.
const Config& process_config();

}  // namespace xsched

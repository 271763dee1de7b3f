#include "core/config.h"

#include <unistd.h>  // environ

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "core/enum_values.h"
#include "core/hint_limits.h"
#include "core/policy_list.h"

namespace xsched {
namespace {

constexpr std::string_view kPrefix = "XSCHED_";

bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// ASCII only: the C locale may not be set up when the environment is read.
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The whole of `s` must be one decimal integer that fits in int64_t.
bool to_int(std::string_view s, int64_t& out) {
  // from_chars takes '-' but not '+'; "+-1" must still fail.
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (s.empty() || s.front() == '-') return false;
  }
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// A parser sets its field of cfg from a trimmed, non-empty value, or leaves
// cfg alone and says why in the form "is not ...; using <default>".
using Parser = bool (*)(std::string_view value, Config& cfg, std::string& why);

// A field of Config read as an integer in [kMin, kMax] (or 0, with
// kZeroToo: "none") and stored times kScale (so that microsecond variables
// can fill nanosecond fields).
template <auto kField, int64_t kMin, int64_t kMax, int64_t kScale = 1, bool kZeroToo = false>
bool parse_int(std::string_view value, Config& cfg, std::string& why) {
  using T = std::remove_reference_t<decltype(cfg.*kField)>;
  int64_t v = 0;
  if (to_int(value, v) && ((v >= kMin && v <= kMax) || (kZeroToo && v == 0))) {
    cfg.*kField = static_cast<T>(v * kScale);
    return true;
  }
  why = std::string("is not ") + (kZeroToo ? "0 or " : "") + "an integer in " + std::to_string(kMin) + ".." +
        std::to_string(kMax) + "; using " +
        (Config{}.*kField < 0 ? std::string("the default") : std::to_string(Config{}.*kField / kScale));
  return false;
}

template <typename T>
struct Choice {
  std::string_view name;
  T value;
};

// From the one list of policies (core/policy_list.h).
#define XSCHED_POLICY_CHOICE(kind, name, description) Choice<xs_policy_t>{#name, kind},
constexpr Choice<xs_policy_t> kPolicies[] = {XSCHED_POLICIES(XSCHED_POLICY_CHOICE)};
#undef XSCHED_POLICY_CHOICE
constexpr Choice<xs_level_t> kLevels[] = {
    {"auto", XS_LEVEL_AUTO}, {"1", XS_LEVEL_BLOCK}, {"2", XS_LEVEL_DEACTIVATE}, {"3", XS_LEVEL_INTERRUPT}};
constexpr Choice<Scheduler> kSchedulers[] = {
    {"local", Scheduler::kLocal}, {"daemon", Scheduler::kDaemon}, {"auto", Scheduler::kAuto}};
constexpr Choice<LogLevel> kLogLevels[] = {
    {"error", LogLevel::kError}, {"warn", LogLevel::kWarn}, {"info", LogLevel::kInfo}, {"debug", LogLevel::kDebug}};

template <typename T, std::size_t N>
bool from_name(const Choice<T> (&choices)[N], std::string_view name, T* out) {
  for (const auto& c : choices) {
    if (iequals(name, c.name)) {
      *out = c.value;
      return true;
    }
  }
  return false;
}

// A field of Config read as one of kChoices' names, case-insensitively.
template <auto kField, const auto& kChoices>
bool parse_choice(std::string_view value, Config& cfg, std::string& why) {
  if (from_name(kChoices, value, &(cfg.*kField))) return true;
  why = "is not one of ";
  std::string_view fallback = "?";
  for (const auto& c : kChoices) {
    if (&c != &kChoices[0]) why += ", ";
    why += c.name;
    if (c.value == Config{}.*kField) fallback = c.name;
  }
  why += "; using ";
  why += fallback;
  return false;
}

// A string field of Config, taken as it is.
template <auto kField>
bool parse_text(std::string_view value, Config& cfg, std::string&) {
  cfg.*kField = std::string(value);
  return true;
}

struct Var {
  const char* name;
  Parser parse;      // null: reserved for a component that reads it itself
  const char* help;  // docs/configuration.md says the same at more length
};

constexpr Var kVars[] = {
    {"XSCHED_POLICY", parse_choice<&Config::policy, kPolicies>, "in-process scheduling policy"},
    {"XSCHED_LEVEL", parse_choice<&Config::level, kLevels>, "preemption level of new queues"},
    {"XSCHED_WINDOW", parse_int<&Config::window, 1, 65536>, "commands in flight per queue at Level 1"},
    {"XSCHED_GATED_WINDOW", parse_int<&Config::gated_window, 1, 65536>, "commands in flight per queue at Level 2"},
    {"XSCHED_WINDOW_US", parse_int<&Config::window_ns, 0, 10'000'000, 1000>, "device time in flight per queue"},
    {"XSCHED_BACKPRESSURE", parse_int<&Config::backpressure, 0, 65536>,
     "commands a held queue buffers before a submit waits (0: never)"},
    {"XSCHED_RESERVE_SMS", parse_int<&Config::reserve_sms, 0, 1024>,
     "SMs less urgent kernels leave free while more urgent work is around (0: off)"},
    {"XSCHED_REQUEST_GRACE_US", parse_int<&Config::request_grace_ns, 0, 1'000'000, 1000>,
     "CUDA queues: how long a queue that ran dry before its program synchronised stays ready"},
    {"XSCHED_RESERVE_LINGER_MS", parse_int<&Config::reserve_linger_ns, 1, 60'000, 1'000'000>,
     "how long after more urgent work the reserve stays free"},
    {"XSCHED_PRIORITY", parse_int<&Config::priority, kMinPriority, kMaxPriority>, "priority hint of new queues"},
    {"XSCHED_SHARE", parse_int<&Config::share, 1, kMaxShare>, "share of new queues (bandwidth, fair)"},
    {"XSCHED_TIMESLICE_US", parse_int<&Config::timeslice_ns, kMinTimesliceNs / 1000, kMaxTimesliceNs / 1000, 1000>,
     "timeslice of the policies that take turns"},
    {"XSCHED_LOG_LEVEL", parse_choice<&Config::log_level, kLogLevels>, "diagnostics on stderr"},
    {"XSCHED_DEADLINE_US", parse_int<&Config::deadline_ns, kMinDeadlineNs / 1000, kMaxDeadlineNs / 1000, 1000, true>,
     "deadline hint of new queues"},
    {"XSCHED_SCHEDULER", parse_choice<&Config::scheduler, kSchedulers>, "local, or xschedd when one runs"},
    {"XSCHED_SOCKET", parse_text<&Config::socket>, "xschedd's socket"},
    {"XSCHED_TIMELINE", parse_text<&Config::timeline>, "a Perfetto/chrome://tracing timeline of the queues (%p: pid)"},
    {"XSCHED_METRICS_FILE", parse_text<&Config::metrics_file>,
     "a Prometheus metrics file of the process's queues, for node_exporter's textfile collector (%p: pid)"},
    {"XSCHED_METRICS_INTERVAL_MS", parse_int<&Config::metrics_interval_ns, 10, 3'600'000, 1'000'000>,
     "how often the metrics file is written"},
    {"XSCHED_DAEMON_TIMEOUT_MS", parse_int<&Config::daemon_timeout_ns, 10, 60'000, 1'000'000>,
     "silence after which the daemon's holds are dropped"},
    // Read by the interposers themselves (src/interpose/cuda, src/interpose/hip) and the C API's platforms.
    {"XSCHED_TRACE", nullptr, "interposers: one line per intercepted call, summary at exit"},
    {"XSCHED_TRACE_FILE", nullptr, "interposers: trace file instead of stderr"},
    {"XSCHED_REAL_LIBCUDA", nullptr, "CUDA: path of the real libcuda.so.1"},
    {"XSCHED_REAL_LIBHIP", nullptr, "HIP: path of the real libamdhip64.so"},
    {"XSCHED_ANNOUNCE", nullptr, "interposers: say once per process which devices and level its queues use"},
    {"XSCHED_RUN_PID", nullptr, "set by xsched run: the process it runs (says at exit if it made no CUDA call)"},
    // Read by `xsched run` (src/cli/run.cpp).
    {"XSCHED_INTERPOSER", nullptr, "xsched run: path of the interposer library"},
    // Read by xschedd (src/daemon/mps_server.cpp).
    {"XSCHED_MPS_CONTROL", nullptr, "xschedd --mps: the MPS control program (default nvidia-cuda-mps-control)"},
    // Read by the Python package (python/xsched/_library.py).
    {"XSCHED_LIBRARY", nullptr, "Python package: path of libxsched.so"},
};

const Var* find_var(std::string_view name) {
  for (const Var& v : kVars)
    if (name == v.name) return &v;
  return nullptr;
}

std::string known_names() {
  std::string s;
  for (const Var& v : kVars) {
    if (!s.empty()) s += ", ";
    s += v.name;
  }
  return s;
}

}  // namespace

bool policy_from_name(std::string_view name, xs_policy_t* out) { return from_name(kPolicies, name, out); }

const char* policy_name(xs_policy_t policy) {
  // Rows are in the enum's order (policy_list.h); the value is checked as an
  // integer first, since it may come from C and be no member at all.
  return known_policy(policy) ? kPolicyInfo[static_cast<std::size_t>(policy)].name : "unknown";
}

std::string policy_help(std::string_view indent) {
  std::size_t width = 0;
  for (const PolicyInfo& p : kPolicyInfo) width = std::max(width, std::string_view(p.name).size());
  std::string s;
  for (const PolicyInfo& p : kPolicyInfo) {
    s += indent;
    s += p.name;
    s.append(width + 2 - std::string_view(p.name).size(), ' ');
    s += p.description;
    s += '\n';
  }
  return s;
}

std::string policy_names(std::string_view separator) {
  std::string s;
  for (const PolicyInfo& p : kPolicyInfo) {
    if (!s.empty()) s += separator;
    s += p.name;
  }
  return s;
}

bool log_level_from_name(std::string_view name, LogLevel* out) { return from_name(kLogLevels, name, out); }

bool switch_value(const char* value, bool* valid) {
  *valid = true;
  if (value == nullptr) return false;
  std::string_view v = value;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\n')) v.remove_suffix(1);
  auto is = [&](std::string_view word) {
    if (v.size() != word.size()) return false;
    for (size_t i = 0; i < v.size(); ++i) {
      if ((v[i] | 0x20) != word[i]) return false;  // ASCII case-insensitive
    }
    return true;
  };
  if (v.empty() || is("0") || is("off") || is("false") || is("no")) return false;
  if (is("1") || is("on") || is("true") || is("yes")) return true;
  *valid = false;
  return false;
}

bool env_switch(const char* name) {
  const char* value = std::getenv(name);
  bool valid = true;
  const bool on = switch_value(value, &valid);
  if (!valid) log(LogLevel::kWarn, "%s=\"%s\" is not 1 or 0 (on/off, true/false, yes/no); off", name, value);
  return on;
}

bool int_in_range(std::string_view s, int64_t lo, int64_t hi, int64_t* out) {
  int64_t v = 0;
  if (!to_int(s, v) || v < lo || v > hi) return false;
  *out = v;
  return true;
}

std::string expand_pid(const std::string& path) {
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 1 < path.size() && path[i + 1] == 'p') {
      out += std::to_string(getpid());
      ++i;
    } else {
      out += path[i];
    }
  }
  return out;
}

Config parse_config(const char* const* envp, std::vector<std::string>* warnings) {
  Config cfg;
  if (envp == nullptr) return cfg;
  for (; *envp != nullptr; ++envp) {
    const std::string_view entry = *envp;
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos || !entry.starts_with(kPrefix)) continue;
    const std::string_view name = entry.substr(0, eq);
    const std::string_view raw = entry.substr(eq + 1);
    const std::string_view value = trim(raw);
    if (value.empty()) continue;  // "XSCHED_X=" is how a user unsets X in a launcher script

    const Var* var = find_var(name);
    std::string why;
    if (var == nullptr) {
      if (warnings) warnings->push_back("unknown variable " + std::string(name) + " (known: " + known_names() + ")");
    } else if (var->parse != nullptr && !var->parse(value, cfg, why)) {
      if (warnings) warnings->push_back(std::string(name) + "=\"" + std::string(raw) + "\" " + why);
    }
  }
  return cfg;
}

const Config& process_config() {
  // A function-local static: the first caller parses, concurrent ones wait.
  static const Config cfg = [] {
    Config c;
    std::vector<std::string> warnings;
    try {
      c = parse_config(environ, &warnings);
    } catch (...) {
      // Only allocation can fail here; defaults beat an exception into a C caller.
      c = Config{};
    }
    set_log_level(c.log_level);
    for (const std::string& w : warnings) log(LogLevel::kWarn, "%s", w.c_str());
    return c;
  }();
  return cfg;
}

}  // namespace xsched

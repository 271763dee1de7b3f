// preempt.cu's command line: the options, their checks and the usage text. Included by
// preempt.cu only.
#pragma once

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "preempt_util.h"

namespace preempt {

enum class Role { kBoth, kLow, kHigh };

inline const char* role_name(Role r) { return r == Role::kLow ? "low" : r == Role::kHigh ? "high" : "both"; }

struct Options {
  Role role = Role::kBoth;
  double t_us = -1;
  int samples = -1;
  double mean_gap_us = 5000;
  int high_priority = 0;
  bool have_priority = false;
  std::string out;
  u64 seed = 1;
  int low_depth = 8;
  int warmup = 5;
  int watchdog_s = 120;
  double seconds = 0;    // role low: stop after this long even if stdin stays open (0: no limit)
  bool wait_go = false;  // role high: after the idle probes, say IDLE-DONE and wait for a stdin line
};

[[noreturn]] inline void usage(const char* msg) {
  if (msg) std::fprintf(stderr, "preempt: %s\n", msg);
  std::fprintf(stderr,
               "usage: preempt --t-us T --samples N --mean-gap-us G --high-priority P --out FILE.json\n"
               "               [--role both|low|high] [--seconds S] [--wait-go]\n"
               "               [--seed S] [--low-depth D] [--warmup W] [--watchdog-s S]\n"
               "  --t-us T          low kernel length, µs (each block spins T µs on %%globaltimer)\n"
               "  --samples N       timed high kernels\n"
               "  --mean-gap-us G   mean of the random (exponential) gap between high kernels (default 5000)\n"
               "  --high-priority P CUDA priority of the high stream (0 default, -1 higher; clamped to the range)\n"
               "  --out FILE        JSON results (optional with --role low)\n"
               "  --role R          both (default): low and high thread here; low: only the low thread, which\n"
               "                    prints READY once its kernels run and fills the GPU until stdin closes;\n"
               "                    high: only the high thread's probes (--t-us is then only recorded)\n"
               "  --seconds S       role low: stop after S seconds even if stdin stays open\n"
               "  --wait-go         role high: after the idle probes print IDLE-DONE and wait for a line on stdin\n"
               "  --seed S          seed of the gaps (default 1)\n"
               "  --low-depth D     low kernels in flight before the low thread waits (default 8)\n"
               "  --warmup W        untimed high kernels under load before the samples (default 5)\n"
               "  --watchdog-s S    give up (exit 1) after S seconds (default 120; role low: until READY\n"
               "                    and again after stdin closed)\n");
  std::exit(2);
}

inline double parse_double(const char* name, const char* s, double lo, double hi) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !std::isfinite(v) || v < lo || v > hi) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "%s: '%s' is not a number in %g..%g", name, s, lo, hi);
    usage(msg);
  }
  return v;
}

inline long long parse_int(const char* name, const char* s, long long lo, long long hi) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "%s: '%s' is not an integer in %lld..%lld", name, s, lo, hi);
    usage(msg);
  }
  return v;
}

inline Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") usage(nullptr);
    if (a == "--wait-go") {
      o.wait_go = true;
      continue;
    }
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    const char* v = argv[++i];
    if (a == "--t-us") o.t_us = parse_double("--t-us", v, 1, 10'000'000);
    else if (a == "--samples") o.samples = static_cast<int>(parse_int("--samples", v, 1, 10'000'000));
    else if (a == "--mean-gap-us") o.mean_gap_us = parse_double("--mean-gap-us", v, 1, 10'000'000);
    else if (a == "--high-priority") {
      o.high_priority = static_cast<int>(parse_int("--high-priority", v, -1000, 1000));
      o.have_priority = true;
    } else if (a == "--out") o.out = v;
    else if (a == "--role") {
      const std::string r = v;
      if (r == "both") o.role = Role::kBoth;
      else if (r == "low") o.role = Role::kLow;
      else if (r == "high") o.role = Role::kHigh;
      else usage(("--role: '" + r + "' is not both, low or high").c_str());
    } else if (a == "--seconds") o.seconds = parse_double("--seconds", v, 0, 1e7);
    else if (a == "--seed") o.seed = static_cast<u64>(parse_int("--seed", v, 0, LLONG_MAX));
    else if (a == "--low-depth") o.low_depth = static_cast<int>(parse_int("--low-depth", v, 1, 4096));
    else if (a == "--warmup") o.warmup = static_cast<int>(parse_int("--warmup", v, 0, 100'000));
    else if (a == "--watchdog-s") o.watchdog_s = static_cast<int>(parse_int("--watchdog-s", v, 1, 86'400));
    else usage(("unknown option " + a).c_str());
  }
  if (o.t_us < 0 && o.role != Role::kHigh) usage("--t-us is required");
  if (o.role != Role::kLow) {  // the roles with a high side
    if (o.samples < 0) usage("--samples is required");
    if (!o.have_priority) usage("--high-priority is required");
    if (o.out.empty()) usage("--out is required");
  }
  if (o.seconds > 0 && o.role != Role::kLow) usage("--seconds is only for --role low");
  if (o.wait_go && o.role != Role::kHigh) usage("--wait-go is only for --role high");
  return o;
}

}  // namespace preempt

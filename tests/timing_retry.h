// Timing assertions on a shared VM. A pause of the VM spoils one measurement
// but rarely two in a row, while a real defect misses on every attempt. So a
// timing check is a function that measures afresh and returns its failures,
// one per line ("" = pass), and it runs again only when it misses.
//
// When the hypervisor takes a large part of the machine's CPU time (steal),
// or other processes on the machine do (a build beside the tests), during an
// attempt that missed, the attempt says nothing about the code and does not
// count. A verdict of failure needs two counted attempts that missed and none
// that passed; with fewer counted attempts the check is skipped and says why.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "cli/steal.h"

namespace xsched::testing {

struct TimingVerdict {
  std::string failures;  // of the last counted attempt; "" = passed
  bool starved = false;  // too few attempts counted for a verdict: skip, with `why`
  std::string why;
};

// Counted misses needed for a verdict of failure.
inline constexpr int kMissesToFail = 2;

// Steal above this fraction voids an attempt (a healthy run here sees ~0-3%).
inline constexpr double kMaxSteal = 0.06;

// Other processes' share of the machine's CPU time above this fraction voids
// an attempt too: a build running beside the test on a 2-core machine takes
// the CPU that the CPU reference device's "kernels" and the scheduler's
// threads need, and the timings then measure that build.
inline constexpr double kMaxOthersBusy = 0.35;

// The fraction of all CPU time (every core) that went to processes other
// than this one over an interval, from /proc/stat and /proc/self/stat; -1
// where unknown.
class OthersBusyMeter {
 public:
  OthersBusyMeter() { known_ = read(&busy_, &total_, &self_); }
  double fraction() const {
    uint64_t busy = 0, total = 0, self = 0;
    if (!known_ || !read(&busy, &total, &self) || total <= total_) return -1;
    const double others = static_cast<double>(busy - busy_) - static_cast<double>(self - self_);
    return std::max(0.0, others) / static_cast<double>(total - total_);
  }

 private:
  // All cores' busy and total ticks, and this process's (all its threads).
  static bool read(uint64_t* busy, uint64_t* total, uint64_t* self) {
    std::ifstream st("/proc/stat");
    std::string cpu;
    uint64_t v[8] = {};
    if (!(st >> cpu) || cpu != "cpu") return false;
    for (uint64_t& x : v) st >> x;  // user nice system idle iowait irq softirq steal
    *busy = v[0] + v[1] + v[2] + v[5] + v[6];
    *total = *busy + v[3] + v[4] + v[7];
    std::ifstream me("/proc/self/stat");
    const std::string line((std::istreambuf_iterator<char>(me)), std::istreambuf_iterator<char>());
    const std::size_t close = line.rfind(')');
    if (close == std::string::npos) return false;
    std::istringstream in(line.substr(close + 2));
    std::string field;
    uint64_t utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
      if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
    }
    *self = utime + stime;  // clock ticks, as /proc/stat's
    return true;
  }
  uint64_t busy_ = 0, total_ = 0, self_ = 0;
  bool known_ = false;
};

template <class F>
TimingVerdict measure_with_retry(F measure, int counted_attempts = 3, int max_attempts = 6) {
  TimingVerdict v;
  int counted = 0;
  for (int i = 0; i < max_attempts && counted < counted_attempts; ++i) {
    const cli::StealMeter steal;
    const OthersBusyMeter others;
    std::string failures = measure();
    const double stolen = steal.fraction();
    const double crowded = others.fraction();
    if (!failures.empty() && crowded > kMaxOthersBusy) {
      std::printf("timing attempt %d void: other processes took %.0f%% of the CPU time\n", i + 1, 100 * crowded);
      v.why = "other processes took up to " + std::to_string(static_cast<int>(100 * crowded)) +
              "% of the CPU time during the attempts; timings would measure them, not xsched";
      continue;
    }
    if (stolen > kMaxSteal) {
      std::printf("timing attempt %d void: the hypervisor took %.0f%% of the CPU time\n", i + 1, 100 * stolen);
      v.why = "the hypervisor took up to " + std::to_string(static_cast<int>(100 * stolen)) +
              "% of the CPU time during the attempts; timings would measure the host, not xsched";
      continue;
    }
    ++counted;
    v.failures = std::move(failures);
    if (v.failures.empty()) return v;
    std::printf("timing attempt %d missed:\n%s", i + 1, v.failures.c_str());
  }
  v.starved = counted < kMissesToFail;
  if (v.starved && counted > 0) v.why += " (one attempt counted, and it missed: inconclusive)";
  return v;
}

}  // namespace xsched::testing

// Timing assertions on a shared VM. A pause of the VM spoils one measurement
// but rarely two in a row, while a real defect misses on every attempt. So a
// timing check is a function that measures afresh and returns its failures,
// one per line ("" = pass), and it runs again only when it misses.
//
// When the hypervisor takes a large part of the machine's CPU time (steal)
// during an attempt, the attempt says nothing about the code and does not
// count. A verdict of failure needs two counted attempts that missed and none
// that passed; with fewer counted attempts the check is skipped and says why.
#pragma once

#include <cstdio>
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

template <class F>
TimingVerdict measure_with_retry(F measure, int counted_attempts = 3, int max_attempts = 6) {
  TimingVerdict v;
  int counted = 0;
  for (int i = 0; i < max_attempts && counted < counted_attempts; ++i) {
    const cli::StealMeter steal;
    std::string failures = measure();
    const double stolen = steal.fraction();
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

// CPU time the hypervisor took from this machine (Linux "steal"), as a
// fraction of all CPU time over an interval. On a shared VM, a thread that
// sleeps and wakes often can lose milliseconds per wake-up while the host
// runs other guests; timings taken then say more about the host than about
// the code, so the demo reports steal and the timing tests discount such runs.
#pragma once

#include <cstdint>

namespace xsched::cli {

class StealMeter {
 public:
  StealMeter() { restart(); }
  void restart();
  // Fraction (0..1) of CPU time stolen since restart(); -1 where unknown.
  double fraction() const;

 private:
  uint64_t steal_ = 0;
  uint64_t total_ = 0;
  bool known_ = false;
};

}  // namespace xsched::cli

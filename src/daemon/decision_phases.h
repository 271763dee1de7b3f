// Where one decision's time goes inside xschedd, phase by phase. Off unless
// a caller hands the daemon a log (bench/daemon/decision_compute.cpp drives
// the decision code in-process with fake boards): one branch per phase when
// off, two clock reads per phase when on, and never an allocation (the
// owner reserves the log's capacity; a full log keeps its first entries).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace xsched::daemon {

enum class Phase : std::size_t {
  kScan,     // reading the boards' slots (the engine's calls inside it included; the bench subtracts them)
  kEngine,   // the engine's add/update/remove/decide, with the gate-word stores its decisions make
  kWindows,  // the window rule's context and each queue's bound
  kPublish,  // the decisions written into the boards' slots
  kRing,     // the doorbells of the processes told
  kCount,
};
constexpr std::size_t kPhases = static_cast<std::size_t>(Phase::kCount);

struct PhaseLog {
  std::array<std::vector<int64_t>, kPhases> ns;  // one entry per decision, in the owner's reserved capacity
  std::array<int64_t, kPhases> acc{};            // the decision in progress
  int64_t last_store_ns = 0;                     // steady clock of the newest gate-word store
  // Called before each ring: lets the probe change a board while the daemon rings.
  void (*on_ring)(void* arg) = nullptr;
  void* on_ring_arg = nullptr;

  void add(Phase p, int64_t d) { acc[static_cast<std::size_t>(p)] += d; }
  // Closes the decision in progress.
  void end() {
    for (std::size_t p = 0; p < kPhases; ++p) {
      if (ns[p].size() < ns[p].capacity()) ns[p].push_back(acc[p]);
      acc[p] = 0;
    }
  }
};

}  // namespace xsched::daemon

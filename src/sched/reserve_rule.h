// Spatial reservation's rule: which queues run their kernels on a partition
// of the device that leaves execution units free (HwQueueOps::confine), and
// until when. A queue is confined while a queue of higher priority is ready,
// and for `linger_ns` after it last was: an urgent task's next request comes
// unannounced, and the reserve must already be free when it does. Once no
// more urgent queue has been around for that long, the queue has the whole
// device again. Knows nothing of devices or threads; its owner serialises calls.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace xsched {

class ReserveRule {
 public:
  static constexpr int64_t kForever = std::numeric_limits<int64_t>::max();

  explicit ReserveRule(int64_t linger_ns) : linger_ns_(linger_ns) {}

  void add(uint64_t id, int32_t priority, bool ready, int64_t now_ns);
  void remove(uint64_t id);
  // The queue's priority and readiness as of now_ns.
  void update(uint64_t id, int32_t priority, bool ready, int64_t now_ns);

  // Off, no queue is confined (a policy that does not rank by priority).
  void set_enabled(bool on) {
    if (on != enabled_) dirty_ = true;
    enabled_ = on;
  }

  // Calls f(id, until_ns) for every queue whose confinement changed since it
  // was last passed to f: until_ns is steady-clock time, kForever while a
  // more urgent queue is ready, 0 for never.
  template <class F>
  void apply(F&& f) {
    if (!dirty_) return;
    dirty_ = false;
    for (Entry& e : entries_) {
      const int64_t until = enabled_ ? confined_until(e.priority) : 0;
      if (until == e.told) continue;
      e.told = until;
      f(e.id, until);
    }
  }

 private:
  struct Entry {
    uint64_t id;
    int32_t priority;
    int64_t active_until;  // kForever while ready; when it last was, plus the linger; 0: never ready
    int64_t told;          // what apply() last passed on
  };
  int64_t confined_until(int32_t priority) const;
  Entry* find(uint64_t id);

  const int64_t linger_ns_;
  std::vector<Entry> entries_;
  bool dirty_ = false;
  bool enabled_ = true;
};

}  // namespace xsched

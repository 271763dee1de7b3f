// The timeline's recorded events and queue names, shared by the recorder
// (timeline.cpp) and the writer of the trace file (timeline_json.cpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/timeline.h"

namespace xsched::timeline::detail {

// A slot of the ring. Fields are relaxed atomics: a writer fills a slot while
// the file's writer may read it, and the stamp tells a whole event from a torn one.
struct Entry {
  std::atomic<uint64_t> stamp{0};  // n + 1 once event n is complete in this slot
  std::atomic<int64_t> ts_ns{0};
  std::atomic<uint64_t> queue{0};
  std::atomic<uint64_t> a{0};
  std::atomic<uint64_t> b{0};
  std::atomic<uint8_t> event{0};
  std::atomic<uint8_t> reason{0};
};

// One event as read out of the ring.
struct Copy {
  int64_t ts_ns = 0;
  uint64_t queue = 0;
  uint64_t a = 0;
  uint64_t b = 0;
  Event event = Event::kLaunch;
  Reason reason = Reason::kNone;
};

// The newest 2^18 events (8 MiB), overwritten oldest first.
constexpr uint64_t kCapacity = uint64_t{1} << 18;

struct Ring {
  std::vector<Entry> slots{kCapacity};
  std::atomic<uint64_t> next{0};  // events claimed so far
};

struct Names {
  std::mutex mu;
  std::map<uint64_t, std::string> tracks;  // queue id -> track name
};

// The ring's complete events, oldest first (one being rewritten is left out).
std::vector<Copy> snapshot(Ring& ring);
// Writes the Chrome JSON trace-event file (Perfetto reads it) to path; false on failure.
bool write_json(const std::string& path, const std::vector<Copy>& events, Names& names, int64_t now_ns);

}  // namespace xsched::timeline::detail

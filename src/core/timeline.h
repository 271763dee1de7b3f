// A timeline of what the scheduler does to each queue, for Perfetto
// (ui.perfetto.dev) and chrome://tracing: XSCHED_TIMELINE=FILE (`xsched run
// --timeline FILE`) records, per queue, its commands' launches (host side),
// its holds and releases with their reason, its hardware gate closing and
// opening (Level 2), back-pressure waits and reservation, and a flow arrow
// from the urgent queue's change that caused a hold to the hold.
//
// Recording is a few stores into a fixed ring (the newest kCapacity events),
// made once when the first queue is created, and nothing at all when the
// variable is unset (one relaxed load per point). The file is written at exit,
// on SIGUSR2 (when the program leaves that signal to its default), and by
// flush(). A "%p" in FILE becomes the process id, for programs that start
// others under the same setting.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace xsched::timeline {

enum class Event : uint8_t {
  kLaunch,         // a command reached the hardware queue: a = its id, b = its kind
  kHold,           // the queue is held: reason, a = the flow that caused it (0: none)
  kRelease,        // it runs again: reason
  kGateClose,      // Level 2: its hardware queue is held (gate closed)
  kGateOpen,       // and let go
  kWaitBegin,      // a submitting thread stops for back-pressure
  kWaitEnd,        // and goes on
  kConfine,        // reservation: its kernels leave the reserve free until steady-clock ns a (0: not at all)
  kCause,          // a change of this queue made a decision that held others: a = the flow
};

enum class Reason : uint8_t { kNone, kPolicy, kUser, kDaemon, kTimer };

extern std::atomic<bool> g_enabled;
inline bool enabled() { return g_enabled.load(std::memory_order_relaxed); }

// Turns recording on if XSCHED_TIMELINE names a file; once per process, cheap after.
void init_from_config();
// Turns recording on into `path` ("%p": the process id), whatever the
// configuration says (xschedd's --timeline); once per process: a later call,
// or init_from_config after it, changes nothing. False if it could not.
bool init(const std::string& path);
// Names a queue's track ("queue 3, cuda:0, NVIDIA H100 80GB HBM3"). Not on a hot path.
void name_queue(uint64_t queue, const char* platform, int32_t device, const char* device_name);
// Names a track as given (xschedd: "pid 1234 (python3), queue 7, cuda:0, NVIDIA H100").
void name_track(uint64_t track, const std::string& name);
void record(Event e, uint64_t queue, Reason reason = Reason::kNone, uint64_t a = 0, uint64_t b = 0);
// Writes the file now (also at exit). Returns false if it could not.
bool flush();

// What caused the scheduling decisions made in this thread while it lives:
// a queue's change (the held queues get a flow arrow from it), the daemon,
// or a timer. Cheap when recording is off.
class Cause {
 public:
  Cause(Reason reason, uint64_t queue = 0);
  ~Cause();
  Cause(const Cause&) = delete;
  Cause& operator=(const Cause&) = delete;
};
// The reason for a hold or release made in this thread now. For a hold,
// *flow gets its flow (0: none; the first hold of a queue-caused decision
// records the cause on that queue's track); a release passes null.
Reason current_reason(uint64_t* flow = nullptr);

}  // namespace xsched::timeline

// The CPU reference device's state, shared by its scheduling core
// (host_device.cpp: units, settling, picking) and its streams' and events'
// methods (host_stream.cpp). Internal to src/hal/host.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gates/gate_words.h"
#include "hal/host/command_ring.h"
#include "hal/host/host_device.h"

namespace xsched::host {

// Named (not anonymous) so that Stream::Impl may hold these types without
// -Wsubobject-linkage; the namespace keeps them out of others' way.
namespace device_detail {

// Far beyond any real kernel; keeps deadline arithmetic clear of overflow.
constexpr int64_t kMaxKernelNs = int64_t{1} << 60;
// How often an idle unit looks at gate words that hold streams with work.
constexpr int64_t kWordPollUs = 20;

struct Unit {
  std::condition_variable wake;  // cuts a kernel's wait short on interrupt
  bool reserved = false;         // one of the device's reserve: runs no confined kernel
};

struct StreamState {
  Ring fifo;  // front is the head: running, interrupted or next to run
  uint64_t launched = 0;
  uint64_t completed = 0;
  int64_t busy_ns = 0;
  bool active = true;                // Level 2: false holds commands not started
  gates::Word word;                  // Level 2 too: xschedd may close it (gates/gate_words.h)
  bool ignore_word = false;          // draining: nothing holds it back any more
  bool running = false;              // a unit runs the head
  bool interrupt_requested = false;  // Level 3: the running kernel must leave its unit
  int64_t remaining_ns = -1;         // >= 0: the head is a kernel interrupted with this much left
  uint64_t releases = 0;             // times a unit let go of the stream: interrupt waits for one
  Unit* unit = nullptr;              // the unit running the head
  std::atomic<int64_t> confined_until{0};  // kernels launched before then are confined (confine())
  std::condition_variable changed;   // completions and releases (sync, interrupt, ~Stream)
};

}  // namespace device_detail

using device_detail::kMaxKernelNs;
using device_detail::kWordPollUs;
using device_detail::Ring;
using device_detail::Slot;
using device_detail::StreamState;
using device_detail::Unit;

struct DeviceState {
  std::mutex mu;
  std::condition_variable work;        // idle units wait for a runnable stream
  std::condition_variable drained;     // shutdown waits for outstanding == 0
  std::vector<StreamState*> streams;   // attached streams, in round-robin order
  std::size_t last = 0;                // index of the stream picked last
  uint64_t outstanding = 0;            // launched, not completed, over all streams
  unsigned idle_units = 0;
  unsigned reserve = 0;                // units that run no confined kernel: the last ones
  bool accepting = true;               // false from shutdown on
  bool stopping = false;               // unit threads exit
  bool polling = false;                // a unit watches gate words and other devices' events
  uint64_t foreign_waits = 0;          // launched waits on other devices' events, not completed
  std::vector<std::unique_ptr<Unit>> units;
  std::vector<std::thread> threads;    // touched only by the Device's constructor and destructor
  DeviceId id;          // set once by the Device's constructor
  uint32_t ordinal = 0;
  // Its page of gate words is never handed out again: another owner may come at this address.
  ~DeviceState() { gates::retire(this); }
};

struct Stream::Impl {
  explicit Impl(std::shared_ptr<DeviceState> d) : dev(std::move(d)) {}
  std::shared_ptr<DeviceState> dev;
  StreamState st;
  std::weak_ptr<Stream> self;  // for hw_queue(): its ctx owns the stream
};

struct Event::Impl {
  std::shared_ptr<DeviceState> dev;
  std::shared_ptr<EventState> state;
};

namespace device_detail {

using Lock = std::unique_lock<std::mutex>;

// Used by the streams' methods; defined with the scheduling core.
bool is_event(const Command& cmd);
// Restores the invariant (host_device.cpp) after s's head may have changed.
void settle_from(DeviceState& d, StreamState& s);
// After s changed: a unit takes it, or starts watching it.
void wake_for(DeviceState& d, StreamState& s);
// Takes s out of the round-robin, keeping the position of the others.
void detach(DeviceState& d, StreamState& s);
// Whether the calling thread is the unit that runs s's head (a command's fn
// acting on its own stream).
bool runs_on_this_thread(const StreamState& s);

}  // namespace device_detail
}  // namespace xsched::host

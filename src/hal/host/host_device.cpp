// The CPU reference device. One mutex per device guards every stream, event
// and unit of it: the device is a test and demo backend, and one lock keeps
// its many cross-stream interactions (round-robin, events, preemption)
// obviously correct. Unit threads release the lock while they run a command.
//
// Invariant kept under the lock: an active stream that no unit runs never has
// an event record or a satisfied event wait at its head. Every change that
// could break it (launch, completion, reactivation, a record) settles the
// streams at once, so event commands take no unit time and units only ever
// pick real work.
#include "hal/host/host_device.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include "core/clock.h"
#include "hal/host/host_device_state.h"

namespace xsched::host {
namespace device_detail {

bool is_event(const Command& cmd) {
  return cmd.kind == XS_CMD_EVENT_RECORD || cmd.kind == XS_CMD_EVENT_WAIT;
}

bool wait_satisfied(const Slot& slot) {
  return slot.event->completed.load(std::memory_order_acquire) >= slot.cmd->op.event.generation;
}

// Level 2: neither the process (deactivate) nor xschedd (its gate word) holds it.
bool active(const StreamState& s) {
  if (!s.active) return false;
  const uint32_t* w = gates::host_address(s.word);
  return s.ignore_word || w == nullptr || gates::is_open(std::atomic_ref<const uint32_t>(*w).load(std::memory_order_acquire));
}

// Some unit may take the stream now. Event commands never qualify: settling handles them.
bool runnable(StreamState& s) {
  return !s.running && !s.fifo.empty() && !is_event(*s.fifo.front().cmd) && active(s);
}

// Unit u may take the stream now: a unit of the reserve runs no confined kernel.
bool runnable_on(StreamState& s, const Unit& u) { return runnable(s) && !(u.reserved && s.fifo.front().confined); }

// The stream would make progress after a change that wakes no unit of this
// device: its gate word opening (xschedd opens words with a store) or, with a
// wait on another device's event at its head, that device's record completing.
// So idle units must look again now and then, as a GPU polls a gate word.
// Decided from the stream's state, not the word's value, which may change
// between two reads.
bool needs_watching(const StreamState& s) {
  if (!s.active || s.running || s.fifo.empty()) return false;
  const Slot& head = s.fifo.front();
  const bool waiting = head.cmd->kind == XS_CMD_EVENT_WAIT && !wait_satisfied(head);
  if (waiting) return head.foreign;
  return !s.ignore_word && s.word.valid();
}

bool any_needs_watching(const DeviceState& d) {
  for (const StreamState* s : d.streams) {
    if (needs_watching(*s)) return true;
  }
  return false;
}

// With a reserve, the one woken might be a unit that may not take the work: wake all.
void wake_one(DeviceState& d) {
  if (d.idle_units == 0) return;
  if (d.reserve > 0) {
    d.work.notify_all();
  } else {
    d.work.notify_one();
  }
}

// After s changed: a unit takes it, or starts watching its gate word.
void wake_for(DeviceState& d, StreamState& s) {
  if (runnable(s) || (!d.polling && needs_watching(s))) wake_one(d);
}

void wake_all(DeviceState& d) {
  if (d.idle_units > 0) d.work.notify_all();
}

// The caller may recycle the command as soon as it sees the count: pop first.
void complete_head(DeviceState& d, StreamState& s) {
  s.fifo.pop();
  ++s.completed;
  if (--d.outstanding == 0) d.drained.notify_all();
  s.changed.notify_all();
}

// Completes the event commands at the head of s. Returns whether one recorded.
bool settle_stream(DeviceState& d, StreamState& s) {
  bool recorded = false;
  while (!s.running && !s.fifo.empty() && active(s)) {
    Slot& head = s.fifo.front();
    if (head.cmd->kind == XS_CMD_EVENT_RECORD) {
      // Only this device records the event (under its lock): no other writer.
      const uint64_t gen = head.cmd->op.event.generation;
      if (head.event->completed.load(std::memory_order_relaxed) < gen) {
        head.event->completed.store(gen, std::memory_order_release);
      }
      recorded = true;
    } else if (head.cmd->kind != XS_CMD_EVENT_WAIT || !wait_satisfied(head)) {
      break;
    }
    if (head.foreign) --d.foreign_waits;
    complete_head(d, s);
  }
  return recorded;
}

// A record may satisfy waits in any stream, and those may lead to records.
void settle_all(DeviceState& d) {
  bool recorded = true;
  while (recorded) {
    recorded = false;
    for (StreamState* s : d.streams) recorded = settle_stream(d, *s) || recorded;
  }
}

// Restores the invariant after s's head may have changed.
void settle_from(DeviceState& d, StreamState& s) {
  if (!settle_stream(d, s)) return;
  settle_all(d);
  wake_all(d);
}

// Round-robin after the stream picked last, as streams interleave on a GPU.
StreamState* pick(DeviceState& d, const Unit& u) {
  const std::size_t n = d.streams.size();
  for (std::size_t k = 1; k <= n; ++k) {
    const std::size_t i = (d.last + k) % n;
    if (runnable_on(*d.streams[i], u)) {
      d.last = i;
      return d.streams[i];
    }
  }
  return nullptr;
}

void detach(DeviceState& d, StreamState& s) {
  const auto it = std::find(d.streams.begin(), d.streams.end(), &s);
  if (it == d.streams.end()) return;
  const auto i = static_cast<std::size_t>(it - d.streams.begin());
  d.streams.erase(it);
  const std::size_t n = d.streams.size();
  // Keep the round-robin position: the stream after the last picked one picks next.
  if (n == 0) {
    d.last = 0;
  } else if (i <= d.last) {
    d.last = (d.last + n - 1) % n;
  }
}

void run_unlocked(Command& cmd, Lock& lk) {
  lk.unlock();
  switch (cmd.kind) {
    case XS_CMD_COPY:
      if (cmd.op.copy.bytes > 0) std::memcpy(cmd.op.copy.dst, cmd.op.copy.src, cmd.op.copy.bytes);
      break;
    case XS_CMD_MEMSET:
      if (cmd.op.memset.bytes > 0) std::memset(cmd.op.memset.dst, cmd.op.memset.value, cmd.op.memset.bytes);
      break;
    case XS_CMD_HOST_FUNC:
      if (cmd.op.host_func.fn != nullptr) cmd.op.host_func.fn(cmd.op.host_func.arg);
      break;
    default:
      break;
  }
  lk.lock();
}

// The unit the calling thread runs, if it is a unit thread: code inside a
// command (a kernel's fn, a host function) runs there.
thread_local Unit* t_current_unit = nullptr;

bool runs_on_this_thread(const StreamState& s) { return s.unit == t_current_unit; }

// Returns false if interrupted, with the remaining time saved in s.
bool run_kernel(StreamState& s, Unit& u, Command& cmd, int64_t start, Lock& lk) {
  const auto& k = cmd.kernel_desc<xs_host_kernel_t>();
  int64_t deadline = 0;
  if (s.remaining_ns >= 0) {
    deadline = start + s.remaining_ns;  // resumed: fn already ran
  } else {
    if (k.fn != nullptr) {
      lk.unlock();
      k.fn(k.arg);
      lk.lock();
    }
    deadline = start + static_cast<int64_t>(std::min<uint64_t>(k.duration_ns, kMaxKernelNs));
  }
  // A deadline wait rather than sleep_for: interrupt must be able to end it early.
  u.wake.wait_until(lk, to_time_point(deadline), [&] { return s.interrupt_requested; });
  const int64_t left = deadline - now_ns();
  if (!s.interrupt_requested || left <= 0) return true;
  s.remaining_ns = left;
  return false;
}

void run_head(DeviceState& d, Unit& u, StreamState& s, Lock& lk) {
  Command& cmd = *s.fifo.front().cmd;
  s.running = true;
  s.unit = &u;
  const int64_t start = now_ns();
  bool done = true;
  if (cmd.kind == XS_CMD_KERNEL) {
    done = run_kernel(s, u, cmd, start, lk);
  } else {
    run_unlocked(cmd, lk);
  }
  s.busy_ns += now_ns() - start;
  s.running = false;
  s.unit = nullptr;
  s.interrupt_requested = false;
  ++s.releases;
  if (done) {
    s.remaining_ns = -1;
    complete_head(d, s);
    settle_from(d, s);
  }
  s.changed.notify_all();
}

void unit_main(DeviceState& d, Unit& u) {
#if defined(__linux__)
  // The default 50 µs slack would blur kernel durations and preemption latency.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
  t_current_unit = &u;
  Lock lk(d.mu);
  bool watched = false;  // this unit watched gate words before its last pick
  while (!d.stopping) {
    // Busy units would otherwise leave a satisfied wait on another device's
    // event for an idle one to notice: look before picking.
    if (d.foreign_waits > 0) settle_all(d);
    StreamState* s = pick(d, u);
    if (s == nullptr) {
      ++d.idle_units;
      watched = !d.polling && any_needs_watching(d);
      if (watched) {
        d.polling = true;
        d.work.wait_for(lk, std::chrono::microseconds(kWordPollUs));
        d.polling = false;
        settle_all(d);
      } else {
        d.work.wait(lk);
      }
      --d.idle_units;
      continue;
    }
    // The watcher takes a stream: another idle unit watches the words in its place.
    if (watched && d.idle_units > 0 && any_needs_watching(d)) d.work.notify_one();
    watched = false;
    run_head(d, u, *s, lk);
  }
}

}  // namespace device_detail

using device_detail::Lock;
using device_detail::settle_all;
using device_detail::unit_main;
using device_detail::wake_all;

// ---- Device ----------------------------------------------------------------

std::shared_ptr<Device> Device::create(unsigned units) {
  std::shared_ptr<Device> dev(new Device(units));
  if (dev->state_->threads.empty()) return nullptr;
  return dev;
}

Device::Device(unsigned units) : state_(std::make_shared<DeviceState>()) {
  DeviceState& d = *state_;
  static std::atomic<uint32_t> made{0};  // devices made by this process so far
  d.ordinal = made.fetch_add(1);
  d.id = host_device_id(d.ordinal);
  const unsigned n = units == 0 ? 1 : units;
  for (unsigned i = 0; i < n; ++i) d.units.push_back(std::make_unique<Unit>());
  // Reserved first: an exception with threads running would leave them unjoined.
  d.threads.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    try {
      d.threads.emplace_back(unit_main, std::ref(d), std::ref(*d.units[i]));
    } catch (const std::exception&) {
      break;  // fewer units than asked beats failing; create() reports none at all
    }
  }
}

Device::~Device() {
  shutdown();
  DeviceState& d = *state_;
  {
    std::lock_guard<std::mutex> lk(d.mu);
    d.stopping = true;
  }
  d.work.notify_all();
  for (std::thread& t : d.threads) t.join();
}

std::shared_ptr<Stream> Device::create_stream() {
  std::shared_ptr<Stream> s(new Stream(std::make_unique<Stream::Impl>(state_)));
  s->impl_->self = s;
  // No word (none left): the stream is held only by deactivate.
  gates::acquire_word(state_.get(), UINT32_MAX, nullptr, nullptr, &s->impl_->st.word);
  std::lock_guard<std::mutex> lk(state_->mu);
  state_->streams.push_back(&s->impl_->st);
  return s;
}

std::shared_ptr<Event> Device::create_event() {
  auto impl = std::make_unique<Event::Impl>();
  impl->dev = state_;
  impl->state = std::make_shared<EventState>();
  return std::shared_ptr<Event>(new Event(std::move(impl)));
}

void Device::shutdown() {
  DeviceState& d = *state_;
  Lock lk(d.mu);
  d.accepting = false;
  for (StreamState* s : d.streams) {
    s->active = true;
    s->ignore_word = true;
    s->interrupt_requested = false;
  }
  settle_all(d);
  d.work.notify_all();
  d.drained.wait(lk, [&] { return d.outstanding == 0; });
}

unsigned Device::units() const { return static_cast<unsigned>(state_->threads.size()); }

const DeviceId& Device::id() const { return state_->id; }

uint32_t Device::ordinal() const { return state_->ordinal; }

xs_result_t Device::set_reserve(unsigned units) {
  DeviceState& d = *state_;
  std::lock_guard<std::mutex> lk(d.mu);
  const auto n = static_cast<unsigned>(d.threads.size());
  if (units >= n) return XS_ERR_INVALID_ARG;
  d.reserve = units;
  for (unsigned i = 0; i < n; ++i) d.units[i]->reserved = i >= n - units;
  wake_all(d);  // a unit that leaves the reserve may take confined work now
  return XS_OK;
}

}  // namespace xsched::host

// The CPU reference device's streams and events: what a hardware queue's
// table calls (core/hw_queue.h) and what tests ask of a stream. The state
// they act on and the scheduling core: host_device_state.h, host_device.cpp.
#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <new>
#include <utility>

#include "core/clock.h"
#include "hal/host/host_device_state.h"

namespace xsched::host {

using device_detail::detach;
using device_detail::is_event;
using device_detail::Lock;
using device_detail::runs_on_this_thread;
using device_detail::settle_from;
using device_detail::wake_for;

// ---- Stream ----------------------------------------------------------------

Stream::Stream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Stream::~Stream() {
  DeviceState& d = *impl_->dev;
  StreamState& s = impl_->st;
  Lock lk(d.mu);
  s.active = true;
  s.ignore_word = true;
  s.interrupt_requested = false;
  settle_from(d, s);
  wake_for(d, s);
  s.changed.wait(lk, [&] { return s.completed == s.launched; });
  detach(d, s);
  lk.unlock();  // lock order: the gate bank's lock is never taken under the device's
  gates::release_word(s.word);
}

HwQueue Stream::hw_queue() { return HwQueue{&hw_queue_ops(), new std::shared_ptr<Stream>(impl_->self.lock())}; }

std::shared_ptr<EventState> Stream::event_state(const Command& cmd, bool* foreign) const {
  const auto* e = static_cast<const Event*>(cmd.op.event.event);
  if (e == nullptr) return nullptr;
  *foreign = e->impl_->dev != impl_->dev;
  // A stream records only its own device's events (as CUDA's streams do);
  // it may wait on any device's.
  if (*foreign && cmd.kind != XS_CMD_EVENT_WAIT) return nullptr;
  return e->impl_->state;
}

xs_result_t Stream::prepare(Command* cmd) {
  if (cmd == nullptr) return XS_ERR_INVALID_ARG;
  if (!is_event(*cmd)) return XS_OK;
  bool foreign = false;
  const std::shared_ptr<EventState> ev = event_state(*cmd, &foreign);
  if (ev == nullptr) return XS_ERR_INVALID_ARG;
  if (foreign) {  // a wait: the other device's latest prepared record, as of now
    cmd->op.event.generation = ev->submitted.load(std::memory_order_acquire);
    return XS_OK;
  }
  std::lock_guard<std::mutex> lk(impl_->dev->mu);
  cmd->op.event.generation = cmd->kind == XS_CMD_EVENT_RECORD ? ev->submitted.fetch_add(1) + 1 : ev->submitted.load();
  return XS_OK;
}

xs_result_t Stream::launch(Command* cmd) {
  if (cmd == nullptr) return XS_ERR_INVALID_ARG;
  switch (cmd->kind) {
    case XS_CMD_KERNEL:
    case XS_CMD_COPY:
    case XS_CMD_MEMSET:
    case XS_CMD_HOST_FUNC:
    case XS_CMD_EVENT_RECORD:
    case XS_CMD_EVENT_WAIT:
      break;
    case XS_CMD_GRAPH:
    case XS_CMD_MEM_OP:
      return XS_ERR_UNSUPPORTED;
    default:
      return XS_ERR_INVALID_ARG;
  }
  std::shared_ptr<EventState> ev;
  bool foreign = false;
  if (is_event(*cmd)) {
    ev = event_state(*cmd, &foreign);
    if (ev == nullptr) return XS_ERR_INVALID_ARG;
  }
  DeviceState& d = *impl_->dev;
  StreamState& s = impl_->st;
  std::lock_guard<std::mutex> lk(d.mu);
  if (!d.accepting) return XS_ERR_STATE;
  try {
    s.fifo.reserve_one();
  } catch (const std::bad_alloc&) {
    return XS_ERR_NO_MEMORY;
  }
  // A record never prepared still marks the point where it was launched.
  if (cmd->kind == XS_CMD_EVENT_RECORD && cmd->op.event.generation == 0) {
    cmd->op.event.generation = ev->submitted.fetch_add(1) + 1;
  }
  cmd->platform_slot = ++s.launched;
  ++d.outstanding;
  const int64_t until = s.confined_until.load(std::memory_order_relaxed);
  const bool confined = cmd->kind == XS_CMD_KERNEL && until != 0 && until > now_ns();  // no clock read when never confined
  s.fifo.push(Slot{cmd, std::move(ev), confined, foreign});
  if (foreign) ++d.foreign_waits;
  if (s.fifo.size() == 1) settle_from(d, s);
  wake_for(d, s);
  return XS_OK;
}

xs_result_t Stream::sync(Command* cmd) {
  StreamState& s = impl_->st;
  Lock lk(impl_->dev->mu);
  uint64_t target = s.launched;
  if (cmd != nullptr) {
    target = cmd->platform_slot;
    if (target == 0 || target > s.launched) return XS_ERR_INVALID_ARG;
  }
  s.changed.wait(lk, [&] { return s.completed >= target; });
  return XS_OK;
}

xs_result_t Stream::deactivate() {
  std::lock_guard<std::mutex> lk(impl_->dev->mu);
  if (impl_->dev->accepting) impl_->st.active = false;
  return XS_OK;
}

xs_result_t Stream::reactivate() {
  DeviceState& d = *impl_->dev;
  StreamState& s = impl_->st;
  std::lock_guard<std::mutex> lk(d.mu);
  s.active = true;
  settle_from(d, s);
  wake_for(d, s);
  return XS_OK;
}

xs_result_t Stream::interrupt() {
  DeviceState& d = *impl_->dev;
  StreamState& s = impl_->st;
  Lock lk(d.mu);
  if (!d.accepting || !s.running || s.fifo.front().cmd->kind != XS_CMD_KERNEL) return XS_OK;
  s.interrupt_requested = true;
  // Called from inside the very command being interrupted (its fn submitted
  // work that preempts its own stream): waiting for the unit to let go would
  // wait for ourselves. The kernel leaves its unit as soon as fn returns.
  if (runs_on_this_thread(s)) return XS_OK;
  s.unit->wake.notify_one();
  const uint64_t releases = s.releases;
  s.changed.wait(lk, [&] { return s.releases != releases; });
  return XS_OK;
}

xs_result_t Stream::restore() {
  std::lock_guard<std::mutex> lk(impl_->dev->mu);
  impl_->st.interrupt_requested = false;
  return XS_OK;
}

gates::Word* Stream::gate_word() { return impl_->st.word.valid() ? &impl_->st.word : nullptr; }

void Stream::confine(int64_t until_ns) { impl_->st.confined_until.store(until_ns, std::memory_order_relaxed); }

uint64_t Stream::launched() const {
  std::lock_guard<std::mutex> lk(impl_->dev->mu);
  return impl_->st.launched;
}

uint64_t Stream::completed() const {
  std::lock_guard<std::mutex> lk(impl_->dev->mu);
  return impl_->st.completed;
}

const DeviceId& Stream::device_id() const { return impl_->dev->id; }

uint32_t Stream::device_ordinal() const { return impl_->dev->ordinal; }

int64_t Stream::busy_ns() const {
  std::lock_guard<std::mutex> lk(impl_->dev->mu);
  return impl_->st.busy_ns;
}

// ---- Event -----------------------------------------------------------------

Event::Event(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Event::~Event() = default;

bool Event::query() const {
  std::lock_guard<std::mutex> lk(impl_->dev->mu);
  return impl_->state->completed.load() >= impl_->state->submitted.load();
}

}  // namespace xsched::host

// The CPU reference device: a real asynchronous device whose hardware queues
// (streams) run commands on CPU threads. It has `units` execution units
// shared by all its streams round-robin, one command of a stream at a time,
// like streams sharing a GPU: a stream's commands run in FIFO order, and
// while one stream's command occupies a unit, another stream's waits.
//
// Kernels (xs_host_kernel_t) keep their unit busy for exactly their duration,
// measured from when they start, so timings seen through it are trustworthy.
// Streams support Levels 1, 2 and 3 of the hardware model.
//
// Events behave like CUDA's: prepare() captures, at submit, which record a
// wait refers to. The user keeps an Event alive until every command naming it
// has been launched (simplest: until they complete); from launch on, the
// device holds the event's state itself. A stream records only its own
// device's events but may wait on any device's, as on GPUs of one process;
// such a wait is seen complete by an idle unit that looks now and then
// (every few tens of microseconds) or by the next unit to pick work.
//
// A command's fn may launch and submit (so may preempt its own stream), but
// must not wait on its own device (sync, shutdown, ~Stream, ~Device): it
// would wait for itself.
#pragma once

#include <cstdint>
#include <memory>

#include "gates/gate_words.h"
#include "core/device_id.h"
#include "core/hw_queue.h"
#include "xsched/xsched.h"

namespace xsched::host {

class Stream;
class Event;
struct DeviceState;  // shared by the device, its streams and events
struct EventState;   // an event's generations, shared by the Event and the commands naming it

class Device {
 public:
  // units == 0 means 1.
  static std::shared_ptr<Device> create(unsigned units);
  ~Device();  // shutdown(), then joins the unit threads
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  std::shared_ptr<Stream> create_stream();
  std::shared_ptr<Event> create_event();

  // Completes all launched work (held streams are released first); later
  // launches fail with XS_ERR_STATE. Idempotent.
  void shutdown();

  unsigned units() const;
  // Its ordinal (the n-th CPU device this process made, from 0) and the
  // identity that follows from it (core/device_id.h).
  uint32_t ordinal() const;
  const DeviceId& id() const;

  // Spatial reservation: kernels launched on a confined stream (Stream::confine)
  // run only on the first units() - units units, leaving the last `units` to
  // the others. XS_ERR_INVALID_ARG unless units < units(). 0: no reserve.
  xs_result_t set_reserve(unsigned units);

 private:
  explicit Device(unsigned units);
  std::shared_ptr<DeviceState> state_;
};

class Stream {
 public:
  ~Stream();  // waits for its launched commands
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // The hardware-queue table over this stream. The table's ctx keeps the
  // stream alive until ops->release(ctx) is called.
  HwQueue hw_queue();

  // The operations of the table (see core/hw_queue.h).
  xs_result_t prepare(Command* cmd);  // captures event generations at submit
  // Never blocks; sets cmd->platform_slot to the stream's 1-based launch index.
  // XS_ERR_STATE after Device::shutdown(); XS_ERR_UNSUPPORTED for graphs and
  // memory operations; XS_ERR_INVALID_ARG for a record of another device's
  // event (a wait may name any device's event).
  xs_result_t launch(Command* cmd);
  // Blocks while the stream is deactivated, as a gated GPU stream would.
  xs_result_t sync(Command* cmd);
  // Once the device is shutting down, deactivate and interrupt do nothing:
  // a draining device holds nothing back.
  xs_result_t deactivate();
  xs_result_t reactivate();
  // Returns once the running kernel has left its unit, its remaining time
  // saved; a running command of another kind is short and just finishes.
  // Called from inside the running kernel itself (its fn), it returns at once
  // and the kernel leaves its unit when fn returns.
  xs_result_t interrupt();
  // The interrupted kernel keeps its remaining time, whatever the order of
  // restore and reactivate; it continues once the stream is active.
  xs_result_t restore();

  // The stream's gate word (gates/gate_words.h), read before each command
  // like deactivate's flag; null when none could be had.
  gates::Word* gate_word();
  // Kernels launched from now until steady-clock time until_ns are confined:
  // the device's reserve of units does not run them. Any thread, any time.
  void confine(int64_t until_ns);

  uint64_t launched() const;   // commands launched so far
  uint64_t completed() const;  // commands completed so far (a prefix of launched)
  int64_t busy_ns() const;     // device time its commands have occupied a unit
  const DeviceId& device_id() const;  // its device's identity
  uint32_t device_ordinal() const;    // and ordinal

 private:
  friend class Device;
  struct Impl;
  explicit Stream(std::unique_ptr<Impl> impl);
  // The state of the event an event command names (*foreign: of another
  // device), or null if it names none this stream may use.
  std::shared_ptr<EventState> event_state(const Command& cmd, bool* foreign) const;
  std::unique_ptr<Impl> impl_;
};

// The hardware-queue table over a Stream (host_hw_queue.cpp).
const HwQueueOps& hw_queue_ops();

class Event {
 public:
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // True when the latest record (as of this call) has completed, or none was made.
  bool query() const;

 private:
  friend class Device;
  friend class Stream;
  struct Impl;
  explicit Event(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace xsched::host

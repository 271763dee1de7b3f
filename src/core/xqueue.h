// XQueue: a preemptible queue over one hardware queue.
//
// Submitted commands are launched progressively: at most `window` commands
// (and, when durations are estimated, at most `window_ns` of device time) are
// in flight on the hardware queue; the rest wait on the host. Suspending stops
// launching, so at Level 1 a suspend waits only for the in-flight window; at
// Level 2 the hardware queue also holds launched commands that have not
// started, and at Level 3 it stops the running one.
//
// Threads: submit/wait/suspend/resume/query may be called from any thread
// at once. While the queue runs and nothing is buffered, submit launches in
// the caller's thread (no hand-off); a per-queue worker thread tracks
// completions and launches what was buffered. Submit never blocks because the
// queue is suspended, unless back-pressure is asked for (XQueueOptions).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "core/command.h"
#include "core/command_pool.h"
#include "core/device_id.h"
#include "core/hw_queue.h"
#include "core/timeline.h"
#include "xsched/xsched.h"

namespace xsched {

class XQueue;

// Told when a queue's readiness or hints may have changed. It reads the new
// state from the queue; it is called without the queue's lock held, possibly
// from several threads, and events may arrive after later changes.
class QueueListener {
 public:
  virtual ~QueueListener() = default;
  virtual void on_queue_changed(XQueue& q) = 0;
};

struct XQueueOptions {
  xs_level_t level = XS_LEVEL_AUTO;  // AUTO: the highest the hardware queue supports
  uint32_t window = 8;               // commands in flight at most (>= 1)
  int64_t window_ns = 0;             // estimated device time in flight at most; 0 = no limit
  xs_hints_t hints{0, 1, 0, 0};
  int32_t device = -1;               // the device's ordinal, for display (-1: unknown)
  DeviceId device_id;                // the device's identity: its scheduling domain (core/device_id.h)
  DeviceName device_name{};          // what the platform calls the device, for display ("" unknown)
  // Back-pressure: a submit that leaves at least this many commands held back
  // in a suspended queue waits (up to backpressure_wait_ns) until the queue
  // runs again or has room, so that a thread whose work is held stops
  // producing more. 0: submit never waits (the default). For threads that
  // submit without holding a lock that urgent threads need (PyTorch releases
  // Python's GIL around its operations).
  uint32_t backpressure = 0;
  int64_t backpressure_wait_ns = 50'000'000;
  // Request-aware readiness: a queue that runs dry before its program has
  // synchronised with it (wait(), wait_all(), device_caught_up()) since its
  // last submit stays ready this long, so the gaps between the commands of
  // one request (a program launching from Python, say) do not hand the
  // device to less urgent queues. 0: ready ends when the queue runs dry.
  int64_t request_grace_ns = 0;
  // Set to true by every launch, under the queue's lock, once launched()
  // counts it (null: none). A watcher of many queues clears it (exchange)
  // and then calls expedite_launched() on them, which reads launched() under
  // each queue's lock: it sees every launch made before the flag was
  // cleared, or the flag is set again. So it looks at the queues only after
  // one of them launched, not after every operation of its own.
  std::atomic<bool>* launch_flag = nullptr;
};

// Who holds a queue suspended; it runs only when nobody does.
enum HoldBy : uint32_t { kHoldUser = 1u, kHoldScheduler = 2u };

class XQueue {
 public:
  // Takes ownership of hw (ops->release is called when the queue is gone,
  // also on failure). Fails with XS_ERR_UNSUPPORTED if the requested level
  // exceeds what hw supports, XS_ERR_INVALID_ARG for bad options.
  static xs_result_t create(HwQueue hw, const XQueueOptions& opts, std::shared_ptr<XQueue>* out);

  // Completes every submitted command (suspended or not), then releases hw.
  ~XQueue();

  // Stops taking commands and releases every hold, so that everything
  // submitted runs to completion even while other threads still hold the
  // queue; later submits fail with XS_ERR_STATE. Idempotent.
  void close();
  XQueue(const XQueue&) = delete;
  XQueue& operator=(const XQueue&) = delete;

  uint64_t id() const { return id_; }
  xs_level_t level() const { return level_; }
  // The hardware queue's platform ("host", "cuda") and device ordinal (-1: unknown).
  const char* platform() const { return hw_.ops->platform; }
  int32_t device() const { return device_; }
  // The device's identity: queues of one device are scheduled together, and only with each other.
  const DeviceId& device_id() const { return device_id_; }
  const char* device_name() const { return device_name_.data(); }
  // The hardware queue, for its platform's questions about it (a sticky
  // native error); only the queue calls its operations.
  const HwQueue& hw() const { return hw_; }

  // Copies cmd (its kind, estimate and operands) into the queue and returns
  // its id (1, 2, ...). When the command can start at once it is launched in
  // the caller's thread; if that launch fails, submit returns the error and
  // the command is dropped (the queue stays usable, as a failed native call
  // would leave it). A command held back is persisted (HwQueueOps::persist)
  // and launched later; if that later launch fails, the error is sticky:
  // submit returns it from then on, and commands still waiting are completed
  // as failed, never launched, since they may depend on the one that failed.
  xs_result_t submit(const Command& cmd, uint64_t* id);

  // Launches every command up to and including `through` now, suspended or
  // not and whatever the window: for callers whose correctness needs those
  // commands on the hardware queue (an event another queue waits for, memory
  // about to be freed). At Level 2 a held queue also runs them, as
  // expedite() does: behind a closed gate enough of them would fill the
  // native queue and block the launch. Returns the sticky error, if any.
  xs_result_t flush(uint64_t through = UINT64_MAX);
  // Launches up to and including the last held-back command for which
  // pred(const Command&) is true (none: nothing). For calls that change state
  // those commands read at launch (a kernel's attributes).
  template <class Pred>
  xs_result_t flush_matching(Pred&& pred) {
    std::lock_guard lk(mu_);
    uint64_t last = 0;
    for (Command* c = pending_.front(); c != nullptr; c = c->next) {
      if (pred(static_cast<const Command&>(*c))) last = c->seq;
    }
    if (last != 0) flush_locked(last);
    return error_;
  }

  // Launches every command up to and including `through`, like flush(), and
  // lets the hardware queue run until they have completed, even while the
  // queue is held: something that cannot wait for the scheduler depends on
  // them (a queue that waits on an event they record, implicit stream
  // ordering). Priority inheritance: the queue runs with its dependant's
  // urgency until then. At Level 1 this is flush(); at Level 2 a held
  // hardware queue is let go, and held again once they completed (commands
  // launched behind them may run on until then). Returns the sticky error.
  xs_result_t expedite(uint64_t through);
  // expedite(launched()) if those are not all complete, launched() read
  // under the queue's lock (XQueueOptions::launch_flag says why).
  xs_result_t expedite_launched();

  // xschedd decided that this queue runs (or not); stored: it stored the
  // decision itself. Where the hardware queue has an external hold (Level 2,
  // a gate word xschedd may close), passes the decision on to it
  // (core/external_hold.h). Returns whether the daemon's store was the
  // decision's effect. Otherwise nothing, and false.
  bool follow_daemon(bool run, bool stored);
  // The hold xschedd may place by itself (null: none); lives as long as the queue.
  const ExternalHold* external_hold() const { return external_; }

  // Commands submitted / launched / known complete so far (launches happen in order).
  uint64_t submitted() const { return submitted_pub_.load(std::memory_order_acquire); }
  uint64_t launched() const { return launched_.load(std::memory_order_acquire); }
  uint64_t completed() const { return completed_pub_.load(std::memory_order_acquire); }
  // The command expedite() runs through at least (0: none yet).
  uint64_t expedited() const { return expedited_pub_.load(std::memory_order_acquire); }
  // True while some command waits on the host (not launched yet).
  bool has_unlaunched() const { return launched() < submitted(); }

  // Waits until command `id` completed; timeout_ns < 0 (or longer than a
  // century) waits forever. It returns as soon as the work completed: the
  // scheduler hears that the queue ran dry from the queue's worker, and the
  // queues it held for this one are released in that thread, a moment later.
  // Waiting for that too would put the release (which launches what the held
  // queues buffered) on the urgent program's path; measured on the CPU
  // device, 9 of 200 waits returned before the release.
  xs_result_t wait(uint64_t id, int64_t timeout_ns);
  xs_result_t wait_all(int64_t timeout_ns);

  // Holds / releases the queue for `by`. With sync, suspend returns once the
  // in-flight window has drained (Level 1), or once the hardware queue holds
  // its launched commands (Levels 2 and 3: at Level 2 the one already running
  // may still be finishing).
  xs_result_t suspend(HoldBy by, bool sync);
  xs_result_t resume(HoldBy by);
  // Whether `by` holds the queue now.
  bool held_by(HoldBy by) const {
    std::lock_guard lk(mu_);
    return (holds_ & by) != 0;
  }

  // The caller saw the hardware queue finish every command up to `through`
  // (a native synchronisation that began after launched() read `through`
  // returned): the worker completes them now, without a sync of its own and
  // without waiting for the burst of launches to settle, so the queue turns
  // idle at once.
  void device_caught_up(uint64_t through);

  // Whether the in-flight window applies. A queue that nothing can preempt
  // gains nothing from it and only pays for it (launches handed to the
  // worker thread, syncs), so the scheduler lifts it for such queues and sets
  // it again as soon as a queue that could preempt this one appears.
  // Commands launched while it is lifted are not preemptible
  // (Command::preemptible): at Level 2 they go without gates.
  void set_window_bounded(bool bounded);

  // Spatial reservation: the commands launched from now on until until_ns
  // (steady clock; 0: from now on none) run on a part of the device that
  // leaves execution units free for more urgent queues, where the hardware
  // queue can (HwQueueOps::confine). Any thread, no lock.
  void confine_until(int64_t until_ns) {
    if (hw_.ops->confine == nullptr) return;
    hw_.ops->confine(hw_.ctx, until_ns);
    if (timeline::enabled()) timeline::record(timeline::Event::kConfine, id_, timeline::Reason::kNone, static_cast<uint64_t>(until_ns));
  }
  bool can_confine() const { return hw_.ops->confine != nullptr; }

  bool ready() const { return ready_.load(std::memory_order_acquire); }
  void query(xs_queue_info_t* info) const;
  // How long, up to `now` (now_ns()), the queue has been held (by anyone) and
  // not held since it was made. Counted at holds and releases, not per command.
  void hold_times(int64_t now, int64_t* held_ns, int64_t* running_ns) const;

  xs_hints_t hints() const;
  void set_hints(const xs_hints_t& hints);
  // Changes hints in place under the queue's lock: concurrent updates of
  // different fields do not undo each other.
  template <class F>
  void update_hints(F&& change) {
    update_hints_quietly(change);
    notify_listener();
  }
  // The same without telling the listener: for the listener itself.
  template <class F>
  void update_hints_quietly(F&& change) {
    std::lock_guard lk(mu_);
    change(hints_);
  }

  // Set before the first submit; the listener must outlive its registration.
  void set_listener(QueueListener* listener) { listener_.store(listener, std::memory_order_release); }

 private:
  XQueue(HwQueue hw, const XQueueOptions& opts, xs_level_t level);

  bool can_launch_locked(const Command& c) const;
  void launch_locked(Command* c);
  void launch_pending_locked();
  void launch_through_locked(uint64_t seq);
  xs_result_t launch_inline_locked(Command* c, bool* wake_worker);
  void commit_submit_locked(Command* c);
  bool track_launched_locked(Command* c);  // true: the worker must hear of it
  uint32_t sync_interval_locked() const;
  void complete_through_locked(uint64_t seq, xs_result_t sync_result);
  void hold_hardware_locked(bool launching = false);
  void record_hold_locked(HoldBy by);  // on the timeline (core/timeline.h), when one is recorded
  void flush_locked(uint64_t through);
  void expedite_locked(uint64_t through);
  // Forces the gate word open (an expedited run, a closing queue) or ends that.
  void run_through_locked(bool on);
  void release_hardware_locked();
  void worker_main();
  bool in_request_grace_locked();
  void notify_listener();
  void wait_for_room();
  xs_result_t wait_until_completed(std::unique_lock<std::mutex>& lk, uint64_t seq, int64_t timeout_ns);

  const uint64_t id_;
  const HwQueue hw_;
  const xs_level_t level_;
  const uint32_t window_;
  const int64_t window_ns_;
  const uint32_t sync_interval_;  // every n-th launched command is a sync point
  const int32_t device_;
  const DeviceId device_id_;
  const DeviceName device_name_;
  const uint32_t backpressure_;
  const int64_t backpressure_wait_ns_;
  const int64_t request_grace_ns_;
  ExternalHold* const external_;  // the hardware queue's, at Level 2 (null: none)
  std::atomic<bool>* const launch_flag_;

  mutable std::mutex mu_;
  std::condition_variable worker_cv_;  // work for the worker
  std::condition_variable done_cv_;    // completions, drains
  std::condition_variable room_cv_;    // a held queue ran again or launched what it held (back-pressure)
  CommandPool pool_;
  CommandFifo pending_;
  CommandFifo in_flight_;
  int64_t in_flight_est_ns_ = 0;
  uint32_t since_sync_point_ = 0;
  bool window_bounded_ = true;
  // The newest launch the worker has seen while letting a burst settle, and
  // when it first saw it: launches do not read the clock (kBurstQuietNs).
  uint64_t quiet_seq_ = 0;
  int64_t quiet_since_ns_ = 0;
  uint32_t waiters_ = 0;     // threads in wait()/wait_all()
  uint64_t caught_up_through_ = 0;  // device_caught_up(): known complete on the device
  uint64_t submitted_ = 0;
  uint64_t completed_ = 0;
  std::atomic<uint64_t> completed_pub_{0};  // completed_, readable without the lock
  uint64_t expedite_through_ = 0;           // expedite(): run through this one whatever the holds
  std::atomic<uint64_t> expedited_pub_{0};  // expedite_through_, readable without the lock
  std::atomic<uint64_t> submitted_pub_{0};  // submitted_, readable without the lock
  std::atomic<uint64_t> launched_{0};       // the last command handed to the hardware queue
  uint64_t suspensions_ = 0;
  uint32_t holds_ = 0;
  const int64_t created_ns_;
  int64_t held_ns_ = 0;        // holds that ended
  int64_t held_since_ns_ = 0;  // while holds_ != 0: when the hold began
  bool hardware_held_ = false;
  bool running_through_ = false;  // the gate is forced open for an expedited run
  bool closing_ = false;
  bool worker_waiting_ = false;
  bool worker_lingers_ = false;  // waiting, and wakes by itself within kBurstQuietNs
  bool synced_since_submit_ = false;  // the program waited for the queue since its last submit
  int64_t dry_since_ns_ = 0;          // when it ran dry while still ready (request grace); 0: not dry
  xs_result_t error_ = XS_OK;
  xs_hints_t hints_;
  std::atomic<bool> ready_{false};
  std::atomic<QueueListener*> listener_{nullptr};
  std::thread worker_;
};

}  // namespace xsched

#include "core/xqueue.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <new>

#include "core/clock.h"
#include "core/enum_values.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "core/timeline.h"

namespace xsched {
namespace {

std::atomic<uint64_t> g_next_queue_id{1};

// Back-pressure stops a thread only in submits to the most urgent queue it
// has submitted to: a thread that also submits more urgent work must never
// wait for a held queue of its own (its urgent work would wait with it).
bool thread_submits_more_urgent_work(int32_t priority) {
  thread_local int32_t most_urgent = std::numeric_limits<int32_t>::min();
  most_urgent = std::max(most_urgent, priority);
  return priority < most_urgent;
}

// Estimates are summed over the window: capping them (at ~13 days) keeps the
// sums far from overflow whatever a caller passes.
constexpr int64_t kMaxEstimateNs = int64_t{1} << 50;
// Timeouts longer than this (~146 years) mean forever; adding them to the
// clock would overflow.
constexpr int64_t kForeverNs = int64_t{1} << 62;
// With no sync point in flight, the worker syncs on everything in flight
// once it has seen no launch for this long: a burst of launches then costs
// one sync per sync interval, not one per command. It looks at the launch
// count when it wakes, rather than launches reading the clock (a tenth of a
// launch's cost in the interposer), so a burst's tail is synced 1 to 2 ms
// after its last launch. A waiter, or a caller that saw the device finish
// (device_caught_up), cuts the wait short, so a queue whose program
// synchronises is known idle at once.
constexpr int64_t kBurstQuietNs = 1'000'000;
// Sync interval without a window: nothing waits for a window to drain, so
// completions are confirmed coarsely (each confirmation costs the worker a
// wake-up, ~10-30 µs of CPU with a blocking CUDA event), and a burst's tail
// when it settles or the program synchronises.
constexpr uint32_t kUnboundedSyncInterval = 256;
constexpr std::size_t kMaxInFlightBehindGate = 512;
// Without a window, commands in flight past which a sync point wakes the
// worker (track_launched_locked): bounds the commands kept, at a driver
// whose launches take far less than kBurstQuietNs / this.
constexpr std::size_t kMaxUnwatchedInFlight = 4 * kUnboundedSyncInterval;

}  // namespace

xs_result_t XQueue::create(HwQueue hw, const XQueueOptions& opts, std::shared_ptr<XQueue>* out) {
  auto release_hw = [&] {
    if (hw.ops != nullptr && hw.ops->release != nullptr) hw.ops->release(hw.ctx);
  };
  const xs_level_t supported = max_level(hw);
  if (out == nullptr || supported == XS_LEVEL_AUTO || opts.window < 1 || opts.window_ns < 0 ||
      opts.backpressure_wait_ns < 0 || !known_level(opts.level) ||
      !valid_hints(opts.hints)) {
    release_hw();
    return XS_ERR_INVALID_ARG;
  }
  if (opts.level > supported) {
    release_hw();
    return XS_ERR_UNSUPPORTED;
  }
  const xs_level_t level = opts.level == XS_LEVEL_AUTO ? supported : opts.level;
  XQueue* raw = new (std::nothrow) XQueue(hw, opts, level);
  if (raw == nullptr) {
    release_hw();
    return XS_ERR_NO_MEMORY;
  }
  // From here the queue owns hw: its destructor releases it.
  std::shared_ptr<XQueue> q;
  try {
    q.reset(raw);  // deletes raw if it throws
    q->worker_ = std::thread([raw] {
      // Named, so that `top -H` tells xsched's threads from the program's.
      pthread_setname_np(pthread_self(), "xsched-queue");
      raw->worker_main();
    });
  } catch (const std::exception&) {
    return XS_ERR_NO_MEMORY;
  }
  *out = std::move(q);
  return XS_OK;
}

XQueue::XQueue(HwQueue hw, const XQueueOptions& opts, xs_level_t level)
    : id_(g_next_queue_id.fetch_add(1)),
      hw_(hw),
      level_(level),
      window_(opts.window),
      window_ns_(opts.window_ns),
      // Syncing on every other half-window keeps the next half launched
      // while the first completes, without a sync per command.
      sync_interval_(std::max<uint32_t>(1, opts.window / 2)),
      device_(opts.device),
      device_id_(opts.device_id),
      device_name_(opts.device_name),
      backpressure_(opts.backpressure),
      backpressure_wait_ns_(opts.backpressure_wait_ns),
      request_grace_ns_(std::max<int64_t>(opts.request_grace_ns, 0)),
      external_(level >= XS_LEVEL_DEACTIVATE && hw.ops->external_hold != nullptr ? hw.ops->external_hold(hw.ctx)
                                                                                  : nullptr),
      launch_flag_(opts.launch_flag),
      created_ns_(now_ns()),
      hints_(opts.hints) {
  timeline::init_from_config();
  timeline::name_queue(id_, hw.ops->platform, device_, device_name_.data());
}

XQueue::~XQueue() {
  close();
  if (worker_.joinable()) worker_.join();
  if (hw_.ops->release != nullptr) hw_.ops->release(hw_.ctx);
}

void XQueue::close() {
  std::lock_guard lk(mu_);
  if (closing_) return;
  closing_ = true;
  if (holds_ != 0) held_ns_ += now_ns() - held_since_ns_;
  holds_ = 0;
  release_hardware_locked();
  // Nothing holds a closing queue back, xschedd included: its end waits for its work.
  run_through_locked(true);
  launch_pending_locked();
  worker_cv_.notify_one();
  done_cv_.notify_all();
  room_cv_.notify_all();
}

bool XQueue::can_launch_locked(const Command& c) const {
  if (holds_ != 0 && !closing_) return false;
  // Behind a gate xschedd closed before this process applied the hold, at
  // most so many: enough launches behind a closed gate block in the driver
  // (at 1021 on the H100), under this queue's lock. Those in flight complete
  // once the gate opens, and the worker then launches the rest.
  if (external_ != nullptr && in_flight_.size() >= kMaxInFlightBehindGate && !closing_ && external_->held()) {
    return false;
  }
  if (!window_bounded_) return true;
  if (in_flight_.size() >= window_) return false;
  if (window_ns_ > 0 && !in_flight_.empty() && in_flight_est_ns_ + c.est_ns > window_ns_) return false;
  return true;
}

uint32_t XQueue::sync_interval_locked() const { return window_bounded_ ? sync_interval_ : kUnboundedSyncInterval; }

void XQueue::device_caught_up(uint64_t through) {
  // Outside the lock: the hardware queue may wait (microseconds) for a record of its own.
  if (hw_.ops->caught_up != nullptr) hw_.ops->caught_up(hw_.ctx, through);
  std::lock_guard lk(mu_);
  caught_up_through_ = std::max(caught_up_through_, std::min(through, launched_.load(std::memory_order_relaxed)));
  if (through >= submitted_) synced_since_submit_ = true;
  if ((!in_flight_.empty() || dry_since_ns_ != 0) && worker_waiting_) worker_cv_.notify_one();
}

void XQueue::set_window_bounded(bool bounded) {
  std::lock_guard lk(mu_);
  if (window_bounded_ == bounded) return;
  window_bounded_ = bounded;
  if (!bounded) launch_pending_locked();
  // The window needs the sync points in flight synced now, not when the worker next looks.
  if (bounded && worker_waiting_) worker_cv_.notify_one();
}

void XQueue::launch_locked(Command* c) {
  // Launched while held: behind the held hardware queue (unless expedited).
  if (holds_ != 0 && !closing_) hold_hardware_locked(/*launching=*/true);
  c->preemptible = window_bounded_;
  if (++since_sync_point_ >= sync_interval_locked()) {
    c->sync_point = true;
    since_sync_point_ = 0;
  }
  // After a failure, later commands may depend on the failed one: they
  // complete as failed instead of running.
  const xs_result_t r = error_ == XS_OK ? hw_.ops->launch(hw_.ctx, c) : error_;
  if (timeline::enabled()) timeline::record(timeline::Event::kLaunch, id_, timeline::Reason::kNone, c->seq, c->kind);
  if (error_ != XS_OK && r == error_ && hw_.ops->discard != nullptr) hw_.ops->discard(hw_.ctx, c);
  if (r != XS_OK && error_ == XS_OK) {
    error_ = r;
    log(LogLevel::kWarn, "queue %llu: launch of command %llu failed: %s", static_cast<unsigned long long>(id_),
        static_cast<unsigned long long>(c->seq), xs_result_string(r));
  }
  // A command that never reached the device completes (as failed) with the
  // next sync, so that completions stay in order.
  if (r != XS_OK) c->sync_point = false;
  if (track_launched_locked(c)) worker_cv_.notify_one();
}

void XQueue::launch_pending_locked() {
  while (!pending_.empty() && can_launch_locked(*pending_.front())) launch_locked(pending_.pop());
}

void XQueue::launch_through_locked(uint64_t seq) {
  const std::size_t before = pending_.size();
  while (!pending_.empty() && pending_.front()->seq <= seq) launch_locked(pending_.pop());
  // Held commands left the host (a flush, an expedite): a submitter held
  // back by back-pressure may have room now.
  if (backpressure_ != 0 && pending_.size() < before) room_cv_.notify_all();
}

xs_result_t XQueue::flush(uint64_t through) {
  std::lock_guard lk(mu_);
  flush_locked(through);
  return error_;
}

void XQueue::flush_locked(uint64_t through) {
  // Launched behind a held hardware queue, commands would stay in the native
  // queue; enough of them fill it, and the launch then blocks while holding
  // this queue's lock, which the release needs. So a held queue at Level 2
  // runs what it flushes, whether it is held here or by xschedd's store.
  const bool held = holds_ != 0 || (external_ != nullptr && external_->held());
  if (level_ >= XS_LEVEL_DEACTIVATE && held && !closing_) {
    expedite_locked(through);
  } else {
    launch_through_locked(through);
  }
}

void XQueue::run_through_locked(bool on) {
  if (external_ == nullptr || running_through_ == on) return;
  running_through_ = on;
  external_->run_through(on);
}

bool XQueue::follow_daemon(bool run, bool stored) {
  return external_ != nullptr && external_->follow(run, stored);
}

xs_result_t XQueue::expedite(uint64_t through) {
  std::lock_guard lk(mu_);
  expedite_locked(through);
  return error_;
}

xs_result_t XQueue::expedite_launched() {
  std::lock_guard lk(mu_);
  const uint64_t launched = launched_.load(std::memory_order_relaxed);
  if (completed_ < launched && expedite_through_ < launched) expedite_locked(launched);
  return error_;
}

void XQueue::expedite_locked(uint64_t through) {
  through = std::min(through, submitted_);
  const bool more = completed_ < through && expedite_through_ < through;
  if (more) {
    // Let the hardware queue go first: launched behind a closed gate, enough
    // commands would fill the native queue and block this launch.
    expedite_through_ = through;
    expedited_pub_.store(through, std::memory_order_release);
    release_hardware_locked();
    // xschedd may hold the gate too, and knows nothing of this dependency.
    run_through_locked(true);
  }
  launch_through_locked(through);
  // The worker confirms completion at once instead of letting a burst settle.
  if (more && worker_waiting_) worker_cv_.notify_one();
}

xs_result_t XQueue::submit(const Command& cmd, uint64_t* id) {
  bool became_ready = false;
  bool wake_worker = false;
  bool room_may_be_short = false;  // commands wait on the host: back-pressure takes a closer look
  int32_t priority = 0;
  {
    std::lock_guard lk(mu_);
    priority = hints_.priority;
    if (closing_) return XS_ERR_STATE;
    if (error_ != XS_OK) return error_;
    Command* c = pool_.acquire(cmd);
    if (c == nullptr) return XS_ERR_NO_MEMORY;
    c->est_ns = std::clamp<int64_t>(cmd.est_ns, 0, kMaxEstimateNs);
    if (hw_.ops->prepare != nullptr) {
      const xs_result_t r = hw_.ops->prepare(hw_.ctx, c);
      if (r != XS_OK) {
        pool_.release(c);
        return r;
      }
    }
    c->seq = submitted_ + 1;
    if (pending_.empty() && can_launch_locked(*c)) {
      // Launched in the caller's thread: a failure is the caller's to see,
      // as the native call's would be, and nothing later depends on it.
      const xs_result_t r = launch_inline_locked(c, &wake_worker);
      if (r != XS_OK) return r;
    } else {
      if (hw_.ops->persist != nullptr) {
        const xs_result_t r = hw_.ops->persist(hw_.ctx, c);
        if (r != XS_OK) {
          pool_.release(c);
          return r;
        }
      }
      commit_submit_locked(c);
      pending_.push(c);
      wake_worker = worker_waiting_;
      room_may_be_short = pending_.size() >= backpressure_;
    }
    if (id != nullptr) *id = c->seq;
    synced_since_submit_ = false;
    dry_since_ns_ = 0;
    became_ready = !ready_.load(std::memory_order_relaxed);
    ready_.store(true, std::memory_order_release);
  }
  // Woken while this thread held the lock, the worker would only block on it.
  if (wake_worker) worker_cv_.notify_one();
  // The launch happened first: a high-priority queue never waits for the
  // scheduler to react to it.
  if (became_ready) notify_listener();
  // Only a submit that left commands on the host takes the lock again to
  // wait: a launched one cannot have filled the queue.
  if (backpressure_ != 0 && !thread_submits_more_urgent_work(priority) && room_may_be_short) wait_for_room();
  return XS_OK;
}

void XQueue::wait_for_room() {
  std::unique_lock lk(mu_);
  const auto held_full = [&] { return holds_ != 0 && !closing_ && pending_.size() >= backpressure_; };
  if (!held_full()) return;
  // Bounded: a thread that waits here while holding something the queue's
  // release depends on (a lock an urgent thread needs) delays it, never
  // deadlocks it.
  timeline::record(timeline::Event::kWaitBegin, id_);
  room_cv_.wait_for(lk, std::chrono::nanoseconds(backpressure_wait_ns_), [&] { return !held_full(); });
  timeline::record(timeline::Event::kWaitEnd, id_);
}

void XQueue::commit_submit_locked(Command* c) {
  submitted_ = c->seq;
  submitted_pub_.store(submitted_, std::memory_order_release);
}

xs_result_t XQueue::launch_inline_locked(Command* c, bool* wake_worker) {
  c->preemptible = window_bounded_;
  c->sync_point = since_sync_point_ + 1 >= sync_interval_locked();
  const xs_result_t r = hw_.ops->launch(hw_.ctx, c);
  if (r != XS_OK) {
    pool_.release(c);
    return r;
  }
  if (timeline::enabled()) timeline::record(timeline::Event::kLaunch, id_, timeline::Reason::kNone, c->seq, c->kind);
  since_sync_point_ = c->sync_point ? 0 : since_sync_point_ + 1;
  commit_submit_locked(c);
  *wake_worker = track_launched_locked(c);
  return XS_OK;
}

bool XQueue::track_launched_locked(Command* c) {
  launched_.store(c->seq, std::memory_order_release);
  // A plain load first: set, the flag's cache line stays shared with its watcher.
  if (launch_flag_ != nullptr && !launch_flag_->load(std::memory_order_relaxed)) {
    launch_flag_->store(true, std::memory_order_release);
  }
  // The worker needs to hear of a launch only when it has nothing in flight
  // to watch yet, or a new sync point whose completion frees room in the
  // window. Without a window nothing waits for that: the worker, letting the
  // burst settle meanwhile, finds the sync point when it next looks (within
  // kBurstQuietNs), so a burst costs it one wake-up per look, not one more
  // per sync point; unless so much is in flight that the commands kept
  // would grow large. Anyone who waits for completions wakes it.
  // Nor, with nothing in flight, when it wakes by itself within
  // kBurstQuietNs (the request grace): a burst that resumes after the
  // device caught up costs no wake-up of its own.
  const bool room = window_bounded_ || in_flight_.size() >= kMaxUnwatchedInFlight;
  const bool wake = worker_waiting_ && ((in_flight_.empty() && !worker_lingers_) || (c->sync_point && room));
  in_flight_.push(c);
  in_flight_est_ns_ += c->est_ns;
  return wake;
}

void XQueue::complete_through_locked(uint64_t seq, xs_result_t sync_result) {
  if (sync_result != XS_OK && error_ == XS_OK) error_ = sync_result;
  while (!in_flight_.empty() && in_flight_.front()->seq <= seq) {
    Command* c = in_flight_.pop();
    in_flight_est_ns_ -= c->est_ns;
    pool_.release(c);
  }
  completed_ = std::max(completed_, seq);
  completed_pub_.store(completed_, std::memory_order_release);
  if (completed_ >= expedite_through_ && !closing_) run_through_locked(false);
  if (holds_ != 0 && !closing_) {
    if (in_flight_.empty()) {
      release_hardware_locked();  // nothing is behind it: a held gate would only block a hardware channel
    } else if (completed_ >= expedite_through_) {
      hold_hardware_locked();  // an expedited run is over: a queue still held stops again
    }
  }
  done_cv_.notify_all();
}

void XQueue::worker_main() {
  std::unique_lock lk(mu_);
  for (;;) {
    launch_pending_locked();
    if (in_flight_.empty()) {
      if (pending_.empty()) {
        if (ready_.load(std::memory_order_relaxed) && in_request_grace_locked()) {
          const int64_t until = dry_since_ns_ + request_grace_ns_;
          worker_waiting_ = true;
          worker_lingers_ = until - now_ns() <= kBurstQuietNs;
          worker_cv_.wait_until(lk, to_time_point(until));
          worker_waiting_ = worker_lingers_ = false;
          continue;
        }
        if (ready_.load(std::memory_order_relaxed)) {
          dry_since_ns_ = 0;
          ready_.store(false, std::memory_order_release);
          done_cv_.notify_all();
          lk.unlock();
          notify_listener();
          lk.lock();
          continue;
        }
        if (closing_) return;
      }
      worker_waiting_ = true;
      worker_cv_.wait(lk);
      worker_waiting_ = false;
      continue;
    }
    // Sync on the oldest sync point; if none is in flight, on everything in
    // flight, once the burst of launches has ended or someone waits.
    Command* target = nullptr;
    for (Command* c = in_flight_.front(); c != nullptr; c = c->next) {
      if (c->sync_point) {
        target = c;
        break;
      }
    }
    if (target == nullptr && waiters_ == 0 && !closing_ && completed_ >= expedite_through_ &&
        caught_up_through_ < in_flight_.back()->seq) {
      const int64_t now = now_ns();
      if (in_flight_.back()->seq != quiet_seq_) {  // launched since the last look: the burst went on until about now
        quiet_seq_ = in_flight_.back()->seq;
        quiet_since_ns_ = now;
      }
      const int64_t quiet_left = quiet_since_ns_ + kBurstQuietNs - now;
      if (quiet_left > 0) {
        worker_waiting_ = true;
        worker_cv_.wait_for(lk, std::chrono::nanoseconds(quiet_left));
        worker_waiting_ = false;
        continue;
      }
    }
    const uint64_t through = target != nullptr ? target->seq : in_flight_.back()->seq;
    if (target == nullptr && caught_up_through_ >= through) {
      // The caller's own synchronisation saw all of it complete: confirming
      // it needs no sync (which would put an event on the caller's stream).
      complete_through_locked(through, XS_OK);
      continue;
    }
    lk.unlock();
    const xs_result_t r = hw_.ops->sync(hw_.ctx, target);
    lk.lock();
    complete_through_locked(through, r);
  }
}

// Ran dry before its program synchronised with it since the last submit:
// the program is between two commands of one request, the queue stays
// ready for the grace (XQueueOptions::request_grace_ns).
bool XQueue::in_request_grace_locked() {
  if (request_grace_ns_ == 0 || synced_since_submit_ || closing_) return false;
  const int64_t now = now_ns();
  if (dry_since_ns_ == 0) dry_since_ns_ = now;
  return now < dry_since_ns_ + request_grace_ns_;
}

void XQueue::notify_listener() {
  if (QueueListener* l = listener_.load(std::memory_order_acquire)) l->on_queue_changed(*this);
}

xs_result_t XQueue::wait_until_completed(std::unique_lock<std::mutex>& lk, uint64_t seq, int64_t timeout_ns) {
  auto done = [&] { return completed_ >= seq; };
  if (seq >= submitted_) {
    synced_since_submit_ = true;  // the program waits for all of it: its request is over
    if (dry_since_ns_ != 0 && worker_waiting_) worker_cv_.notify_one();
  }
  if (done()) return error_;
  // The worker may be letting a burst settle before it syncs: not with a waiter.
  ++waiters_;
  if (worker_waiting_) worker_cv_.notify_one();
  struct Leave {
    uint32_t& n;
    ~Leave() { --n; }
  } leave{waiters_};
  if (timeout_ns < 0 || timeout_ns >= kForeverNs) {
    done_cv_.wait(lk, done);
  } else if (!done_cv_.wait_for(lk, std::chrono::nanoseconds(timeout_ns), done)) {
    return XS_ERR_TIMEOUT;
  }
  return error_;
}

xs_result_t XQueue::wait(uint64_t id, int64_t timeout_ns) {
  std::unique_lock lk(mu_);
  if (id == 0 || id > submitted_) return XS_ERR_INVALID_ARG;
  return wait_until_completed(lk, id, timeout_ns);
}

xs_result_t XQueue::wait_all(int64_t timeout_ns) {
  std::unique_lock lk(mu_);
  return wait_until_completed(lk, submitted_, timeout_ns);
}

}  // namespace xsched

// A hardware queue driven by hand from tests: launches are recorded, and
// commands complete only when the test says so. It makes window and
// suspension behaviour observable without timing assumptions.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "core/hw_queue.h"

namespace xsched::testing {

class ManualHwQueue {
 public:
  // Level: 1, 2 or 3 (which optional operations the table has).
  explicit ManualHwQueue(int level = 1) : level_(level) {}

  HwQueue hw_queue() {
    static const HwQueueOps l1{.platform = "manual", .prepare = nullptr, .launch = &launch_op, .persist = &persist_op,
                               .discard = nullptr, .sync = &sync_op, .caught_up = nullptr, .deactivate = nullptr, .reactivate = nullptr, .external_hold = nullptr, .interrupt = nullptr,
                               .restore = nullptr, .confine = &confine_op, .release = &release_op};
    static const HwQueueOps l2{.platform = "manual", .prepare = nullptr, .launch = &launch_op, .persist = &persist_op,
                               .discard = nullptr, .sync = &sync_op, .caught_up = nullptr, .deactivate = &deactivate_op, .reactivate = &reactivate_op, .external_hold = nullptr,
                               .interrupt = nullptr, .restore = nullptr, .confine = &confine_op, .release = &release_op};
    static const HwQueueOps l3{.platform = "manual", .prepare = nullptr, .launch = &launch_op, .persist = &persist_op,
                               .discard = nullptr, .sync = &sync_op, .caught_up = nullptr, .deactivate = &deactivate_op, .reactivate = &reactivate_op, .external_hold = nullptr,
                               .interrupt = &interrupt_op, .restore = &restore_op, .confine = &confine_op, .release = &release_op};
    return HwQueue{level_ == 1 ? &l1 : level_ == 2 ? &l2 : &l3, this};
  }

  // Completes the oldest n launched commands (fewer if fewer are launched).
  void complete(uint64_t n) {
    std::lock_guard lk(mu_);
    completed_ = std::min<uint64_t>(launched_.size(), completed_ + n);
    cv_.notify_all();
  }
  void complete_all() { complete(UINT64_MAX / 2); }

  // Makes the next launch fail with r.
  void fail_next_launch(xs_result_t r) {
    std::lock_guard lk(mu_);
    fail_next_ = r;
  }

  uint64_t launched() const {
    std::lock_guard lk(mu_);
    return launched_.size();
  }
  // Commands persisted (held back at submit), by id.
  std::vector<uint64_t> persisted_seqs() const {
    std::lock_guard lk(mu_);
    return persisted_;
  }
  std::vector<uint64_t> launched_seqs() const {
    std::lock_guard lk(mu_);
    return launched_;
  }
  uint64_t completed() const {
    std::lock_guard lk(mu_);
    return completed_;
  }
  bool deactivated() const {
    std::lock_guard lk(mu_);
    return deactivated_;
  }
  int interrupts() const {
    std::lock_guard lk(mu_);
    return interrupts_;
  }
  // The last HwQueueOps::confine call's until_ns (0: never called or none).
  int64_t confined_until() const { return confined_until_.load(); }
  bool released() const {
    std::lock_guard lk(mu_);
    return released_;
  }
  // Waits until at least n commands are launched; false after 5 s.
  bool wait_launched(uint64_t n) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(5), [&] { return launched_.size() >= n; });
  }

 private:
  static ManualHwQueue* self(void* ctx) { return static_cast<ManualHwQueue*>(ctx); }
  static xs_result_t launch_op(void* ctx, Command* c) {
    ManualHwQueue* q = self(ctx);
    std::lock_guard lk(q->mu_);
    if (q->fail_next_ != XS_OK) {
      const xs_result_t r = q->fail_next_;
      q->fail_next_ = XS_OK;
      return r;
    }
    q->launched_.push_back(c->seq);
    c->platform_slot = q->launched_.size();
    q->cv_.notify_all();
    return XS_OK;
  }
  static xs_result_t persist_op(void* ctx, Command* c) {
    std::lock_guard lk(self(ctx)->mu_);
    self(ctx)->persisted_.push_back(c->seq);
    return XS_OK;
  }
  static xs_result_t sync_op(void* ctx, Command* c) {
    ManualHwQueue* q = self(ctx);
    std::unique_lock lk(q->mu_);
    const uint64_t target = c != nullptr ? c->platform_slot : q->launched_.size();
    q->cv_.wait(lk, [&] { return q->completed_ >= target; });
    return XS_OK;
  }
  static xs_result_t deactivate_op(void* ctx) { return self(ctx)->set_deactivated(true); }
  static xs_result_t reactivate_op(void* ctx) { return self(ctx)->set_deactivated(false); }
  static xs_result_t interrupt_op(void* ctx) {
    std::lock_guard lk(self(ctx)->mu_);
    ++self(ctx)->interrupts_;
    return XS_OK;
  }
  static xs_result_t restore_op(void*) { return XS_OK; }
  static void confine_op(void* ctx, int64_t until_ns) { self(ctx)->confined_until_.store(until_ns); }
  static void release_op(void* ctx) {
    std::lock_guard lk(self(ctx)->mu_);
    self(ctx)->released_ = true;
  }
  xs_result_t set_deactivated(bool d) {
    std::lock_guard lk(mu_);
    deactivated_ = d;
    return XS_OK;
  }

  const int level_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint64_t> launched_;
  std::vector<uint64_t> persisted_;
  uint64_t completed_ = 0;
  bool deactivated_ = false;
  int interrupts_ = 0;
  bool released_ = false;
  xs_result_t fail_next_ = XS_OK;
  std::atomic<int64_t> confined_until_{0};
};

}  // namespace xsched::testing

// The in-process scheduler ("app-managed", the default): an Engine fed by the
// process's XQueues. Queue changes are decided at once in the thread that
// caused them (a high-priority submit holds the low queues before it
// returns); a timer thread serves policies that decide on time (bandwidth).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/xqueue.h"
#include "sched/engine.h"

namespace xsched {

class LocalScheduler final : public QueueListener, private Executor {
 public:
  LocalScheduler(xs_policy_t policy, int64_t default_timeslice_ns);
  ~LocalScheduler() override;
  LocalScheduler(const LocalScheduler&) = delete;
  LocalScheduler& operator=(const LocalScheduler&) = delete;

  // The queue must be removed before it is destroyed.
  void add(XQueue& q);
  void remove(XQueue& q);

  xs_result_t set_policy(xs_policy_t policy);
  xs_policy_t policy() const;

  void on_queue_changed(XQueue& q) override;

 private:
  void suspend(uint64_t id) override;
  void resume(uint64_t id) override;
  void schedule_timer_locked(int64_t deadline_ns);
  void update_windows_locked();
  void timer_main();

  const int64_t default_timeslice_ns_;
  mutable std::mutex mu_;
  std::condition_variable timer_cv_;
  Engine engine_;
  std::unordered_map<uint64_t, XQueue*> queues_;
  std::unordered_map<uint64_t, int32_t> priorities_;  // as last seen, to notice changes
  std::unordered_set<uint64_t> used_;                 // queues that have had work at least once
  int64_t deadline_ns_ = 0;  // 0 = no timer armed
  bool stopping_ = false;
  std::thread timer_;
};

// The process's scheduler, configured from the environment on first use. It
// lives until the process exits.
LocalScheduler& process_scheduler();

}  // namespace xsched

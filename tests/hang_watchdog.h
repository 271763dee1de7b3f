// Turns a hang into a failure: if the scope that holds a HangWatchdog has not
// ended within its limit, the test process prints what hung and exits with
// status 1, instead of leaving a run stuck until an outer timeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace xsched::testing {

class HangWatchdog {
 public:
  HangWatchdog(std::string what, std::chrono::milliseconds limit) : what_(std::move(what)) {
    thread_ = std::thread([this, limit] {
      std::unique_lock lk(mu_);
      if (cv_.wait_for(lk, limit, [&] { return done_; })) return;
      std::fprintf(stderr, "HANG: %s did not finish within %lld ms\n", what_.c_str(),
                   static_cast<long long>(limit.count()));
      std::fflush(stderr);
      std::_Exit(1);
    });
  }
  ~HangWatchdog() {
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  HangWatchdog(const HangWatchdog&) = delete;
  HangWatchdog& operator=(const HangWatchdog&) = delete;

 private:
  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace xsched::testing

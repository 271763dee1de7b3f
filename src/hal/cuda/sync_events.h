// The events a CUDA hardware queue records behind its sync points, reused:
// launch takes one, sync gives it back (from the worker thread, while the
// queue launches), release destroys them all. Returning one never allocates.
#pragma once

#include <mutex>
#include <new>
#include <vector>

#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

class SyncEvents {
 public:
  explicit SyncEvents(const Driver& d) : d_(d) {}
  SyncEvents(const SyncEvents&) = delete;
  SyncEvents& operator=(const SyncEvents&) = delete;

  // A free event, or a new one made with flags; nullptr when the driver or
  // host memory refused one.
  CUevent take(unsigned flags) {
    std::lock_guard lk(mu_);
    if (!free_.empty()) {
      CUevent e = free_.back();
      free_.pop_back();
      return e;
    }
    CUevent e = nullptr;
    if (d_.cuEventCreate(&e, flags) != CUDA_SUCCESS) return nullptr;
    try {
      all_.push_back(e);
      free_.reserve(all_.size());  // so that give_back never allocates
    } catch (const std::bad_alloc&) {
      d_.cuEventDestroy_v2(e);
      return nullptr;
    }
    return e;
  }

  void give_back(CUevent e) {
    std::lock_guard lk(mu_);
    free_.push_back(e);
  }

  // Every event ever made (in the queue's context): once, at release.
  void destroy() {
    for (CUevent e : all_) d_.cuEventDestroy_v2(e);
    all_.clear();
    free_.clear();
  }

 private:
  const Driver& d_;
  std::mutex mu_;
  std::vector<CUevent> free_;
  std::vector<CUevent> all_;
};

}  // namespace xsched::cuda

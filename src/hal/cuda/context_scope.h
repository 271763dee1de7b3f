// Makes a context current for calls made outside the application's own
// (persisted calls' launches, gate pages, kernel loading), and puts the thread's
// previous one back after. A thread with none (our worker threads) keeps it:
// the next call finds it already current.
#pragma once

#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

class ContextScope {
 public:
  ContextScope(const Driver& d, CUcontext ctx) : d_(d) {
    if (d_.cuCtxGetCurrent(&prev_) != CUDA_SUCCESS) prev_ = nullptr;
    switched_ = prev_ != ctx && d_.cuCtxSetCurrent(ctx) == CUDA_SUCCESS;
  }
  ~ContextScope() {
    if (switched_ && prev_ != nullptr) d_.cuCtxSetCurrent(prev_);
  }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  const Driver& d_;
  CUcontext prev_ = nullptr;
  bool switched_ = false;
};

}  // namespace xsched::cuda

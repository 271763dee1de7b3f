#include "hal/cuda/confinement.h"

#include <cstdint>
#include <limits>

#include "core/clock.h"
#include "core/log.h"
#include "hal/cuda/context_scope.h"
#include "hal/cuda/op_table.h"
#include "hal/cuda/partition.h"

namespace xsched::cuda {

bool Confinement::ready_to_confine() {
  const int64_t until = until_ns_.load(std::memory_order_relaxed);
  if (until == 0 || failed_) return false;
  if (until != std::numeric_limits<int64_t>::max() && now_ns() >= until) return false;
  if (confined_ != nullptr) return true;
  const CUresult r = open();
  if (r == CUDA_SUCCESS) return true;
  failed_ = true;
  if (r != CUDA_ERROR_NOT_SUPPORTED) {  // no partition: partition_for said why, once per device
    char buf[32];
    log(LogLevel::kWarn, "stream %p: cannot confine its kernels (%s): they use the whole device",
        static_cast<void*>(stream_), d_.error_name(r, buf));
  }
  return false;
}

// Our stream in the partition, at the application stream's priority, and the
// two events; made at the first confined launch.
CUresult Confinement::open() {
  partition_ = partition_for(d_, ctx_, reserve_sms_);
  if (partition_ == nullptr) return CUDA_ERROR_NOT_SUPPORTED;
  ContextScope scope(d_, ctx_);
  int priority = 0;
  if (d_.cuStreamGetPriority(stream_, &priority) != CUDA_SUCCESS) priority = 0;
  CUresult r = d_.cuEventCreate(&fork_, CU_EVENT_DISABLE_TIMING);
  if (r == CUDA_SUCCESS) r = d_.cuEventCreate(&join_, CU_EVENT_DISABLE_TIMING);
  if (r == CUDA_SUCCESS) r = d_.cuGreenCtxStreamCreate(&confined_, partition_->green, CU_STREAM_NON_BLOCKING, priority);
  if (r != CUDA_SUCCESS) {
    confined_ = nullptr;
    release();
  }
  return r;
}

bool Confinement::try_issue_confined(const Call& c, CUresult* r) {
  if (!ready_to_confine()) return false;
  // Before: ours waits for everything the application's stream had.
  CUresult o = d_.cuEventRecord(fork_, stream_);
  if (o == CUDA_SUCCESS) o = d_.cuStreamWaitEvent(confined_, fork_, 0);
  if (o != CUDA_SUCCESS) return false;  // nothing confined yet: the stream takes it, in order
  const OpRow& row = op_row(c.op);
  const CUresult launched = row.issue(d_, c, confined_);
  if (launched != CUDA_SUCCESS) {
    // A kernel the partition cannot take (a cooperative grid sized for the
    // whole device, say): it runs on the whole device instead.
    if (!refused_said_) {
      refused_said_ = true;
      char buf[32];
      log(LogLevel::kInfo, "stream %p: the partition refused a %s (%s): such launches use the whole device",
          static_cast<void*>(stream_), row.name, d_.error_name(launched, buf));
    }
    return false;
  }
  launches_.fetch_add(1, std::memory_order_relaxed);
  // After: the application's stream waits for the kernel.
  o = d_.cuEventRecord(join_, confined_);
  if (o == CUDA_SUCCESS) o = d_.cuStreamWaitEvent(stream_, join_, 0);
  if (o != CUDA_SUCCESS) {
    // The stream cannot be made to wait on the device: wait on the host, so
    // that nothing after the kernel overtakes it, and confine no more.
    failed_ = true;
    char buf[32];
    log(LogLevel::kWarn, "stream %p: cannot order a confined kernel (%s): waited for it; kernels use the whole device",
        static_cast<void*>(stream_), d_.error_name(o, buf));
    const CUresult w = d_.cuStreamSynchronize(confined_);
    *r = w;
    return true;
  }
  *r = CUDA_SUCCESS;
  return true;
}

void Confinement::release() {
  ContextScope scope(d_, ctx_);
  if (confined_ != nullptr) d_.cuStreamDestroy_v2(confined_);
  if (fork_ != nullptr) d_.cuEventDestroy_v2(fork_);
  if (join_ != nullptr) d_.cuEventDestroy_v2(join_);
  confined_ = nullptr;
  fork_ = nullptr;
  join_ = nullptr;
}

}  // namespace xsched::cuda

#include "hal/cuda/persist_space.h"

#include <new>

#include "hal/cuda/context_scope.h"

namespace xsched::cuda {

CUevent PersistSpace::take_snapshot_event() {
  if (!free_snapshots_.empty()) {
    CUevent e = free_snapshots_.back();
    free_snapshots_.pop_back();
    return e;
  }
  CUevent e = nullptr;
  if (d.cuEventCreate(&e, CU_EVENT_DISABLE_TIMING) != CUDA_SUCCESS) return nullptr;
  return e;
}

CUresult PersistSpace::snapshot(CUevent e, CUevent* out) {
  ContextScope scope(d, ctx);
  if (companion_ == nullptr) {
    const CUresult r = d.cuStreamCreate(&companion_, CU_STREAM_NON_BLOCKING);
    if (r != CUDA_SUCCESS) return r;
  }
  CUevent snapshot = take_snapshot_event();
  if (snapshot == nullptr) return CUDA_ERROR_OUT_OF_MEMORY;
  CUresult r = d.cuStreamWaitEvent(companion_, e, 0);
  if (r == CUDA_SUCCESS) r = d.cuEventRecord(snapshot, companion_);
  if (r != CUDA_SUCCESS) {
    give_back_snapshot(snapshot);
    return r;
  }
  *out = snapshot;
  return CUDA_SUCCESS;
}

void PersistSpace::give_back_snapshot(CUevent snapshot) {
  try {
    free_snapshots_.push_back(snapshot);
  } catch (const std::bad_alloc&) {
    d.cuEventDestroy_v2(snapshot);  // not kept: the next snapshot makes a new one
  }
}

void PersistSpace::destroy() {
  ContextScope scope(d, ctx);
  for (CUevent e : free_snapshots_) d.cuEventDestroy_v2(e);
  free_snapshots_.clear();
  if (companion_ != nullptr) d.cuStreamDestroy_v2(companion_);
  companion_ = nullptr;
}

}  // namespace xsched::cuda

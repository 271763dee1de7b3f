#include "hal/cuda/partition.h"

#include <mutex>

#include "core/log.h"
#include "hal/cuda/context_scope.h"

namespace xsched::cuda {
namespace {

constexpr int kMaxDevices = 64;

struct Slot {
  bool tried = false;
  bool made = false;
  Partition p;
};

std::mutex g_mu;
Slot g_slots[kMaxDevices];

bool green_api(const Driver& d) {
  return d.cuDeviceGetDevResource != nullptr && d.cuDevSmResourceSplitByCount != nullptr &&
         d.cuDevResourceGenerateDesc != nullptr && d.cuGreenCtxCreate != nullptr && d.cuCtxFromGreenCtx != nullptr &&
         d.cuGreenCtxStreamCreate != nullptr && d.cuCtxGetDevice != nullptr;
}

// The largest group of at most `want` SMs the driver makes from `all`: it
// rounds a request up to its alignment, so ask for less until it fits.
CUresult split(const Driver& d, const CUdevResource& all, unsigned want, CUdevResource* group) {
  const unsigned step = all.sm.smCoscheduledAlignment > 0 ? all.sm.smCoscheduledAlignment : 1;
  CUresult r = CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
  for (unsigned ask = want; ask > 0; ask = ask > step ? ask - step : 0) {
    unsigned groups = 1;
    CUdevResource remaining{};
    r = d.cuDevSmResourceSplitByCount(group, &groups, &all, &remaining, 0, ask);
    if (r != CUDA_SUCCESS) return r;
    if (groups == 1 && group->sm.smCount > 0 && group->sm.smCount <= want) return CUDA_SUCCESS;
    r = CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
  }
  return r;
}

CUresult make(const Driver& d, CUdevice dev, unsigned reserve_sms, Partition* out) {
  CUdevResource all{};
  CUresult r = d.cuDeviceGetDevResource(dev, &all, CU_DEV_RESOURCE_TYPE_SM);
  if (r != CUDA_SUCCESS) return r;
  if (reserve_sms >= all.sm.smCount) return CUDA_ERROR_INVALID_VALUE;
  CUdevResource group{};
  if ((r = split(d, all, all.sm.smCount - reserve_sms, &group)) != CUDA_SUCCESS) return r;
  CUdevResourceDesc desc = nullptr;
  if ((r = d.cuDevResourceGenerateDesc(&desc, &group, 1)) != CUDA_SUCCESS) return r;
  if ((r = d.cuGreenCtxCreate(&out->green, desc, dev, CU_GREEN_CTX_DEFAULT_STREAM)) != CUDA_SUCCESS) return r;
  if ((r = d.cuCtxFromGreenCtx(&out->ctx, out->green)) != CUDA_SUCCESS) {
    if (d.cuGreenCtxDestroy != nullptr) d.cuGreenCtxDestroy(out->green);
    return r;
  }
  out->sms = group.sm.smCount;
  out->device_sms = all.sm.smCount;
  return CUDA_SUCCESS;
}

}  // namespace

const Partition* partition_for(const Driver& d, CUcontext ctx, unsigned reserve_sms) {
  if (reserve_sms == 0) return nullptr;
  CUdevice dev = -1;
  {
    ContextScope scope(d, ctx);
    if (d.cuCtxGetDevice == nullptr || d.cuCtxGetDevice(&dev) != CUDA_SUCCESS) return nullptr;
  }
  if (dev < 0 || dev >= kMaxDevices) return nullptr;
  std::lock_guard lk(g_mu);
  Slot& s = g_slots[dev];
  if (!s.tried) {
    s.tried = true;
    char buf[32];
    const CUresult r = green_api(d) ? make(d, dev, reserve_sms, &s.p) : CUDA_ERROR_NOT_SUPPORTED;
    s.made = r == CUDA_SUCCESS;
    if (s.made) {
      log(LogLevel::kInfo, "device %d: less urgent kernels run on %u of %u SMs while more urgent work is around",
          static_cast<int>(dev), s.p.sms, s.p.device_sms);
    } else {
      log(LogLevel::kWarn, "device %d: no partition leaving %u SMs free (%s): less urgent kernels use the whole device",
          static_cast<int>(dev), reserve_sms, d.error_name(r, buf));
    }
  }
  return s.made ? &s.p : nullptr;
}

}  // namespace xsched::cuda

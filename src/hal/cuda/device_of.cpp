#include "hal/cuda/device_of.h"

#include <cstring>

#include "hal/cuda/context_scope.h"

namespace xsched::cuda {

void describe_device(const Driver& d, CUcontext ctx, XQueueOptions& o) {
  if (d.cuCtxGetDevice == nullptr) return;
  ContextScope scope(d, ctx);
  CUdevice dev = -1;
  if (d.cuCtxGetDevice(&dev) != CUDA_SUCCESS) return;
  o.device = dev;
  CUuuid uuid{};
  if (d.cuDeviceGetUuid_v2 != nullptr && d.cuDeviceGetUuid_v2(&uuid, dev) == CUDA_SUCCESS) {
    std::memcpy(o.device_id.uuid.data(), uuid.bytes, o.device_id.uuid.size());
  }
  if (d.cuDeviceGetName != nullptr) {
    char name[sizeof o.device_name] = {};
    if (d.cuDeviceGetName(name, sizeof name - 1, dev) == CUDA_SUCCESS) set_device_name(&o.device_name, name);
  }
}

}  // namespace xsched::cuda

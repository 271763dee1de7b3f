#include "interpose/hip/wrap_common.h"

namespace xsched::interpose::hip {

bool packed_args(void** extra, const void** args, size_t* bytes) {
  if (extra == nullptr) {
    *args = nullptr;
    *bytes = 0;
    return true;
  }
  const void* buffer = nullptr;
  const size_t* size = nullptr;
  for (int i = 0; i < 16 && extra[i] != HIP_LAUNCH_PARAM_END; i += 2) {
    if (extra[i] == HIP_LAUNCH_PARAM_BUFFER_POINTER) buffer = extra[i + 1];
    else if (extra[i] == HIP_LAUNCH_PARAM_BUFFER_SIZE) size = static_cast<const size_t*>(extra[i + 1]);
    else return false;
  }
  if (buffer == nullptr || size == nullptr || *size > xsched::hip::kMaxArgsBytes) return false;
  *args = buffer;
  *bytes = *size;
  return true;
}

int current_device() {
  int d = 0;
  const auto get = XS_REAL(hipGetDevice);
  return get != nullptr && get(&d) == hipSuccess ? d : 0;
}

}  // namespace xsched::interpose::hip

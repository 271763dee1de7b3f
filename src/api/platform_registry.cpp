#include "api/platform_registry.h"

#include "core/platform_list.h"

namespace xsched::api {

const ApiPlatform* api_platform(xs_platform_t p) {
  static const ApiPlatform* const kRows[] = {
      &kHostPlatform,
#if XSCHED_WITH_CUDA
      &kCudaPlatform,
#endif
#if XSCHED_WITH_HIP
      &kHipPlatform,
#endif
  };
  for (const ApiPlatform* row : kRows) {
    if (row->id == p) return row;
  }
  return nullptr;
}

}  // namespace xsched::api

// Result strings live in the core: every layer reports errors with them.
#include "core/enum_values.h"
#include "xsched/xsched.h"

extern "C" {

XS_API const char* xs_result_string(xs_result_t r) {
  if (!xsched::known_result(r)) return "unknown result code";
  switch (r) {
    case XS_OK: return "success";
    case XS_ERR_INVALID_ARG: return "invalid argument";
    case XS_ERR_INVALID_HANDLE: return "invalid or destroyed handle";
    case XS_ERR_UNSUPPORTED: return "not supported by this platform or level";
    case XS_ERR_NO_MEMORY: return "out of host memory";
    case XS_ERR_TIMEOUT: return "timed out";
    case XS_ERR_PLATFORM: return "the platform reported an error";
    case XS_ERR_STATE: return "not allowed in the current state";
    case XS_ERR_INTERNAL: return "internal error in xsched";
    case XS_RESULT_MAX_ENUM: break;
  }
  return "unknown result code";
}

}  // extern "C"

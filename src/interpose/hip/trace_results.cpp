// How the trace (common/trace.h) reads a hipError_t: named by the runtime's
// hipGetErrorName; hipErrorNotReady is a query's answer, not a failure.
#include "interpose/common/trace.h"
#include "interpose/hip/hip_export.h"
#include "interpose/hip/runtime.h"

namespace xsched::interpose {
namespace {

const char* result_name(int result) {
  using GetErrorName = const char* (*)(hipError_t);
  if (!hip::runtime_searched()) return nullptr;
  const auto fn = hip::real<GetErrorName>("hipGetErrorName");
  return fn != nullptr ? fn(static_cast<hipError_t>(result)) : nullptr;
}

bool is_answer(int result) { return result == hipErrorNotReady; }

}  // namespace

constinit const TraceResults kTraceResults = {.name = result_name, .is_answer = is_answer};

}  // namespace xsched::interpose

// How the trace (common/trace.h) reads a CUresult: named by the real
// driver's cuGetErrorName; CUDA_ERROR_NOT_READY is a query's answer, not a
// failure.
#include <atomic>

#include "interpose/common/trace.h"
#include "interpose/cuda/real_driver.h"

namespace xsched::interpose {
namespace {

constexpr int kNotReady = 600;  // CUDA_ERROR_NOT_READY

// The driver's name for a result, or nullptr. Constant-initialised: the
// summary runs from an exit handler.
const char* result_name(int result) {
  using GetErrorName = int (*)(int, const char**);
  static constinit std::atomic<void*> fn{nullptr};
  static constinit std::atomic<bool> looked{false};
  void* f = fn.load(std::memory_order_acquire);
  if (f == nullptr && !looked.load(std::memory_order_acquire)) {
    f = real_symbol("cuGetErrorName");
    // During the driver search nothing is known yet; look again later.
    if (real_driver_searched()) {
      fn.store(f, std::memory_order_release);
      looked.store(true, std::memory_order_release);
    }
  }
  if (f == nullptr) return nullptr;
  const char* s = nullptr;
  if (reinterpret_cast<GetErrorName>(f)(result, &s) != 0) return nullptr;
  return s;
}

bool is_answer(int result) { return result == kNotReady; }

}  // namespace

constinit const TraceResults kTraceResults = {.name = result_name, .is_answer = is_answer};

}  // namespace xsched::interpose

#include "interpose/hip/runtime.h"

#include "core/log.h"
#include "hal/hip/runtime_library.h"

namespace xsched::interpose::hip {
namespace {

constinit hal::RealLibrary g_runtime{xsched::hip::kRuntimeLibrary, "HIP interposer"};

void* resolve(const char* name) { return g_runtime.symbol(name); }

}  // namespace

void* real_symbol(const char* name) { return g_runtime.symbol(name); }
bool runtime_searched() { return g_runtime.searched(); }

const xsched::hip::Runtime* runtime() {
  static const xsched::hip::Runtime* const table = []() -> const xsched::hip::Runtime* {
    static xsched::hip::Runtime t;
    if (g_runtime.handle() == nullptr) return nullptr;
    if (const char* missing = t.load(resolve); missing != nullptr) {
      log(LogLevel::kError, "HIP interposer: the runtime at %s lacks %s: its streams go unscheduled", g_runtime.path(),
          missing);
      return nullptr;
    }
    return &t;
  }();
  return table;
}

}  // namespace xsched::interpose::hip

// A platform's native library (its driver or runtime) for the C API: found
// on the first queue as an interposer finds it (hal/common/real_library.h),
// and its table of entry points (cuda::Driver, hip::Runtime) loaded once.
#pragma once

#include "core/log.h"
#include "hal/common/real_library.h"

namespace xsched::api {

// The table, or null if the library or one of the entry points the queues
// need is missing (said once). Table::load(resolve) returns the name of the
// first missing one; `resolve` looks names up in `library`; `what` names the
// library in the message ("the CUDA driver").
template <class Table>
const Table* native_table(hal::RealLibrary& library, void* (*resolve)(const char*), const char* what) {
  static const Table* const table = [&]() -> const Table* {
    static Table t;
    if (library.handle() == nullptr) return nullptr;  // real_library.h said why
    if (const char* missing = t.load(resolve); missing != nullptr) {
      log(LogLevel::kError, "xs_queue_create: %s at %s lacks %s: its queues are refused", what, library.path(),
          missing);
      return nullptr;
    }
    return &t;
  }();
  return table;
}

}  // namespace xsched::api

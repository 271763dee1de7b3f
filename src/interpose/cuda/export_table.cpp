#include "interpose/cuda/export_table.h"

#include "core/log.h"
#include "interpose/cuda/real_driver.h"

// Defined by the generated driver_trampolines.s. Hidden: the library's own.
extern "C" {
__attribute__((visibility("hidden"))) extern void* xs_export_slots[];
__attribute__((visibility("hidden"))) extern const char* const xs_export_names[];
__attribute__((visibility("hidden"))) extern const unsigned xs_export_count;
// Called by the trampolines' common resolver with the symbol's index.
__attribute__((visibility("hidden"))) void* xs_resolve_export(unsigned i) noexcept;
}

namespace xsched::interpose {
namespace {

// See export_table.h.
constexpr int kNotInitialized = 3;  // CUDA_ERROR_NOT_INITIALIZED
constexpr int kNotFound = 500;      // CUDA_ERROR_NOT_FOUND

// Called in place of a driver function with that function's arguments; the
// caller cleans the stack (SysV), so taking none is safe for any signature.
int no_driver() { return kNotInitialized; }
int no_symbol() { return kNotFound; }

}  // namespace

const char* const* export_names() { return xs_export_names; }
size_t export_count() { return xs_export_count; }

}  // namespace xsched::interpose

// Runs once per symbol (a few times if threads race on its first call, each
// storing the same target). The slot is read by the trampoline's plain load;
// on x86-64 an aligned 8-byte store is atomic and ordered after the dlsym
// that produced it.
extern "C" void* xs_resolve_export(unsigned i) noexcept {
  using namespace xsched::interpose;
  if (i >= xs_export_count) return reinterpret_cast<void*>(&no_symbol);  // unreachable: i is generated
  void* target = real_symbol(xs_export_names[i]);
  if (target == nullptr) {
    if (!real_driver_searched()) {
      // Called from a candidate driver's constructor during the search: fail
      // this call, but resolve again next time.
      return reinterpret_cast<void*>(&no_driver);
    }
    if (real_driver() == nullptr) {
      target = reinterpret_cast<void*>(&no_driver);  // real_driver() has said why, once
    } else {
      target = reinterpret_cast<void*>(&no_symbol);
      xsched::log(xsched::LogLevel::kWarn, "CUDA interposer: %s is not in the real driver %s; it returns CUDA_ERROR_NOT_FOUND",
                  xs_export_names[i], real_driver_path());
    }
  }
  __atomic_store_n(&xs_export_slots[i], target, __ATOMIC_RELEASE);
  return target;
}

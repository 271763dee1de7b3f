#include "interpose/cuda/export_table.h"

#include <dlfcn.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "interpose/cuda/real_driver.h"

// Defined by the generated driver_trampolines.s. Hidden: the library's own.
extern "C" {
__attribute__((visibility("hidden"))) extern void* xs_export_slots[];
__attribute__((visibility("hidden"))) extern const char* const xs_export_names[];
__attribute__((visibility("hidden"))) extern const unsigned xs_export_count;
__attribute__((visibility("hidden"))) extern const char xs_trampolines_begin[];
__attribute__((visibility("hidden"))) extern const char xs_trampolines_end[];
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

struct Wrapper {
  std::string_view name;
  void* fn;
};

// This library's own handle: dlsym through it finds the library's own
// definition of a name, whatever else the process defines under it.
void* own_handle() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&no_symbol), &info) == 0 || info.dli_fname == nullptr) return nullptr;
  return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
}

bool is_trampoline(const void* p) {
  const auto* c = static_cast<const char*>(p);
  return c >= xs_trampolines_begin && c < xs_trampolines_end;
}

// Every exported driver name whose definition is not its trampoline, sorted
// by name; built once, never freed (threads may ask at exit). nullptr if it
// could not be built: then nothing is handed out in the driver's place.
const std::vector<Wrapper>* wrappers() {
  static const std::vector<Wrapper>* const table = []() noexcept -> const std::vector<Wrapper>* {
    try {
      void* self = own_handle();
      if (self == nullptr) {
        log(LogLevel::kError, "CUDA interposer: cannot find its own library (%s); cuGetProcAddress hands out the "
            "real driver's pointers", dlerror());
        return nullptr;
      }
      auto* t = new std::vector<Wrapper>;
      for (unsigned i = 0; i < xs_export_count; ++i) {
        void* p = dlsym(self, xs_export_names[i]);
        if (p != nullptr && !is_trampoline(p)) t->push_back({xs_export_names[i], p});
      }
      std::sort(t->begin(), t->end(), [](const Wrapper& a, const Wrapper& b) { return a.name < b.name; });
      return t;
    } catch (...) {
      log(LogLevel::kError, "CUDA interposer: out of memory; cuGetProcAddress hands out the real driver's pointers");
      return nullptr;
    }
  }();
  return table;
}

}  // namespace

const char* const* export_names() { return xs_export_names; }
size_t export_count() { return xs_export_count; }

void* find_wrapper(const char* export_name) {
  const std::vector<Wrapper>* table = wrappers();
  if (export_name == nullptr || table == nullptr) return nullptr;
  const std::string_view name(export_name);
  auto it = std::lower_bound(table->begin(), table->end(), name, [](const Wrapper& w, std::string_view n) { return w.name < n; });
  return it != table->end() && it->name == name ? it->fn : nullptr;
}

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

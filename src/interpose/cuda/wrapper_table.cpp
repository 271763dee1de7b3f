#include "interpose/cuda/wrapper_table.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "hal/cuda/cuda_api.h"
#include "interpose/cuda/wrapper_list.h"

namespace xsched::interpose {
namespace {

struct Entry {
  std::string_view name;
  void* fn;
};

// Sorted by name once, then searched: cuGetProcAddress asks for each entry
// point once, but hundreds of them.
const auto& sorted_entries() {
  static const auto entries = [] {
#define XS_WRAPPER_ENTRY(name) Entry{#name, reinterpret_cast<void*>(&::name)},
    std::array table{XS_INTERPOSED_ENTRY_POINTS(XS_WRAPPER_ENTRY)};
#undef XS_WRAPPER_ENTRY
    std::sort(table.begin(), table.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
    return table;
  }();
  return entries;
}

}  // namespace

void* find_wrapper(const char* export_name) {
  if (export_name == nullptr) return nullptr;
  const auto& entries = sorted_entries();
  const std::string_view name(export_name);
  auto it = std::lower_bound(entries.begin(), entries.end(), name, [](const Entry& e, std::string_view n) { return e.name < n; });
  return it != entries.end() && it->name == name ? it->fn : nullptr;
}

}  // namespace xsched::interpose

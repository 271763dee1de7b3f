#include "hal/cuda/pinned_memory.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <new>
#include <shared_mutex>

namespace xsched::cuda {
namespace {

struct Registry {
  std::shared_mutex mu;
  std::map<uintptr_t, std::size_t> ranges;  // start -> bytes
};

Registry& registry() {
  static Registry* r = new Registry;  // immortal: frees may come during exit
  return *r;
}

}  // namespace

void note_pinned(const void* p, std::size_t bytes) {
  if (p == nullptr || bytes == 0) return;
  Registry& r = registry();
  std::unique_lock lk(r.mu);
  try {
    r.ranges[reinterpret_cast<uintptr_t>(p)] = bytes;
  } catch (const std::bad_alloc&) {
    // Unknown memory only means its copies are not persisted (they launch at once).
  }
}

void forget_pinned(const void* p) {
  Registry& r = registry();
  std::unique_lock lk(r.mu);
  r.ranges.erase(reinterpret_cast<uintptr_t>(p));
}

bool is_pinned(const void* p, std::size_t bytes) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  Registry& r = registry();
  std::shared_lock lk(r.mu);
  auto it = r.ranges.upper_bound(a);
  if (it == r.ranges.begin()) return false;
  --it;
  return a >= it->first && a - it->first <= it->second && bytes <= it->second - (a - it->first);
}

bool accessible_later(const Driver& d, const void* p, std::size_t bytes) {
  if (is_pinned(p, bytes)) return true;
  if (d.cuPointerGetAttribute == nullptr) return false;
  const auto ptr = reinterpret_cast<CUdeviceptr>(p);
  CUmemorytype type{};
  if (d.cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, ptr) != CUDA_SUCCESS) return false;
  if (type == CU_MEMORYTYPE_DEVICE || type == CU_MEMORYTYPE_ARRAY) return true;
  unsigned managed = 0;
  return d.cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, ptr) == CUDA_SUCCESS && managed != 0;
}

}  // namespace xsched::cuda

// Opaque C handles for shared C++ objects. A handle is a number, never a
// pointer to the object, so a stale, forged or wrong-type handle is answered
// with XS_ERR_INVALID_HANDLE instead of touching freed memory. Numbers are
// never reused and are unique across all tables.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace xsched::api {

inline std::atomic<uint64_t> g_next_handle{0x5c0001};

template <class T>
class HandleTable {
 public:
  template <class H>
  H insert(std::shared_ptr<T> obj) {
    const uint64_t id = g_next_handle.fetch_add(1);
    std::unique_lock lk(mu_);
    map_.emplace(id, std::move(obj));
    return reinterpret_cast<H>(static_cast<uintptr_t>(id));
  }

  template <class H>
  std::shared_ptr<T> get(H handle) const {
    std::shared_lock lk(mu_);
    auto it = map_.find(reinterpret_cast<uintptr_t>(handle));
    return it == map_.end() ? nullptr : it->second;
  }

  // Removes the handle; the object lives on while others still hold it.
  template <class H>
  std::shared_ptr<T> take(H handle) {
    std::unique_lock lk(mu_);
    auto it = map_.find(reinterpret_cast<uintptr_t>(handle));
    if (it == map_.end()) return nullptr;
    std::shared_ptr<T> obj = std::move(it->second);
    map_.erase(it);
    return obj;
  }

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<T>> map_;
};

}  // namespace xsched::api

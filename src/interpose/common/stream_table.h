// Where an interposer finds what it keeps for a stream (its queue) on every
// stream operation, without a lock on the common path: a sharded map from the
// stream's handle (a lock per shard, so threads on different streams rarely
// meet) behind a one-entry cache per thread (most calls name the stream the
// thread named last). A cache entry is good while the table's generation is
// the one it was filled at: every erase bumps the generation after the entry
// has left the map, so no thread goes on finding a forgotten stream's value
// (its handle may be the runtime's for a new stream already).
//
// The cache holds its value weakly: a forgotten stream's queue goes when its
// last user lets go, not when every thread that once used it has moved on or
// exited. Values kept outside the map (a default stream per context) may use
// the cache too, under a key of (handle, scope) that no map entry has.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace xsched::interpose {

template <class Handle, class Value, std::size_t kShards = 64>
class StreamTable {
 public:
  using Ptr = std::shared_ptr<Value>;

  // Read before a lookup whose result is to be remembered.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // What this thread remembered for (h, scope) at generation gen; null if
  // nothing (or something else, or anything since gone).
  Ptr cached(Handle h, uintptr_t scope, uint64_t gen) const {
    const Cache& c = t_cache;
    if (c.table != id_ || c.handle != h || c.scope != scope || c.generation != gen) return nullptr;
    return c.value.lock();
  }
  void remember(Handle h, uintptr_t scope, uint64_t gen, const Ptr& v) const { t_cache = Cache{id_, h, scope, gen, v}; }

  // h's value from the map, bypassing the cache; null if none.
  Ptr find(Handle h) const {
    const Shard& sh = shard_of(h);
    std::lock_guard lk(sh.mu);
    auto it = sh.values.find(h);
    return it != sh.values.end() ? it->second : nullptr;
  }

  // h's value: the cache's, else the map's, else (if make() gives one) a new
  // one. make runs outside every lock: two threads may both make one, and
  // the one that loses uses the winner's.
  template <class Make>
  Ptr get(Handle h, Make&& make) {
    const uint64_t gen = generation();
    if (Ptr v = cached(h, 0, gen)) return v;
    Ptr v = find(h);
    if (v == nullptr) {
      Ptr made = make();
      if (made == nullptr) return nullptr;
      v = insert(h, std::move(made));
    }
    remember(h, 0, gen, v);
    return v;
  }
  Ptr get(Handle h) {
    return get(h, [] { return Ptr(); });
  }

  // v as h's value unless h has one; returns the value h has.
  Ptr insert(Handle h, Ptr v) {
    Shard& sh = shard_of(h);
    std::lock_guard lk(sh.mu);
    return sh.values.try_emplace(h, std::move(v)).first->second;
  }

  // v as h's value; returns the value it replaces (null: none).
  Ptr replace(Handle h, Ptr v) {
    Ptr old;
    {
      Shard& sh = shard_of(h);
      std::lock_guard lk(sh.mu);
      Ptr& slot = sh.values[h];
      old = std::exchange(slot, std::move(v));
    }
    if (old != nullptr) bump();
    return old;
  }

  // Forgets h; returns its value (null: it had none).
  Ptr erase(Handle h) {
    Ptr old;
    {
      Shard& sh = shard_of(h);
      std::lock_guard lk(sh.mu);
      auto it = sh.values.find(h);
      if (it == sh.values.end()) return nullptr;
      old = std::move(it->second);
      sh.values.erase(it);
    }
    bump();
    return old;
  }

  // Forgets every value pred(value) holds for.
  template <class Pred>
  void erase_if(Pred&& pred) {
    for (Shard& sh : shards_) {
      std::lock_guard lk(sh.mu);
      std::erase_if(sh.values, [&](const auto& kv) { return pred(kv.second); });
    }
    bump();
  }

  // fn(value) for every value, a shard's lock held while fn runs on its values.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Shard& sh : shards_) {
      std::lock_guard lk(sh.mu);
      for (const auto& kv : sh.values) fn(kv.second);
    }
  }

 private:
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<Handle, Ptr> values;
  };
  struct Cache {
    uint64_t table = 0;  // id_: a table made where one was gone must not match
    Handle handle{};
    uintptr_t scope = 0;
    uint64_t generation = 0;
    std::weak_ptr<Value> value;
  };

  // After an entry left the map: a cache filled before reads an older generation.
  void bump() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  // Handles are pointers to objects of at least 16 bytes: their low bits say little.
  static std::size_t shard_index(Handle h) { return (reinterpret_cast<uintptr_t>(h) >> 4) % kShards; }
  Shard& shard_of(Handle h) { return shards_[shard_index(h)]; }
  const Shard& shard_of(Handle h) const { return shards_[shard_index(h)]; }

  static inline std::atomic<uint64_t> tables_made_{0};
  const uint64_t id_ = tables_made_.fetch_add(1, std::memory_order_relaxed) + 1;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> generation_{1};
  static inline thread_local Cache t_cache;
};

}  // namespace xsched::interpose

// The interposers' stream table (interpose/common/stream_table.h): values
// found through the per-thread cache, the cache never giving a value its
// handle no longer has once the change is seen, and a forgotten value going
// with its last user, not with the last thread that cached it. The threaded
// tests are for ThreadSanitizer as much as for their assertions.
#include "interpose/common/stream_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

using xsched::interpose::StreamTable;

struct Value {
  int version = 0;
};
using Table = StreamTable<void*, Value>;

// Handles as the runtimes' are: pointers to distinct objects.
void* handle(int i) { return reinterpret_cast<void*>(static_cast<uintptr_t>(0x1000 + 64 * i)); }

std::shared_ptr<Value> value(int version) {
  auto v = std::make_shared<Value>();
  v->version = version;
  return v;
}

TEST(InterposeStreamTable, GetMakesOnceAndFindsAgain) {
  Table t;
  int made = 0;
  auto make = [&] {
    ++made;
    return value(1);
  };
  auto a = t.get(handle(0), make);
  auto b = t.get(handle(0), make);  // the cache
  auto c = t.get(handle(1), make);
  auto d = t.get(handle(0), make);  // the map (the cache holds handle 1)
  EXPECT_EQ(made, 2);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, d);
  EXPECT_NE(a, c);
  EXPECT_EQ(t.get(handle(2)), nullptr);  // no make: nothing added
  EXPECT_EQ(t.find(handle(2)), nullptr);
}

TEST(InterposeStreamTable, EraseAndReplaceReachTheCache) {
  Table t;
  auto first = t.get(handle(0), [] { return value(1); });
  ASSERT_EQ(t.get(handle(0)), first);  // cached
  EXPECT_EQ(t.erase(handle(0)), first);
  EXPECT_EQ(t.get(handle(0)), nullptr);
  EXPECT_EQ(t.erase(handle(0)), nullptr);

  EXPECT_EQ(t.replace(handle(0), value(2)), nullptr);
  ASSERT_EQ(t.get(handle(0))->version, 2);  // cached
  EXPECT_EQ(t.replace(handle(0), value(3))->version, 2);
  EXPECT_EQ(t.get(handle(0))->version, 3);

  t.insert(handle(1), value(1));
  ASSERT_EQ(t.get(handle(1))->version, 1);  // cached
  t.erase_if([](const std::shared_ptr<Value>& v) { return v->version == 1; });
  EXPECT_EQ(t.get(handle(1)), nullptr);
  EXPECT_EQ(t.get(handle(0))->version, 3);

  int seen = 0;
  t.for_each([&](const std::shared_ptr<Value>&) { ++seen; });
  EXPECT_EQ(seen, 1);
}

TEST(InterposeStreamTable, CacheKeepsNoForgottenValueAlive) {
  Table t;
  std::weak_ptr<Value> watch = t.get(handle(0), [] { return value(1); });
  std::atomic<int> step{0};
  std::thread other([&] {
    EXPECT_NE(t.get(handle(0)), nullptr);  // now in this thread's cache too
    step = 1;
    while (step.load() != 2) std::this_thread::yield();  // alive, its cache unchanged
  });
  while (step.load() != 1) std::this_thread::yield();
  EXPECT_NE(t.erase(handle(0)), nullptr);  // the last user lets go here
  EXPECT_TRUE(watch.expired());
  step = 2;
  other.join();
}

// A table made in the storage of one that is gone (same address, same
// generation) finds nothing of the old one's, though a value of it lives on.
TEST(InterposeStreamTable, NewTableInOldPlaceStartsEmpty) {
  alignas(Table) static unsigned char storage[sizeof(Table)];
  auto* first = new (storage) Table;
  auto kept = first->get(handle(0), [] { return value(1); });  // and in this thread's cache
  first->~Table();
  auto* second = new (storage) Table;
  EXPECT_EQ(second->get(handle(0)), nullptr);
  second->~Table();
  EXPECT_EQ(kept->version, 1);
}

// Readers look handles up without pause while a writer replaces and erases
// their values, each change's version higher. Once a reader has seen a
// version published (after the change that made it), no lookup of that
// handle gives an older one: not from the map, and not from its cache.
TEST(InterposeStreamTable, NoStaleValueAfterAChangeIsSeen) {
  constexpr int kHandles = 8;
  constexpr int kReaders = 6;
  constexpr int kChanges = 20000;
  Table t;
  std::vector<std::atomic<int>> published(kHandles);
  for (int h = 0; h < kHandles; ++h) {
    t.insert(handle(h), value(0));
    published[h] = 0;
  }
  std::atomic<bool> done{false};
  std::atomic<int> stale{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      for (int i = r; !done.load(std::memory_order_relaxed); ++i) {
        const int h = (i / 3) % kHandles;  // a few calls on one handle, then the next: hits and misses
        const int seen = published[h].load(std::memory_order_acquire);
        auto v = t.get(handle(h));
        // Null: erased and not yet put back (maybe after `seen` was read).
        if (v != nullptr && v->version < std::abs(seen)) ++stale;
      }
    });
  }
  for (int k = 1; k <= kChanges; ++k) {
    const int h = k % kHandles;
    if (k % 5 == 0) {
      // Erased, then put back: between the two, readers may find nothing.
      t.erase(handle(h));
      published[h].store(-k, std::memory_order_release);
      t.insert(handle(h), value(k));
    } else {
      t.replace(handle(h), value(k));
    }
    published[h].store(k, std::memory_order_release);
  }
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(stale.load(), 0);
}

}  // namespace

// Reusable byte blocks for persisted command data, by power-of-two size
// class. Blocks go back to their free list when the command has launched, so
// a queue in steady state allocates nothing. Not thread-safe: the owning
// queue serialises persist and launch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace xsched::cuda {

class ByteBlocks {
 public:
  ByteBlocks() = default;
  ByteBlocks(const ByteBlocks&) = delete;
  ByteBlocks& operator=(const ByteBlocks&) = delete;
  ~ByteBlocks() {
    for (Header*& head : free_) {
      while (head != nullptr) {
        Header* next = head->next;
        std::free(head);
        head = next;
      }
    }
  }

  // At least `bytes` bytes, 16-aligned, or nullptr when memory ran out.
  void* acquire(std::size_t bytes) {
    const unsigned cls = size_class(bytes);
    Header* h = nullptr;
    if (cls < kClasses && free_[cls] != nullptr) {
      h = free_[cls];
      free_[cls] = h->next;
    } else {
      const std::size_t capacity = cls < kClasses ? (std::size_t{kMinBytes} << cls) : bytes;
      h = static_cast<Header*>(std::malloc(sizeof(Header) + capacity));
      if (h == nullptr) return nullptr;
      h->cls = cls;
    }
    h->next = nullptr;
    return h + 1;
  }

  void release(void* p) {
    if (p == nullptr) return;
    Header* h = static_cast<Header*>(p) - 1;
    if (h->cls >= kClasses) {
      std::free(h);  // larger than any class: not kept
      return;
    }
    h->next = free_[h->cls];
    free_[h->cls] = h;
  }

 private:
  struct alignas(16) Header {
    Header* next;
    unsigned cls;
  };
  static constexpr std::size_t kMinBytes = 128;
  static constexpr unsigned kClasses = 14;  // 128 B .. 1 MiB

  static unsigned size_class(std::size_t bytes) {
    unsigned cls = 0;
    while (cls < kClasses && (std::size_t{kMinBytes} << cls) < bytes) ++cls;
    return cls;
  }

  Header* free_[kClasses] = {};
};

}  // namespace xsched::cuda

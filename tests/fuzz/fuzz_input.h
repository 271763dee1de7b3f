// Reads fixed-size values off the front of a fuzz input; past its end, zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace xsched::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  template <class T>
  T take() {
    static_assert(std::is_trivially_copyable_v<T>);
    T v{};
    copy_to(&v, sizeof v);
    return v;
  }
  // Copies the next n bytes (zeros past the end) to dst.
  void copy_to(void* dst, std::size_t n) {
    const std::size_t have = n < size_ - at_ ? n : size_ - at_;
    std::memset(dst, 0, n);
    if (have != 0) std::memcpy(dst, data_ + at_, have);
    at_ += have;
  }
  bool empty() const { return at_ >= size_; }
  std::size_t left() const { return size_ - at_; }

 private:
  const uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

}  // namespace xsched::fuzz

// The rule for the public structs that carry their own size (struct_size),
// stated in include/xsched/xsched.h: exactly the size this version knows; a
// larger one only if every byte past that size is zero (a caller built
// against a newer header that left the newer fields unset); never smaller,
// and never beyond kMaxStructSize (no version will grow a struct that far,
// and a wild size must not make the check read far past the struct).
#pragma once

#include <cstddef>
#include <cstdint>

namespace xsched {

constexpr uint32_t kMaxStructSize = 4096;

// Whether s, a struct of this version's type S, comes with a struct_size
// that the rule accepts (the caller promises struct_size bytes at &s).
template <class S>
bool struct_size_accepted(const S& s) {
  if (s.struct_size < sizeof(S) || s.struct_size > kMaxStructSize) return false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(&s);
  for (std::size_t i = sizeof(S); i < s.struct_size; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

}  // namespace xsched

// Which values of the public enums exist. A C caller may pass any integer
// where the API takes an enum, and in C++ merely loading an enum object that
// holds a value outside the enum's range is undefined behaviour: these read
// the caller's bytes as an integer, so that nothing looks at the value as
// the enum before it is known to be one of its members.
#pragma once

#include <cstring>
#include <type_traits>

#include "core/platform_list.h"
#include "core/policy_list.h"
#include "xsched/xsched.h"

namespace xsched {

// Whether value is one of first..last (a contiguous run of members).
template <class E>
bool enum_in(const E& value, E first, E last) {
  using Bits = std::underlying_type_t<E>;
  Bits bits;
  static_assert(sizeof bits == sizeof value);
  std::memcpy(&bits, &value, sizeof bits);
  return bits >= static_cast<Bits>(first) && bits <= static_cast<Bits>(last);
}

inline bool known_result(const xs_result_t& r) { return enum_in(r, XS_OK, XS_ERR_INTERNAL); }
// The rows of core/platform_list.h cover 1..kPlatformCount.
inline bool known_platform(const xs_platform_t& p) {
  return enum_in(p, XS_PLATFORM_HOST, static_cast<xs_platform_t>(kPlatformCount));
}
inline bool known_level(const xs_level_t& l) { return enum_in(l, XS_LEVEL_AUTO, XS_LEVEL_INTERRUPT); }
inline bool known_command_kind(const xs_command_kind_t& k) { return enum_in(k, XS_CMD_KERNEL, XS_CMD_MEM_OP); }
// The rows of core/policy_list.h cover 0..kPolicyCount-1.
inline bool known_policy(const xs_policy_t& p) {
  return enum_in(p, XS_POLICY_NONE, static_cast<xs_policy_t>(kPolicyCount - 1));
}

}  // namespace xsched

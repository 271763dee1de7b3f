// The platforms, one row each: its xs_platform_t value and its name (what
// the board, `xsched list`, the metrics' labels and device identities call
// it). Like policy_list.h this is the one place a platform is named; what a
// platform does for the C API (open a queue over a native one, check its
// commands) is its row in api/platform_registry.h, present where the build
// has the platform.
//
// A new platform: one value in xs_platform_t, one row here (rows follow the
// enum from 1 without gaps, checked below), its hardware queue (src/hal/<name>),
// its row of the C API's registry, and its interposer (src/interpose/<name>,
// on src/interpose/common).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>

#include "xsched/xsched.h"

// X(value, name)
#define XSCHED_PLATFORMS(X) \
  X(XS_PLATFORM_HOST, host) \
  X(XS_PLATFORM_CUDA, cuda) \
  X(XS_PLATFORM_HIP, hip)

namespace xsched {

inline constexpr const char* kPlatformNames[] = {
#define XSCHED_PLATFORM_NAME(value, name) #name,
    XSCHED_PLATFORMS(XSCHED_PLATFORM_NAME)
#undef XSCHED_PLATFORM_NAME
};
inline constexpr std::size_t kPlatformCount = std::size(kPlatformNames);

namespace platform_list_check {
constexpr xs_platform_t kValues[] = {
#define XSCHED_PLATFORM_VALUE(value, name) value,
    XSCHED_PLATFORMS(XSCHED_PLATFORM_VALUE)
#undef XSCHED_PLATFORM_VALUE
};
constexpr bool in_enum_order() {
  for (std::size_t i = 0; i < kPlatformCount; ++i) {
    if (static_cast<std::size_t>(kValues[i]) != i + 1) return false;
  }
  return true;
}
static_assert(in_enum_order(), "XSCHED_PLATFORMS rows must follow xs_platform_t from 1 without gaps");
}  // namespace platform_list_check

// The platform's name, or "unknown" (0, or a value no row has: a board is
// written by another process).
inline const char* platform_name(uint32_t platform) {
  return platform >= 1 && platform <= kPlatformCount ? kPlatformNames[platform - 1] : "unknown";
}

// The platform a name denotes; 0 for none.
inline uint32_t platform_from_name(const char* name) {
  for (std::size_t i = 0; name != nullptr && i < kPlatformCount; ++i) {
    if (std::strcmp(name, kPlatformNames[i]) == 0) return static_cast<uint32_t>(i + 1);
  }
  return 0;
}

}  // namespace xsched

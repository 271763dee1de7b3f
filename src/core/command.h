// A command: one unit of device work captured from an API call, as the XQueue
// keeps it between submit and completion. Commands live in a per-queue pool
// (command_pool.h), so submitting allocates nothing once the pool is warm.
#pragma once

#include <cstddef>
#include <cstdint>

#include "xsched/xsched.h"

namespace xsched {

// Bytes a platform may use for its kernel descriptor inside a command. A
// platform whose descriptors are larger keeps them elsewhere and stores a
// reference here.
inline constexpr std::size_t kKernelDescBytes = 64;

struct Command {
  // ---- set by the submitter ----
  xs_command_kind_t kind = XS_CMD_KERNEL;
  int64_t est_ns = 0;  // estimated device time; 0 = unknown
  union Operands {
    struct Kernel { alignas(16) unsigned char desc[kKernelDescBytes]; } kernel;
    struct Copy { void* dst; const void* src; std::size_t bytes; } copy;
    struct Memset { void* dst; uint8_t value; std::size_t bytes; } memset;
    struct Event { void* event; uint64_t generation; } event;  // generation: set by the platform at submit
    struct HostFunc { xs_host_fn fn; void* arg; } host_func;
  } op{};

  // ---- set by the XQueue ----
  uint64_t seq = 0;         // 1-based position in its queue
  bool sync_point = false;  // the queue will call sync() on it: the platform must allow that
  // Some queue could preempt this one when it was launched: at Level 2 the
  // platform puts it behind a gate; otherwise a gate would only cost.
  bool preemptible = true;
  Command* next = nullptr;  // FIFO link

  // ---- free for the platform ----
  uintptr_t platform_slot = 0;

  // Typed view of the kernel descriptor.
  template <class T>
  T& kernel_desc() {
    static_assert(sizeof(T) <= kKernelDescBytes && alignof(T) <= 16);
    return *reinterpret_cast<T*>(op.kernel.desc);
  }
};

}  // namespace xsched

// What a HIP stream operation is as a command: which call (HipOp) and its
// operands except the stream (the hardware queue's), inside
// Command::op.kernel.desc whatever the command's kind. What it points to is
// borrowed from the caller until the queue persists it (hip_queue.h), then
// the queue's own copy.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/command.h"
#include "hal/hip/hip_api.h"

namespace xsched::hip {

enum class HipOp : uint8_t {
  kLaunch,    // hipModuleLaunchKernel (or hipExtModuleLaunchKernel), the arguments as one packed buffer (`extra`)
  kMemcpy,    // hipMemcpyAsync
  kMemset,    // hipMemsetAsync
  kHostFunc,  // hipLaunchHostFunc
  kCount
};

struct HipLaunch {
  hipFunction_t f;
  uint32_t grid[3];  // in blocks; in work-items where work_items is set
  uint32_t block[3];
  uint32_t shared_bytes;
  // hipExtModuleLaunchKernel's form: grid counts work-items, which need not
  // be a multiple of the block (the last block is partial), so it is
  // launched through that call and cannot be turned into blocks.
  bool work_items;
  const void* args;   // the packed arguments
  size_t args_bytes;  // at most kMaxArgsBytes
};
struct HipMemcpy {
  void* dst;
  const void* src;
  size_t bytes;
  hipMemcpyKind kind;  // hipMemcpyDefault: unified addressing decides
};
struct HipMemset {
  void* dst;
  int value;
  size_t bytes;
};
struct HipHostFn {
  hipHostFn_t fn;
  void* data;
};

// The most argument bytes a kernel takes (AMD's limit on kernel arguments is 4 KiB).
inline constexpr size_t kMaxArgsBytes = 4096;

struct HipCall {
  HipOp op;
  bool persisted;  // not launched at submit: what it points to is the queue's copy
  union {
    HipLaunch launch;
    HipMemcpy memcpy;
    HipMemset memset;
    HipHostFn host_fn;
  };
};
static_assert(sizeof(HipCall) <= kKernelDescBytes, "a HIP call must fit in a command");

inline HipCall& call_of(Command& c) { return c.kernel_desc<HipCall>(); }

// The command kind the scheduler sees of each operation.
inline xs_command_kind_t kind_of(HipOp op) {
  switch (op) {
    case HipOp::kLaunch:
      return XS_CMD_KERNEL;
    case HipOp::kMemcpy:
      return XS_CMD_COPY;
    case HipOp::kMemset:
      return XS_CMD_MEMSET;
    case HipOp::kHostFunc:
    case HipOp::kCount:
      break;
  }
  return XS_CMD_HOST_FUNC;
}

// The command for call. error (may be null): where a launch made during
// XQueue::submit, in the submitter's thread, leaves the runtime's error.
inline Command make_command(const HipCall& call, hipError_t* error = nullptr) {
  Command c;
  c.kind = kind_of(call.op);
  c.kernel_desc<HipCall>() = call;
  c.platform_slot = reinterpret_cast<uintptr_t>(error);
  return c;
}

}  // namespace xsched::hip

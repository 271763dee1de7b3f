// A CUDA stream operation as a command: which driver call, and its arguments
// except the stream (the hardware queue's). It lives inside
// Command::op.kernel.desc whatever the command's kind, so every operation
// fits in kKernelDescBytes; what it points to is borrowed from the caller
// until the queue persists it (cuda_queue.cpp), then owned by the queue.
#pragma once

#include <cstdint>

#include "core/command.h"
#include "hal/cuda/cuda_api.h"

namespace xsched::cuda {

enum class Op : uint8_t {
  kLaunch,             // cuLaunchKernel
  kLaunchCooperative,  // cuLaunchCooperativeKernel
  kLaunchEx,           // cuLaunchKernelEx
  kMemcpy,             // cuMemcpyAsync (unified addressing)
  kMemcpyHtoD,         // cuMemcpyHtoDAsync_v2
  kMemcpyDtoH,         // cuMemcpyDtoHAsync_v2
  kMemcpyDtoD,         // cuMemcpyDtoDAsync_v2
  kMemcpyPeer,         // cuMemcpyPeerAsync
  kMemcpy2D,           // cuMemcpy2DAsync_v2
  kMemcpy3D,           // cuMemcpy3DAsync_v2
  kMemset,             // cuMemsetD{8,16,32}Async and the 2D forms
  kEventRecord,        // cuEventRecord / cuEventRecordWithFlags
  kEventWait,          // cuStreamWaitEvent
  kHostFunc,           // cuLaunchHostFunc
  kCallback,           // cuStreamAddCallback
  kGraphLaunch,        // cuGraphLaunch
  kMemFree,            // cuMemFreeAsync
  kWaitValue32,        // cuStreamWaitValue32_v2
  kWaitValue64,        // cuStreamWaitValue64_v2
  kWriteValue32,       // cuStreamWriteValue32_v2
  kWriteValue64,       // cuStreamWriteValue64_v2
  kBatchMemOp,         // cuStreamBatchMemOp_v2
};

struct Launch {
  CUfunction f;
  void** params;
  void** extra;
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t shared_bytes;
};
struct LaunchEx {
  const CUlaunchConfig* config;  // its hStream is replaced by the queue's
  CUfunction f;
  void** params;
  void** extra;
};
struct Memcpy {
  CUdeviceptr dst;
  CUdeviceptr src;  // a host pointer for HtoD
  size_t bytes;
  CUcontext dst_ctx;  // kMemcpyPeer only
  CUcontext src_ctx;
};
struct MemcpyND {
  const void* desc;  // CUDA_MEMCPY2D or CUDA_MEMCPY3D
};
struct Memset {
  CUdeviceptr dst;
  size_t pitch;  // 0: 1-D
  size_t width;  // elements
  size_t height;
  uint32_t value;
  uint8_t element_bytes;  // 1, 2 or 4
};
struct EventOp {
  CUevent event;
  uint32_t flags;
  bool with_flags;  // cuEventRecordWithFlags
};
struct HostFn {
  void* fn;  // CUhostFn or CUstreamCallback
  void* data;
  uint32_t flags;
};
struct Graph {
  CUgraphExec exec;
};
struct MemFree {
  CUdeviceptr ptr;
};
struct ValueOp {
  CUdeviceptr addr;
  uint64_t value;
  uint32_t flags;
};
struct BatchMemOp {
  CUstreamBatchMemOpParams* ops;
  uint32_t count;
  uint32_t flags;
};

struct Call {
  Op op;
  // The bytes the operation points to are the queue's (persisted), not the caller's.
  bool owned;
  union {
    Launch launch;
    LaunchEx launch_ex;
    Memcpy memcpy;
    MemcpyND memcpy_nd;
    Memset memset;
    EventOp event;
    HostFn host_fn;
    Graph graph;
    MemFree mem_free;
    ValueOp value;
    BatchMemOp batch;
  };
};
static_assert(sizeof(Call) <= kKernelDescBytes, "a CUDA call must fit in a command");

inline Call& call_of(Command& c) { return c.kernel_desc<Call>(); }

// A command for call (kind: the scheduler's view; est_ns: 0 = unknown).
inline Command make_command(xs_command_kind_t kind, const Call& call) {
  Command c;
  c.kind = kind;
  c.kernel_desc<Call>() = call;
  return c;
}

}  // namespace xsched::cuda

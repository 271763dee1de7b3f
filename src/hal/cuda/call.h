// What a CUDA stream operation is as a command: which driver call (Op), and
// its operands except the stream (the hardware queue's). It lives inside
// Command::op.kernel.desc whatever the command's kind, so every operation
// fits in kKernelDescBytes. What it points to is borrowed from the caller
// until the queue persists it (op_table.h), then the queue's own copy.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/command.h"
#include "hal/cuda/cuda_api.h"

namespace xsched::cuda {

// One value per row of the operation table (op_table.cpp), in its order.
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
  kMemset,             // cuMemsetD{8,16,32}Async
  kMemset2D,           // cuMemsetD2D{8,16,32}Async
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
  kCount
};
inline constexpr std::size_t kOpCount = static_cast<std::size_t>(Op::kCount);

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
  size_t pitch;  // kMemset2D only
  size_t width;  // elements
  size_t height;  // 1 for kMemset
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
  // The queue persisted it (it was not launched at submit): what it points
  // to is the queue's copy, and it is launched later, by whichever thread
  // launches the queue, in the stream's context.
  bool persisted;
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

  // The call op with these operands, as its caller made it.
  static Call of(Op op, const Launch& v) { return with(op, &Call::launch, v); }
  static Call of(Op op, const LaunchEx& v) { return with(op, &Call::launch_ex, v); }
  static Call of(Op op, const Memcpy& v) { return with(op, &Call::memcpy, v); }
  static Call of(Op op, const MemcpyND& v) { return with(op, &Call::memcpy_nd, v); }
  static Call of(Op op, const Memset& v) { return with(op, &Call::memset, v); }
  static Call of(Op op, const EventOp& v) { return with(op, &Call::event, v); }
  static Call of(Op op, const HostFn& v) { return with(op, &Call::host_fn, v); }
  static Call of(Op op, const Graph& v) { return with(op, &Call::graph, v); }
  static Call of(Op op, const MemFree& v) { return with(op, &Call::mem_free, v); }
  static Call of(Op op, const ValueOp& v) { return with(op, &Call::value, v); }
  static Call of(Op op, const BatchMemOp& v) { return with(op, &Call::batch, v); }

 private:
  template <class Operands>
  static Call with(Op op, Operands Call::*member, const Operands& v) {
    Call c{};
    c.op = op;
    c.*member = v;
    return c;
  }
};
static_assert(sizeof(Call) <= kKernelDescBytes, "a CUDA call must fit in a command");

inline Call& call_of(Command& c) { return c.kernel_desc<Call>(); }
inline const Call& call_of(const Command& c) { return const_cast<Command&>(c).kernel_desc<Call>(); }

}  // namespace xsched::cuda

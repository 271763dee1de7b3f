// The operation table (op_table.h): one row per Op, and what each row names.
#include "hal/cuda/op_table.h"

#include <cstdio>
#include <cstring>

#include "hal/cuda/kernel_args.h"
#include "hal/cuda/persist_space.h"
#include "hal/cuda/pinned_memory.h"

namespace xsched::cuda {
namespace {

// fn(args...), or CUDA_ERROR_NOT_SUPPORTED where the driver lacks fn.
template <class Fn, class... Args>
CUresult call(Fn fn, Args... args) {
  return fn != nullptr ? fn(args...) : CUDA_ERROR_NOT_SUPPORTED;
}

void* as_ptr(CUdeviceptr p) { return reinterpret_cast<void*>(p); }

// ---- issue ----

CUresult issue_launch(const Driver& d, const Call& c, CUstream s) {
  const Launch& l = c.launch;
  return call(d.cuLaunchKernel, l.f, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2], l.shared_bytes,
              s, l.params, l.extra);
}
CUresult issue_launch_cooperative(const Driver& d, const Call& c, CUstream s) {
  const Launch& l = c.launch;
  return call(d.cuLaunchCooperativeKernel, l.f, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2],
              l.shared_bytes, s, l.params);
}
CUresult issue_launch_ex(const Driver& d, const Call& c, CUstream s) {
  CUlaunchConfig cfg = *c.launch_ex.config;
  cfg.hStream = s;
  return call(d.cuLaunchKernelEx, &cfg, c.launch_ex.f, c.launch_ex.params, c.launch_ex.extra);
}
CUresult issue_memcpy(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuMemcpyAsync, c.memcpy.dst, c.memcpy.src, c.memcpy.bytes, s);
}
CUresult issue_memcpy_htod(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuMemcpyHtoDAsync_v2, c.memcpy.dst, static_cast<const void*>(as_ptr(c.memcpy.src)), c.memcpy.bytes, s);
}
CUresult issue_memcpy_dtoh(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuMemcpyDtoHAsync_v2, as_ptr(c.memcpy.dst), c.memcpy.src, c.memcpy.bytes, s);
}
CUresult issue_memcpy_dtod(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuMemcpyDtoDAsync_v2, c.memcpy.dst, c.memcpy.src, c.memcpy.bytes, s);
}
CUresult issue_memcpy_peer(const Driver& d, const Call& c, CUstream s) {
  const Memcpy& m = c.memcpy;
  return call(d.cuMemcpyPeerAsync, m.dst, m.dst_ctx, m.src, m.src_ctx, m.bytes, s);
}
CUresult issue_memcpy_2d(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuMemcpy2DAsync_v2, static_cast<const CUDA_MEMCPY2D*>(c.memcpy_nd.desc), s);
}
CUresult issue_memcpy_3d(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuMemcpy3DAsync_v2, static_cast<const CUDA_MEMCPY3D*>(c.memcpy_nd.desc), s);
}
CUresult issue_memset(const Driver& d, const Call& c, CUstream s) {
  const Memset& m = c.memset;
  switch (m.element_bytes) {
    case 1: return call(d.cuMemsetD8Async, m.dst, static_cast<unsigned char>(m.value), m.width, s);
    case 2: return call(d.cuMemsetD16Async, m.dst, static_cast<unsigned short>(m.value), m.width, s);
    default: return call(d.cuMemsetD32Async, m.dst, m.value, m.width, s);
  }
}
CUresult issue_memset_2d(const Driver& d, const Call& c, CUstream s) {
  const Memset& m = c.memset;
  switch (m.element_bytes) {
    case 1: return call(d.cuMemsetD2D8Async, m.dst, m.pitch, static_cast<unsigned char>(m.value), m.width, m.height, s);
    case 2: return call(d.cuMemsetD2D16Async, m.dst, m.pitch, static_cast<unsigned short>(m.value), m.width, m.height, s);
    default: return call(d.cuMemsetD2D32Async, m.dst, m.pitch, m.value, m.width, m.height, s);
  }
}
CUresult issue_event_record(const Driver& d, const Call& c, CUstream s) {
  if (c.event.with_flags) return call(d.cuEventRecordWithFlags, c.event.event, s, c.event.flags);
  return call(d.cuEventRecord, c.event.event, s);
}
CUresult issue_event_wait(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuStreamWaitEvent, s, c.event.event, c.event.flags);
}
CUresult issue_host_func(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuLaunchHostFunc, s, reinterpret_cast<CUhostFn>(c.host_fn.fn), c.host_fn.data);
}
CUresult issue_callback(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuStreamAddCallback, s, reinterpret_cast<CUstreamCallback>(c.host_fn.fn), c.host_fn.data, c.host_fn.flags);
}
CUresult issue_graph_launch(const Driver& d, const Call& c, CUstream s) { return call(d.cuGraphLaunch, c.graph.exec, s); }
CUresult issue_mem_free(const Driver& d, const Call& c, CUstream s) { return call(d.cuMemFreeAsync, c.mem_free.ptr, s); }
CUresult issue_wait_value32(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuStreamWaitValue32_v2, s, c.value.addr, static_cast<cuuint32_t>(c.value.value), c.value.flags);
}
CUresult issue_wait_value64(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuStreamWaitValue64_v2, s, c.value.addr, c.value.value, c.value.flags);
}
CUresult issue_write_value32(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuStreamWriteValue32_v2, s, c.value.addr, static_cast<cuuint32_t>(c.value.value), c.value.flags);
}
CUresult issue_write_value64(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuStreamWriteValue64_v2, s, c.value.addr, c.value.value, c.value.flags);
}
CUresult issue_batch_mem_op(const Driver& d, const Call& c, CUstream s) {
  return call(d.cuStreamBatchMemOp_v2, s, c.batch.count, c.batch.ops, c.batch.flags);
}

// ---- kernel ----

CUfunction kernel_of_launch(const Call& c) { return c.launch.f; }
CUfunction kernel_of_launch_ex(const Call& c) { return c.launch_ex.f; }

// ---- persist and release ----

xs_result_t persist_launch(PersistSpace& space, Call& c, CUresult*) { return persist_launch_args(space, c.launch); }
void release_launch(PersistSpace& space, Call& c) { release_launch_args(space, c.launch); }
xs_result_t persist_launch_ex(PersistSpace& space, Call& c, CUresult*) {
  return persist_launch_ex_args(space, c.launch_ex);
}
void release_launch_ex(PersistSpace& space, Call& c) { release_launch_ex_args(space, c.launch_ex); }

// A copy from or to pageable memory is synchronous with respect to the host
// in the driver (or stages its source before returning): the caller may
// reuse the buffer at once, so such a copy cannot wait; its caller launches
// it now instead.
xs_result_t persist_memcpy(PersistSpace& space, Call& c, CUresult*) {
  const Memcpy& m = c.memcpy;
  const bool may_wait = accessible_later(space.d, as_ptr(m.src), m.bytes) && accessible_later(space.d, as_ptr(m.dst), m.bytes);
  return may_wait ? XS_OK : XS_ERR_UNSUPPORTED;
}

template <class Desc>
bool may_wait_nd(const Driver& d, const Desc& desc) {
  auto side_ok = [&](CUmemorytype type, const void* host, CUdeviceptr dev) {
    if (type == CU_MEMORYTYPE_HOST) return accessible_later(d, host, 1);
    if (type == CU_MEMORYTYPE_UNIFIED) return accessible_later(d, as_ptr(dev), 1);
    return true;  // device memory or arrays
  };
  return side_ok(desc.srcMemoryType, desc.srcHost, desc.srcDevice) && side_ok(desc.dstMemoryType, desc.dstHost, desc.dstDevice);
}

// The descriptor is copied; the memory it names is checked as above.
template <class Desc>
xs_result_t persist_memcpy_nd(PersistSpace& space, Call& c, CUresult*) {
  const auto& desc = *static_cast<const Desc*>(c.memcpy_nd.desc);
  if (!may_wait_nd(space.d, desc)) return XS_ERR_UNSUPPORTED;
  void* copy = space.acquire(sizeof(Desc));
  if (copy == nullptr) return XS_ERR_NO_MEMORY;
  std::memcpy(copy, &desc, sizeof(Desc));
  c.memcpy_nd.desc = copy;
  return XS_OK;
}
void release_memcpy_nd(PersistSpace& space, Call& c) { space.release(const_cast<void*>(c.memcpy_nd.desc)); }

// A wait uses the event's latest record at the time of the call. Launched
// later, it would see a record made in between, so the wait is pinned to a
// private event that completes with the record current now.
xs_result_t persist_event_wait(PersistSpace& space, Call& c, CUresult* error) {
  CUevent snapshot = nullptr;
  const CUresult r = space.snapshot(c.event.event, &snapshot);
  if (r != CUDA_SUCCESS) {
    if (error != nullptr) *error = r;
    return XS_ERR_PLATFORM;
  }
  c.event.event = snapshot;
  return XS_OK;
}
void release_event_wait(PersistSpace& space, Call& c) { space.give_back_snapshot(c.event.event); }

xs_result_t persist_batch_mem_op(PersistSpace& space, Call& c, CUresult*) {
  const std::size_t bytes = sizeof(CUstreamBatchMemOpParams) * c.batch.count;
  auto* copy = static_cast<CUstreamBatchMemOpParams*>(space.acquire(bytes));
  if (copy == nullptr) return XS_ERR_NO_MEMORY;
  std::memcpy(copy, c.batch.ops, bytes);
  c.batch.ops = copy;
  return XS_OK;
}
void release_batch_mem_op(PersistSpace& space, Call& c) { space.release(c.batch.ops); }

// ---- describe (the trace) ----

const char* kernel_name(const Driver* d, CUfunction f) {
  const char* name = nullptr;
  if (d == nullptr || d->cuFuncGetName == nullptr || d->cuFuncGetName(&name, f) != CUDA_SUCCESS || name == nullptr) {
    return "?";
  }
  return name;
}

using Q = unsigned long long;

int describe_launch(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver* d) {
  const Launch& l = c.launch;
  return std::snprintf(out, n, "func=%p name=%s grid=(%u,%u,%u) block=(%u,%u,%u) shared=%u stream=%p queue=%llu",
                       static_cast<void*>(l.f), kernel_name(d, l.f), l.grid[0], l.grid[1], l.grid[2], l.block[0],
                       l.block[1], l.block[2], l.shared_bytes, static_cast<void*>(s), queue);
}
int describe_launch_ex(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver* d) {
  const CUlaunchConfig& g = *c.launch_ex.config;
  return std::snprintf(out, n, "func=%p name=%s grid=(%u,%u,%u) block=(%u,%u,%u) shared=%u attrs=%u stream=%p queue=%llu",
                       static_cast<void*>(c.launch_ex.f), kernel_name(d, c.launch_ex.f), g.gridDimX, g.gridDimY,
                       g.gridDimZ, g.blockDimX, g.blockDimY, g.blockDimZ, g.sharedMemBytes, g.numAttrs,
                       static_cast<void*>(s), queue);
}
int describe_memcpy(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver*) {
  return std::snprintf(out, n, "dst=%p src=%p bytes=%zu stream=%p queue=%llu", as_ptr(c.memcpy.dst), as_ptr(c.memcpy.src),
                       c.memcpy.bytes, static_cast<void*>(s), queue);
}
template <class Desc>
int describe_memcpy_nd(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver*) {
  const auto& desc = *static_cast<const Desc*>(c.memcpy_nd.desc);
  return std::snprintf(out, n, "width=%zu height=%zu stream=%p queue=%llu", desc.WidthInBytes, desc.Height,
                       static_cast<void*>(s), queue);
}
int describe_memset(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver*) {
  const Memset& m = c.memset;
  return std::snprintf(out, n, "dst=%p value=%u width=%zu height=%zu stream=%p queue=%llu", as_ptr(m.dst), m.value, m.width,
                       m.height, static_cast<void*>(s), queue);
}
int describe_event_record(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver*) {
  return std::snprintf(out, n, "event=%p stream=%p queue=%llu", static_cast<void*>(c.event.event), static_cast<void*>(s),
                       queue);
}
int describe_event_wait(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver*) {
  return std::snprintf(out, n, "stream=%p event=%p queue=%llu", static_cast<void*>(s), static_cast<void*>(c.event.event),
                       queue);
}
int describe_host_fn(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver*) {
  return std::snprintf(out, n, "fn=%p stream=%p queue=%llu", c.host_fn.fn, static_cast<void*>(s), queue);
}
int describe_graph(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver*) {
  return std::snprintf(out, n, "graph=%p stream=%p queue=%llu", static_cast<void*>(c.graph.exec), static_cast<void*>(s),
                       queue);
}
int describe_mem_free(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver*) {
  return std::snprintf(out, n, "ptr=%p stream=%p queue=%llu", as_ptr(c.mem_free.ptr), static_cast<void*>(s), queue);
}
int describe_value(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver*) {
  return std::snprintf(out, n, "addr=%p value=%llu flags=%u stream=%p queue=%llu", as_ptr(c.value.addr),
                       static_cast<unsigned long long>(c.value.value), c.value.flags, static_cast<void*>(s), queue);
}
int describe_batch(char* out, std::size_t n, const Call& c, CUstream s, Q queue, const Driver*) {
  return std::snprintf(out, n, "count=%u stream=%p queue=%llu", c.batch.count, static_cast<void*>(s), queue);
}

}  // namespace

// ---- the table ----

constexpr std::array<OpRow, kOpCount> kOpRows = {{
    {.op = Op::kLaunch, .name = "cuLaunchKernel", .kind = XS_CMD_KERNEL, .issue = issue_launch,
     .kernel = kernel_of_launch, .persist = persist_launch, .release = release_launch, .describe = describe_launch},
    {.op = Op::kLaunchCooperative, .name = "cuLaunchCooperativeKernel", .kind = XS_CMD_KERNEL,
     .issue = issue_launch_cooperative, .kernel = kernel_of_launch, .persist = persist_launch, .release = release_launch,
     .describe = describe_launch},
    {.op = Op::kLaunchEx, .name = "cuLaunchKernelEx", .kind = XS_CMD_KERNEL, .issue = issue_launch_ex,
     .kernel = kernel_of_launch_ex, .persist = persist_launch_ex, .release = release_launch_ex,
     .describe = describe_launch_ex},
    {.op = Op::kMemcpy, .name = "cuMemcpyAsync", .kind = XS_CMD_COPY, .issue = issue_memcpy, .persist = persist_memcpy,
     .describe = describe_memcpy},
    {.op = Op::kMemcpyHtoD, .name = "cuMemcpyHtoDAsync", .kind = XS_CMD_COPY, .issue = issue_memcpy_htod,
     .persist = persist_memcpy, .describe = describe_memcpy},
    {.op = Op::kMemcpyDtoH, .name = "cuMemcpyDtoHAsync", .kind = XS_CMD_COPY, .issue = issue_memcpy_dtoh,
     .persist = persist_memcpy, .describe = describe_memcpy},
    {.op = Op::kMemcpyDtoD, .name = "cuMemcpyDtoDAsync", .kind = XS_CMD_COPY, .issue = issue_memcpy_dtod,
     .describe = describe_memcpy},
    {.op = Op::kMemcpyPeer, .name = "cuMemcpyPeerAsync", .kind = XS_CMD_COPY, .issue = issue_memcpy_peer,
     .describe = describe_memcpy},
    {.op = Op::kMemcpy2D, .name = "cuMemcpy2DAsync", .kind = XS_CMD_COPY, .issue = issue_memcpy_2d,
     .persist = persist_memcpy_nd<CUDA_MEMCPY2D>, .release = release_memcpy_nd,
     .describe = describe_memcpy_nd<CUDA_MEMCPY2D>},
    {.op = Op::kMemcpy3D, .name = "cuMemcpy3DAsync", .kind = XS_CMD_COPY, .issue = issue_memcpy_3d,
     .persist = persist_memcpy_nd<CUDA_MEMCPY3D>, .release = release_memcpy_nd,
     .describe = describe_memcpy_nd<CUDA_MEMCPY3D>},
    {.op = Op::kMemset, .name = "cuMemsetD*Async", .kind = XS_CMD_MEMSET, .issue = issue_memset,
     .describe = describe_memset},
    {.op = Op::kMemset2D, .name = "cuMemsetD2D*Async", .kind = XS_CMD_MEMSET, .issue = issue_memset_2d,
     .describe = describe_memset},
    {.op = Op::kEventRecord, .name = "cuEventRecord", .kind = XS_CMD_EVENT_RECORD, .issue = issue_event_record,
     .describe = describe_event_record},
    {.op = Op::kEventWait, .name = "cuStreamWaitEvent", .kind = XS_CMD_EVENT_WAIT, .issue = issue_event_wait,
     .persist = persist_event_wait, .release = release_event_wait, .describe = describe_event_wait},
    {.op = Op::kHostFunc, .name = "cuLaunchHostFunc", .kind = XS_CMD_HOST_FUNC, .issue = issue_host_func,
     .describe = describe_host_fn},
    {.op = Op::kCallback, .name = "cuStreamAddCallback", .kind = XS_CMD_HOST_FUNC, .issue = issue_callback,
     .describe = describe_host_fn},
    {.op = Op::kGraphLaunch, .name = "cuGraphLaunch", .kind = XS_CMD_GRAPH, .issue = issue_graph_launch,
     .describe = describe_graph},
    {.op = Op::kMemFree, .name = "cuMemFreeAsync", .kind = XS_CMD_MEM_OP, .issue = issue_mem_free,
     .describe = describe_mem_free},
    {.op = Op::kWaitValue32, .name = "cuStreamWaitValue32", .kind = XS_CMD_MEM_OP, .issue = issue_wait_value32,
     .describe = describe_value},
    {.op = Op::kWaitValue64, .name = "cuStreamWaitValue64", .kind = XS_CMD_MEM_OP, .issue = issue_wait_value64,
     .describe = describe_value},
    {.op = Op::kWriteValue32, .name = "cuStreamWriteValue32", .kind = XS_CMD_MEM_OP, .issue = issue_write_value32,
     .describe = describe_value},
    {.op = Op::kWriteValue64, .name = "cuStreamWriteValue64", .kind = XS_CMD_MEM_OP, .issue = issue_write_value64,
     .describe = describe_value},
    {.op = Op::kBatchMemOp, .name = "cuStreamBatchMemOp", .kind = XS_CMD_MEM_OP, .issue = issue_batch_mem_op,
     .persist = persist_batch_mem_op, .release = release_batch_mem_op, .describe = describe_batch},
}};

// Every Op has its row, in Op order, with a name and a way to issue it; what
// persist takes, release gives back.
consteval bool rows_complete() {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const OpRow& r = kOpRows[i];
    if (r.op != static_cast<Op>(i) || r.name == nullptr || r.issue == nullptr) return false;
  }
  return true;
}
static_assert(rows_complete(), "an Op of call.h has no row in kOpRows, or its row is out of order or lacks name or issue");

}  // namespace xsched::cuda

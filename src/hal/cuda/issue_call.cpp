#include "hal/cuda/issue_call.h"

namespace xsched::cuda {

const char* op_name(Op op) {
  static const char* const kNames[] = {
      "cuLaunchKernel",      "cuLaunchCooperativeKernel", "cuLaunchKernelEx",     "cuMemcpyAsync",
      "cuMemcpyHtoDAsync",   "cuMemcpyDtoHAsync",         "cuMemcpyDtoDAsync",    "cuMemcpyPeerAsync",
      "cuMemcpy2DAsync",     "cuMemcpy3DAsync",           "cuMemset*Async",       "cuEventRecord",
      "cuStreamWaitEvent",   "cuLaunchHostFunc",          "cuStreamAddCallback",  "cuGraphLaunch",
      "cuMemFreeAsync",      "cuStreamWaitValue32",       "cuStreamWaitValue64",  "cuStreamWriteValue32",
      "cuStreamWriteValue64", "cuStreamBatchMemOp",
  };
  const auto i = static_cast<std::size_t>(op);
  return i < sizeof kNames / sizeof kNames[0] ? kNames[i] : "?";
}

CUresult issue_call(const Driver& d, const Call& c, CUstream s) {
  switch (c.op) {
    case Op::kLaunch: {
      const Launch& l = c.launch;
      return d.cuLaunchKernel(l.f, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2], l.shared_bytes, s,
                              l.params, l.extra);
    }
    case Op::kLaunchCooperative: {
      const Launch& l = c.launch;
      if (d.cuLaunchCooperativeKernel == nullptr) return CUDA_ERROR_NOT_SUPPORTED;
      return d.cuLaunchCooperativeKernel(l.f, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2],
                                         l.shared_bytes, s, l.params);
    }
    case Op::kLaunchEx: {
      if (d.cuLaunchKernelEx == nullptr) return CUDA_ERROR_NOT_SUPPORTED;
      CUlaunchConfig cfg = *c.launch_ex.config;
      cfg.hStream = s;
      return d.cuLaunchKernelEx(&cfg, c.launch_ex.f, c.launch_ex.params, c.launch_ex.extra);
    }
    case Op::kMemcpy: return d.cuMemcpyAsync(c.memcpy.dst, c.memcpy.src, c.memcpy.bytes, s);
    case Op::kMemcpyHtoD:
      return d.cuMemcpyHtoDAsync_v2(c.memcpy.dst, reinterpret_cast<const void*>(c.memcpy.src), c.memcpy.bytes, s);
    case Op::kMemcpyDtoH:
      return d.cuMemcpyDtoHAsync_v2(reinterpret_cast<void*>(c.memcpy.dst), c.memcpy.src, c.memcpy.bytes, s);
    case Op::kMemcpyDtoD: return d.cuMemcpyDtoDAsync_v2(c.memcpy.dst, c.memcpy.src, c.memcpy.bytes, s);
    case Op::kMemcpyPeer:
      if (d.cuMemcpyPeerAsync == nullptr) return CUDA_ERROR_NOT_SUPPORTED;
      return d.cuMemcpyPeerAsync(c.memcpy.dst, c.memcpy.dst_ctx, c.memcpy.src, c.memcpy.src_ctx, c.memcpy.bytes, s);
    case Op::kMemcpy2D:
      if (d.cuMemcpy2DAsync_v2 == nullptr) return CUDA_ERROR_NOT_SUPPORTED;
      return d.cuMemcpy2DAsync_v2(static_cast<const CUDA_MEMCPY2D*>(c.memcpy_nd.desc), s);
    case Op::kMemcpy3D:
      if (d.cuMemcpy3DAsync_v2 == nullptr) return CUDA_ERROR_NOT_SUPPORTED;
      return d.cuMemcpy3DAsync_v2(static_cast<const CUDA_MEMCPY3D*>(c.memcpy_nd.desc), s);
    case Op::kMemset: {
      const Memset& m = c.memset;
      if (m.pitch == 0) {
        switch (m.element_bytes) {
          case 1: return d.cuMemsetD8Async(m.dst, static_cast<unsigned char>(m.value), m.width, s);
          case 2: return d.cuMemsetD16Async(m.dst, static_cast<unsigned short>(m.value), m.width, s);
          default: return d.cuMemsetD32Async(m.dst, m.value, m.width, s);
        }
      }
      switch (m.element_bytes) {
        case 1:
          return d.cuMemsetD2D8Async != nullptr
                     ? d.cuMemsetD2D8Async(m.dst, m.pitch, static_cast<unsigned char>(m.value), m.width, m.height, s)
                     : CUDA_ERROR_NOT_SUPPORTED;
        case 2:
          return d.cuMemsetD2D16Async != nullptr
                     ? d.cuMemsetD2D16Async(m.dst, m.pitch, static_cast<unsigned short>(m.value), m.width, m.height, s)
                     : CUDA_ERROR_NOT_SUPPORTED;
        default:
          return d.cuMemsetD2D32Async != nullptr ? d.cuMemsetD2D32Async(m.dst, m.pitch, m.value, m.width, m.height, s)
                                                 : CUDA_ERROR_NOT_SUPPORTED;
      }
    }
    case Op::kEventRecord:
      if (c.event.with_flags) {
        return d.cuEventRecordWithFlags != nullptr ? d.cuEventRecordWithFlags(c.event.event, s, c.event.flags)
                                                   : CUDA_ERROR_NOT_SUPPORTED;
      }
      return d.cuEventRecord(c.event.event, s);
    case Op::kEventWait: return d.cuStreamWaitEvent(s, c.event.event, c.event.flags);
    case Op::kHostFunc: return d.cuLaunchHostFunc(s, reinterpret_cast<CUhostFn>(c.host_fn.fn), c.host_fn.data);
    case Op::kCallback:
      return d.cuStreamAddCallback(s, reinterpret_cast<CUstreamCallback>(c.host_fn.fn), c.host_fn.data, c.host_fn.flags);
    case Op::kGraphLaunch:
      return d.cuGraphLaunch != nullptr ? d.cuGraphLaunch(c.graph.exec, s) : CUDA_ERROR_NOT_SUPPORTED;
    case Op::kMemFree:
      return d.cuMemFreeAsync != nullptr ? d.cuMemFreeAsync(c.mem_free.ptr, s) : CUDA_ERROR_NOT_SUPPORTED;
    case Op::kWaitValue32:
      return d.cuStreamWaitValue32_v2 != nullptr
                 ? d.cuStreamWaitValue32_v2(s, c.value.addr, static_cast<cuuint32_t>(c.value.value), c.value.flags)
                 : CUDA_ERROR_NOT_SUPPORTED;
    case Op::kWaitValue64:
      return d.cuStreamWaitValue64_v2 != nullptr ? d.cuStreamWaitValue64_v2(s, c.value.addr, c.value.value, c.value.flags)
                                                 : CUDA_ERROR_NOT_SUPPORTED;
    case Op::kWriteValue32:
      return d.cuStreamWriteValue32_v2 != nullptr
                 ? d.cuStreamWriteValue32_v2(s, c.value.addr, static_cast<cuuint32_t>(c.value.value), c.value.flags)
                 : CUDA_ERROR_NOT_SUPPORTED;
    case Op::kWriteValue64:
      return d.cuStreamWriteValue64_v2 != nullptr
                 ? d.cuStreamWriteValue64_v2(s, c.value.addr, c.value.value, c.value.flags)
                 : CUDA_ERROR_NOT_SUPPORTED;
    case Op::kBatchMemOp:
      return d.cuStreamBatchMemOp_v2 != nullptr ? d.cuStreamBatchMemOp_v2(s, c.batch.count, c.batch.ops, c.batch.flags)
                                                : CUDA_ERROR_NOT_SUPPORTED;
  }
  return CUDA_ERROR_NOT_SUPPORTED;
}

}  // namespace xsched::cuda

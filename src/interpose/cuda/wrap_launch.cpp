// Kernel launches, host functions and graph launches: commands on the
// stream's queue; and what changes a kernel that persisted launches read.
#include "interpose/cuda/export.h"
#include "interpose/cuda/forward.h"
#include "interpose/cuda/submit.h"
#include "interpose/common/trace.h"

using xsched::interpose::StreamKind;
namespace ip = xsched::interpose;
namespace cu = xsched::cuda;
using cu::Call;
using cu::Op;

extern "C" {

XS_CUDA_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                       unsigned bz, unsigned shared, CUstream s, void** params, void** extra) {
  const Call c = Call::of(Op::kLaunch, cu::Launch{f, params, extra, {gx, gy, gz}, {bx, by, bz}, shared});
  return ip::submit_call(__func__, s, StreamKind::kLegacy, c);
}
XS_CUDA_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                            unsigned by, unsigned bz, unsigned shared, CUstream s, void** params,
                                            void** extra) {
  const Call c = Call::of(Op::kLaunch, cu::Launch{f, params, extra, {gx, gy, gz}, {bx, by, bz}, shared});
  return ip::submit_call(__func__, s, StreamKind::kPerThread, c);
}
XS_CUDA_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                                  unsigned by, unsigned bz, unsigned shared, CUstream s, void** params) {
  const Call c = Call::of(Op::kLaunchCooperative, cu::Launch{f, params, nullptr, {gx, gy, gz}, {bx, by, bz}, shared});
  return ip::submit_call(__func__, s, StreamKind::kLegacy, c);
}
XS_CUDA_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                                       unsigned by, unsigned bz, unsigned shared, CUstream s,
                                                       void** params) {
  const Call c = Call::of(Op::kLaunchCooperative, cu::Launch{f, params, nullptr, {gx, gy, gz}, {bx, by, bz}, shared});
  return ip::submit_call(__func__, s, StreamKind::kPerThread, c);
}
// Without a configuration there is no stream to schedule: the driver answers.
XS_CUDA_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** params, void** extra) {
  if (config == nullptr) return ip::forward(&cu::Driver::cuLaunchKernelEx, config, f, params, extra);
  const Call c = Call::of(Op::kLaunchEx, cu::LaunchEx{config, f, params, extra});
  return ip::submit_call(__func__, config->hStream, StreamKind::kLegacy, c);
}
XS_CUDA_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f, void** params, void** extra) {
  if (config == nullptr) return ip::forward(&cu::Driver::cuLaunchKernelEx, config, f, params, extra);
  const Call c = Call::of(Op::kLaunchEx, cu::LaunchEx{config, f, params, extra});
  return ip::submit_call(__func__, config->hStream, StreamKind::kPerThread, c);
}
XS_CUDA_EXPORT CUresult cuLaunchHostFunc(CUstream s, CUhostFn fn, void* data) {
  const Call c = Call::of(Op::kHostFunc, cu::HostFn{reinterpret_cast<void*>(fn), data, 0});
  return ip::submit_call(__func__, s, StreamKind::kLegacy, c);
}
XS_CUDA_EXPORT CUresult cuLaunchHostFunc_ptsz(CUstream s, CUhostFn fn, void* data) {
  const Call c = Call::of(Op::kHostFunc, cu::HostFn{reinterpret_cast<void*>(fn), data, 0});
  return ip::submit_call(__func__, s, StreamKind::kPerThread, c);
}
XS_CUDA_EXPORT CUresult cuStreamAddCallback(CUstream s, CUstreamCallback fn, void* data, unsigned flags) {
  const Call c = Call::of(Op::kCallback, cu::HostFn{reinterpret_cast<void*>(fn), data, flags});
  return ip::submit_call(__func__, s, StreamKind::kLegacy, c);
}
XS_CUDA_EXPORT CUresult cuStreamAddCallback_ptsz(CUstream s, CUstreamCallback fn, void* data, unsigned flags) {
  const Call c = Call::of(Op::kCallback, cu::HostFn{reinterpret_cast<void*>(fn), data, flags});
  return ip::submit_call(__func__, s, StreamKind::kPerThread, c);
}
XS_CUDA_EXPORT CUresult cuGraphLaunch(CUgraphExec exec, CUstream s) {
  return ip::submit_call(__func__, s, StreamKind::kLegacy, Call::of(Op::kGraphLaunch, cu::Graph{exec}));
}
XS_CUDA_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec exec, CUstream s) {
  return ip::submit_call(__func__, s, StreamKind::kPerThread, Call::of(Op::kGraphLaunch, cu::Graph{exec}));
}

// A kernel's attributes are read when a launch reaches the driver: persisted
// launches must reach it before they change (cuDNN sets the dynamic shared
// memory size of a kernel before launching it with that size).
XS_CUDA_EXPORT CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute attr, int value) {
  ip::flush_launches_of(f);
  const CUresult r = ip::forward(&cu::Driver::cuFuncSetAttribute, f, attr, value);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "func=%p attr=%d value=%d", static_cast<void*>(f), attr, value);
  return r;
}
XS_CUDA_EXPORT CUresult cuKernelSetAttribute(CUfunction_attribute attr, int value, CUkernel k, CUdevice dev) {
  ip::flush_launches_of(reinterpret_cast<CUfunction>(k));
  const CUresult r = ip::forward(&cu::Driver::cuKernelSetAttribute, attr, value, k, dev);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "kernel=%p attr=%d value=%d", static_cast<void*>(k), attr, value);
  return r;
}
XS_CUDA_EXPORT CUresult cuFuncSetCacheConfig(CUfunction f, CUfunc_cache config) {
  ip::flush_launches_of(f);
  const CUresult r = ip::forward(&cu::Driver::cuFuncSetCacheConfig, f, config);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "func=%p config=%d", static_cast<void*>(f), config);
  return r;
}
XS_CUDA_EXPORT CUresult cuKernelSetCacheConfig(CUkernel k, CUfunc_cache config, CUdevice dev) {
  ip::flush_launches_of(reinterpret_cast<CUfunction>(k));
  const CUresult r = ip::forward(&cu::Driver::cuKernelSetCacheConfig, k, config, dev);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "kernel=%p config=%d", static_cast<void*>(k), config);
  return r;
}

}  // extern "C"

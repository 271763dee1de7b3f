// Kernel launches, host functions and graph launches: commands on the
// stream's queue.
#include "interpose/cuda/call_helpers.h"

namespace xsched::interpose {
namespace {

const char* kernel_name(CUfunction f) {
  const char* name = nullptr;
  if (call_real(XS_REAL(cuFuncGetName), &name, f) != CUDA_SUCCESS || name == nullptr) return "?";
  return name;
}

// A kernel the driver would load lazily at this launch is loaded first, with
// the gates open (gates.h): loading waits for every stream of the context.
void load_before_launch(CUfunction f, CUstream s, Flavor fl) {
  if (!cuda::gates_in_use()) return;
  auto sq = stream_queue(s, fl);
  if (sq == nullptr || sq->capturing()) return;
  if (cuda::load_function_before_launch(*driver(), f, sq->ctx)) expedite_launched_everywhere();
}

CUresult launch_kernel(const char* api, Flavor fl, bool cooperative, CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                       unsigned bx, unsigned by, unsigned bz, unsigned shared, CUstream s, void** params, void** extra) {
  load_before_launch(f, s, fl);
  cuda::Call c{};
  c.op = cooperative ? cuda::Op::kLaunchCooperative : cuda::Op::kLaunch;
  c.launch = cuda::Launch{f, params, extra, {gx, gy, gz}, {bx, by, bz}, shared};
  const StreamOpResult r = run_stream_op(s, fl, XS_CMD_KERNEL, c, [&](CUstream st) {
    return cooperative ? call_real(XS_REAL(cuLaunchCooperativeKernel), f, gx, gy, gz, bx, by, bz, shared, st, params)
                       : call_real(XS_REAL(cuLaunchKernel), f, gx, gy, gz, bx, by, bz, shared, st, params, extra);
  });
  if (trace_enabled()) {
    trace_call(api, r.result, "func=%p name=%s grid=(%u,%u,%u) block=(%u,%u,%u) shared=%u stream=%p queue=%llu",
               static_cast<void*>(f), kernel_name(f), gx, gy, gz, bx, by, bz, shared, static_cast<void*>(s), queue_id(r));
  }
  return r.result;
}

CUresult launch_kernel_ex(const char* api, Flavor fl, const CUlaunchConfig* config, CUfunction f, void** params,
                          void** extra) {
  if (config == nullptr) return call_real(XS_REAL(cuLaunchKernelEx), config, f, params, extra);
  load_before_launch(f, config->hStream, fl);
  cuda::Call c{};
  c.op = cuda::Op::kLaunchEx;
  c.launch_ex = cuda::LaunchEx{config, f, params, extra};
  const StreamOpResult r = run_stream_op(config->hStream, fl, XS_CMD_KERNEL, c, [&](CUstream st) {
    CUlaunchConfig spelled = *config;
    spelled.hStream = st;
    return call_real(XS_REAL(cuLaunchKernelEx), &spelled, f, params, extra);
  });
  if (trace_enabled()) {
    trace_call(api, r.result, "func=%p name=%s grid=(%u,%u,%u) block=(%u,%u,%u) shared=%u attrs=%u stream=%p queue=%llu",
               static_cast<void*>(f), kernel_name(f), config->gridDimX, config->gridDimY, config->gridDimZ,
               config->blockDimX, config->blockDimY, config->blockDimZ, config->sharedMemBytes, config->numAttrs,
               static_cast<void*>(config->hStream), queue_id(r));
  }
  return r.result;
}

CUresult host_func(const char* api, Flavor fl, CUstream s, CUhostFn fn, void* data) {
  cuda::Call c{};
  c.op = cuda::Op::kHostFunc;
  c.host_fn = cuda::HostFn{reinterpret_cast<void*>(fn), data, 0};
  const StreamOpResult r = run_stream_op(s, fl, XS_CMD_HOST_FUNC, c,
                                         [&](CUstream st) { return call_real(XS_REAL(cuLaunchHostFunc), st, fn, data); });
  if (trace_enabled()) trace_call(api, r.result, "fn=%p stream=%p queue=%llu", reinterpret_cast<void*>(fn), static_cast<void*>(s), queue_id(r));
  return r.result;
}

CUresult add_callback(const char* api, Flavor fl, CUstream s, CUstreamCallback fn, void* data, unsigned flags) {
  cuda::Call c{};
  c.op = cuda::Op::kCallback;
  c.host_fn = cuda::HostFn{reinterpret_cast<void*>(fn), data, flags};
  const StreamOpResult r = run_stream_op(
      s, fl, XS_CMD_HOST_FUNC, c, [&](CUstream st) { return call_real(XS_REAL(cuStreamAddCallback), st, fn, data, flags); });
  if (trace_enabled()) trace_call(api, r.result, "fn=%p stream=%p queue=%llu", reinterpret_cast<void*>(fn), static_cast<void*>(s), queue_id(r));
  return r.result;
}

CUresult graph_launch(const char* api, Flavor fl, CUgraphExec exec, CUstream s) {
  cuda::Call c{};
  c.op = cuda::Op::kGraphLaunch;
  c.graph = cuda::Graph{exec};
  const StreamOpResult r =
      run_stream_op(s, fl, XS_CMD_GRAPH, c, [&](CUstream st) { return call_real(XS_REAL(cuGraphLaunch), exec, st); });
  if (trace_enabled()) trace_call(api, r.result, "graph=%p stream=%p queue=%llu", static_cast<void*>(exec), static_cast<void*>(s), queue_id(r));
  return r.result;
}

}  // namespace
}  // namespace xsched::interpose

using xsched::interpose::Flavor;
namespace ip = xsched::interpose;

extern "C" {

XS_CUDA_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                       unsigned bz, unsigned shared, CUstream s, void** params, void** extra) {
  return ip::launch_kernel(__func__, Flavor::kLegacy, false, f, gx, gy, gz, bx, by, bz, shared, s, params, extra);
}
XS_CUDA_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                            unsigned by, unsigned bz, unsigned shared, CUstream s, void** params,
                                            void** extra) {
  return ip::launch_kernel(__func__, Flavor::kPerThread, false, f, gx, gy, gz, bx, by, bz, shared, s, params, extra);
}
XS_CUDA_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                                  unsigned by, unsigned bz, unsigned shared, CUstream s, void** params) {
  return ip::launch_kernel(__func__, Flavor::kLegacy, true, f, gx, gy, gz, bx, by, bz, shared, s, params, nullptr);
}
XS_CUDA_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                                       unsigned by, unsigned bz, unsigned shared, CUstream s,
                                                       void** params) {
  return ip::launch_kernel(__func__, Flavor::kPerThread, true, f, gx, gy, gz, bx, by, bz, shared, s, params, nullptr);
}
XS_CUDA_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** params, void** extra) {
  return ip::launch_kernel_ex(__func__, Flavor::kLegacy, config, f, params, extra);
}
XS_CUDA_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f, void** params, void** extra) {
  return ip::launch_kernel_ex(__func__, Flavor::kPerThread, config, f, params, extra);
}
XS_CUDA_EXPORT CUresult cuLaunchHostFunc(CUstream s, CUhostFn fn, void* data) {
  return ip::host_func(__func__, Flavor::kLegacy, s, fn, data);
}
XS_CUDA_EXPORT CUresult cuLaunchHostFunc_ptsz(CUstream s, CUhostFn fn, void* data) {
  return ip::host_func(__func__, Flavor::kPerThread, s, fn, data);
}
XS_CUDA_EXPORT CUresult cuStreamAddCallback(CUstream s, CUstreamCallback fn, void* data, unsigned flags) {
  return ip::add_callback(__func__, Flavor::kLegacy, s, fn, data, flags);
}
XS_CUDA_EXPORT CUresult cuStreamAddCallback_ptsz(CUstream s, CUstreamCallback fn, void* data, unsigned flags) {
  return ip::add_callback(__func__, Flavor::kPerThread, s, fn, data, flags);
}
// A kernel's attributes are read when a launch reaches the driver: launches
// held back must reach it before they change (cuDNN sets the dynamic shared
// memory size of a kernel before launching it with that size).
XS_CUDA_EXPORT CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute attr, int value) {
  ip::flush_launches_of(f);
  const CUresult r = ip::call_real(XS_REAL(cuFuncSetAttribute), f, attr, value);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "func=%p attr=%d value=%d", static_cast<void*>(f), attr, value);
  return r;
}
XS_CUDA_EXPORT CUresult cuKernelSetAttribute(CUfunction_attribute attr, int value, CUkernel k, CUdevice dev) {
  ip::flush_launches_of(reinterpret_cast<CUfunction>(k));
  const CUresult r = ip::call_real(XS_REAL(cuKernelSetAttribute), attr, value, k, dev);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "kernel=%p attr=%d value=%d", static_cast<void*>(k), attr, value);
  return r;
}
XS_CUDA_EXPORT CUresult cuFuncSetCacheConfig(CUfunction f, CUfunc_cache config) {
  ip::flush_launches_of(f);
  const CUresult r = ip::call_real(XS_REAL(cuFuncSetCacheConfig), f, config);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "func=%p config=%d", static_cast<void*>(f), config);
  return r;
}
XS_CUDA_EXPORT CUresult cuKernelSetCacheConfig(CUkernel k, CUfunc_cache config, CUdevice dev) {
  ip::flush_launches_of(reinterpret_cast<CUfunction>(k));
  const CUresult r = ip::call_real(XS_REAL(cuKernelSetCacheConfig), k, config, dev);
  if (ip::trace_enabled()) ip::trace_call(__func__, r, "kernel=%p config=%d", static_cast<void*>(k), config);
  return r;
}

XS_CUDA_EXPORT CUresult cuGraphLaunch(CUgraphExec exec, CUstream s) {
  return ip::graph_launch(__func__, Flavor::kLegacy, exec, s);
}
XS_CUDA_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec exec, CUstream s) {
  return ip::graph_launch(__func__, Flavor::kPerThread, exec, s);
}

}  // extern "C"

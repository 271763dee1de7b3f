// The HIP interposer's wrappers of kernel launches. A kernel whose arguments
// come as one packed buffer (hipModuleLaunchKernel's and
// hipExtModuleLaunchKernel's `extra`) becomes a command of the stream's
// queue, which keeps a copy of the buffer while it holds the kernel. A launch
// whose arguments' sizes the interposer cannot know (kernelParams,
// hipLaunchKernel: the runtime API and hipcc's `<<<>>>`, whose stub pops the
// configuration __hipPushCallConfiguration pushed and calls hipLaunchKernel)
// goes to the runtime as made, after what the stream holds.
#include <cstdint>

#include "interpose/common/trace.h"
#include "interpose/hip/wrap_common.h"

namespace xsched::interpose::hip {
namespace {

using xsched::hip::HipCall;
using xsched::hip::HipOp;

// A launch the queue can hold: a function, and its arguments as one packed buffer.
bool holdable(const Target& t, hipFunction_t f, void** params, void** extra, const void** args, size_t* bytes) {
  return t.sq != nullptr && f != nullptr && params == nullptr && packed_args(extra, args, bytes);
}

using ExtLaunchFn = decltype(xsched::hip::Runtime::hipExtModuleLaunchKernel);

// The runtime's hipExtModuleLaunchKernel, by its C name or its C++ one.
ExtLaunchFn real_ext_launch() {
  static const ExtLaunchFn fn = [] {
    void* f = real_symbol("hipExtModuleLaunchKernel");
    if (f == nullptr) f = real_symbol(xsched::hip::kExtModuleLaunchKernelCxx);
    return reinterpret_cast<ExtLaunchFn>(f);
  }();
  return fn;
}

// hipExtModuleLaunchKernel: the grid in work-items, and events recorded
// around the kernel. Held only without events (the runtime records them
// when the kernel is launched, so a held kernel would leave them unrecorded
// meanwhile) and without flags, whose queue launches it through the same call.
hipError_t ext_module_launch(hipFunction_t f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t lx, uint32_t ly,
                             uint32_t lz, size_t shared, hipStream_t stream, void** params, void** extra,
                             hipEvent_t start, hipEvent_t stop, uint32_t flags) {
  const ExtLaunchFn real = real_ext_launch();
  auto direct = [&] {
    return real != nullptr ? real(f, gx, gy, gz, lx, ly, lz, shared, stream, params, extra, start, stop, flags)
                           : hipErrorNotSupported;
  };
  const Target t = target(stream, Zero::kNullStream);
  const void* args = nullptr;
  size_t bytes = 0;
  const xsched::hip::Runtime* rt = runtime();
  hipError_t r;
  if (holdable(t, f, params, extra, &args, &bytes) && start == nullptr && stop == nullptr && flags == 0 &&
      shared <= UINT32_MAX && rt != nullptr && rt->hipExtModuleLaunchKernel != nullptr) {
    HipCall c{};
    c.op = HipOp::kLaunch;
    c.launch = {f, {gx, gy, gz}, {lx, ly, lz}, static_cast<uint32_t>(shared), true, args, bytes};
    r = submit(*t.sq, c, direct);
  } else {
    r = after_flushing(t, direct);
  }
  if (trace_enabled()) {
    trace_call("hipExtModuleLaunchKernel", r,
               "function=%p stream=%p global=%ux%ux%u local=%ux%ux%u events=%p,%p queue=%llu", static_cast<void*>(f),
               static_cast<void*>(stream), gx, gy, gz, lx, ly, lz, static_cast<void*>(start),
               static_cast<void*>(stop), queue_id(t));
  }
  return r;
}

template <class Real>
hipError_t launch_kernel(const char* api, Real real, const void* host_fn, dim3 grid, dim3 block, void** args,
                         size_t shared, hipStream_t stream, Zero zero) {
  const Target t = target(stream, zero);
  const hipError_t r = after_flushing(
      t, [&] { return real != nullptr ? real(host_fn, grid, block, args, shared, stream) : hipErrorNotInitialized; });
  if (trace_enabled()) {
    trace_call(api, r, "function=%p stream=%p grid=%ux%ux%u block=%ux%ux%u queue=%llu", host_fn,
               static_cast<void*>(stream), grid.x, grid.y, grid.z, block.x, block.y, block.z, queue_id(t));
  }
  return r;
}

}  // namespace
}  // namespace xsched::interpose::hip

namespace ih = xsched::interpose::hip;
using xsched::interpose::trace_call;
using xsched::interpose::trace_enabled;

// Under the runtime's exported names (asm labels), whatever the headers
// declare: hipExtModuleLaunchKernel has C linkage from ROCm 6 and C++
// linkage before (programs built against either call their own), and
// hipLaunchKernel_spt is missing from some headers.
XS_HIP_EXPORT hipError_t xs_hipExtModuleLaunchKernel(hipFunction_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t,
                                                     uint32_t, size_t, hipStream_t, void**, void**, hipEvent_t,
                                                     hipEvent_t, uint32_t) __asm__("hipExtModuleLaunchKernel");
__attribute__((visibility("default"))) hipError_t xs_hipExtModuleLaunchKernel_cxx(
    hipFunction_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, size_t, hipStream_t, void**, void**,
    hipEvent_t, hipEvent_t,
    uint32_t) __asm__(XS_HIP_EXT_MODULE_LAUNCH_KERNEL_CXX);
XS_HIP_EXPORT hipError_t xs_hipLaunchKernel_spt(const void*, dim3, dim3, void**, size_t, hipStream_t) __asm__(
    "hipLaunchKernel_spt");
using LaunchKernelFn = hipError_t (*)(const void*, dim3, dim3, void**, size_t, hipStream_t);

XS_HIP_EXPORT hipError_t hipModuleLaunchKernel(hipFunction_t f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                               unsigned by, unsigned bz, unsigned shared, hipStream_t stream,
                                               void** params, void** extra) {
  const auto fn = XS_REAL(hipModuleLaunchKernel);
  auto direct = [&] { return fn != nullptr ? fn(f, gx, gy, gz, bx, by, bz, shared, stream, params, extra) : hipErrorNotInitialized; };
  const ih::Target t = ih::target(stream, ih::Zero::kNullStream);
  const void* args = nullptr;
  size_t bytes = 0;
  hipError_t r;
  if (ih::holdable(t, f, params, extra, &args, &bytes)) {
    xsched::hip::HipCall c{};
    c.op = xsched::hip::HipOp::kLaunch;
    c.launch = {f, {gx, gy, gz}, {bx, by, bz}, shared, false, args, bytes};
    r = ih::submit(*t.sq, c, direct);
  } else {
    // kernelParams: the arguments' sizes are not known here, so the launch cannot wait.
    r = ih::after_flushing(t, direct);
  }
  if (trace_enabled()) {
    trace_call("hipModuleLaunchKernel", r, "function=%p stream=%p grid=%ux%ux%u block=%ux%ux%u queue=%llu",
               static_cast<void*>(f), static_cast<void*>(stream), gx, gy, gz, bx, by, bz, ih::queue_id(t));
  }
  return r;
}

XS_HIP_EXPORT hipError_t xs_hipExtModuleLaunchKernel(hipFunction_t f, uint32_t gx, uint32_t gy, uint32_t gz,
                                                     uint32_t lx, uint32_t ly, uint32_t lz, size_t shared,
                                                     hipStream_t stream, void** params, void** extra,
                                                     hipEvent_t start, hipEvent_t stop, uint32_t flags) {
  return ih::ext_module_launch(f, gx, gy, gz, lx, ly, lz, shared, stream, params, extra, start, stop, flags);
}

hipError_t xs_hipExtModuleLaunchKernel_cxx(hipFunction_t f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t lx,
                                           uint32_t ly, uint32_t lz, size_t shared, hipStream_t stream,
                                           void** params, void** extra, hipEvent_t start, hipEvent_t stop,
                                           uint32_t flags) {
  return ih::ext_module_launch(f, gx, gy, gz, lx, ly, lz, shared, stream, params, extra, start, stop, flags);
}

XS_HIP_EXPORT hipError_t hipLaunchKernel(const void* host_fn, dim3 grid, dim3 block, void** args, size_t shared,
                                         hipStream_t stream) {
  return ih::launch_kernel("hipLaunchKernel", XS_REAL(hipLaunchKernel), host_fn, grid, block, args, shared, stream,
                           ih::Zero::kNullStream);
}

XS_HIP_EXPORT hipError_t xs_hipLaunchKernel_spt(const void* host_fn, dim3 grid, dim3 block, void** args,
                                                size_t shared, hipStream_t stream) {
  static const auto real = ih::real<LaunchKernelFn>("hipLaunchKernel_spt");
  return ih::launch_kernel("hipLaunchKernel_spt", real, host_fn, grid, block, args, shared, stream,
                           ih::Zero::kPerThread);
}

// hipcc's `<<<grid, block, shared, stream>>>`: the configuration goes to the
// runtime (the kernel's stub pops it and calls hipLaunchKernel, above), traced.
XS_HIP_EXPORT hipError_t __hipPushCallConfiguration(dim3 grid, dim3 block, size_t shared, hipStream_t stream) {
  const auto fn = XS_REAL(__hipPushCallConfiguration);
  const hipError_t r = fn != nullptr ? fn(grid, block, shared, stream) : hipErrorNotInitialized;
  if (trace_enabled()) {
    trace_call("__hipPushCallConfiguration", r, "grid=%ux%ux%u block=%ux%ux%u shared=%zu stream=%p", grid.x, grid.y,
               grid.z, block.x, block.y, block.z, shared, static_cast<void*>(stream));
  }
  return r;
}

XS_HIP_EXPORT hipError_t __hipPopCallConfiguration(dim3* grid, dim3* block, size_t* shared, hipStream_t* stream) {
  const auto fn = XS_REAL(__hipPopCallConfiguration);
  const hipError_t r = fn != nullptr ? fn(grid, block, shared, stream) : hipErrorNotInitialized;
  if (trace_enabled()) {
    trace_call("__hipPopCallConfiguration", r, "stream=%p",
               r == hipSuccess && stream != nullptr ? static_cast<void*>(*stream) : nullptr);
  }
  return r;
}

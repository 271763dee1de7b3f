// The C API's CUDA platform: an application that links libxsched wraps its
// own CUstreams in XQueues (xs_queue_create(XS_PLATFORM_CUDA, stream, ...))
// and submits its kernels, copies, fills and host functions through them,
// with no interposer. The queues call the NVIDIA driver directly, found as
// the interposer finds it (hal/cuda/driver_library.h), never a copy of the
// interposer.
//
// A program run under the interposer has every stream scheduled already:
// there a CUDA queue of the C API is refused (XS_ERR_STATE), for two queues
// over one stream would each order only their own commands.
#include <dlfcn.h>

#include <mutex>

#include "api/native_table.h"
#include "api/platform_registry.h"
#include "core/config.h"
#include "core/log.h"
#include "hal/cuda/call.h"
#include "hal/cuda/cuda_queue.h"
#include "hal/cuda/device_of.h"
#include "hal/cuda/driver_library.h"
#include "hal/cuda/op_table.h"

namespace xsched::api {
namespace {

constinit hal::RealLibrary g_library{cuda::kDriverLibrary, "xs_queue_create (CUDA)"};

void* resolve(const char* name) { return g_library.symbol(name); }

const cuda::Driver* driver() { return native_table<cuda::Driver>(g_library, resolve, "the CUDA driver"); }

bool under_interposer() { return dlsym(RTLD_DEFAULT, "xsched_interposer_abi") != nullptr; }

xs_result_t open_cuda_queue(void* native, HwQueue* hw, XQueueOptions* opts) {
  if (under_interposer()) {
    static std::once_flag said;
    std::call_once(said, [] {
      log(LogLevel::kWarn, "xs_queue_create: this program runs under the CUDA interposer, which schedules its "
                           "streams already; a CUDA queue of the C API is refused");
    });
    return XS_ERR_STATE;
  }
  const cuda::Driver* d = driver();
  if (d == nullptr) return XS_ERR_STATE;
  auto stream = static_cast<CUstream>(native);
  CUcontext ctx = nullptr;
  if (d->cuStreamGetCtx(stream, &ctx) != CUDA_SUCCESS || ctx == nullptr) return XS_ERR_INVALID_HANDLE;
  cuda::describe_device(*d, ctx, *opts);
  cuda::QueueSpec spec{d, ctx, stream, /*owns_stream=*/false};
  spec.gate = opts->level != XS_LEVEL_BLOCK;
  spec.reserve_sms = process_config().reserve_sms;
  return cuda::make_hw_queue(spec, hw);
}

xs_result_t translate_cuda_command(const xs_command_t& in, Command* out, std::shared_ptr<ApiEvent>*) {
  cuda::Call call{};
  switch (in.kind) {
    case XS_CMD_KERNEL: {
      if (in.u.kernel.desc_size != sizeof(xs_cuda_kernel_t)) return XS_ERR_INVALID_ARG;
      const auto& k = *static_cast<const xs_cuda_kernel_t*>(in.u.kernel.desc);
      if (k.function == nullptr) return XS_ERR_INVALID_ARG;
      cuda::Launch l{static_cast<CUfunction>(k.function), k.params, nullptr,
                     {k.grid[0], k.grid[1], k.grid[2]}, {k.block[0], k.block[1], k.block[2]}, k.shared_bytes};
      call = cuda::Call::of(cuda::Op::kLaunch, l);
      break;
    }
    case XS_CMD_COPY:
      call = cuda::Call::of(cuda::Op::kMemcpy, cuda::Memcpy{reinterpret_cast<CUdeviceptr>(in.u.copy.dst),
                                                            reinterpret_cast<CUdeviceptr>(in.u.copy.src),
                                                            in.u.copy.bytes, nullptr, nullptr});
      break;
    case XS_CMD_MEMSET:
      call = cuda::Call::of(cuda::Op::kMemset, cuda::Memset{reinterpret_cast<CUdeviceptr>(in.u.memset.dst), 0,
                                                            in.u.memset.bytes, 1, in.u.memset.value, 1});
      break;
    case XS_CMD_HOST_FUNC:
      call = cuda::Call::of(cuda::Op::kHostFunc,
                            cuda::HostFn{reinterpret_cast<void*>(in.u.host_func.fn), in.u.host_func.arg, 0});
      break;
    default:
      // Events: a CUevent may go as soon as its user destroys it, and the
      // queue could launch a held record after that. Not yet.
      return XS_ERR_UNSUPPORTED;
  }
  const Command c = cuda::make_command(call, nullptr);
  out->op = c.op;
  out->platform_slot = c.platform_slot;
  return c.kind == out->kind ? XS_OK : XS_ERR_INTERNAL;
}

}  // namespace

const ApiPlatform kCudaPlatform = {
    .id = XS_PLATFORM_CUDA,
    .open_queue = open_cuda_queue,
    .translate = translate_cuda_command,
};

}  // namespace xsched::api

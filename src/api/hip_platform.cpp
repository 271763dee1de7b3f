// The C API's HIP platform: an application that links libxsched wraps its
// own hipStream_t's in XQueues (xs_queue_create(XS_PLATFORM_HIP, stream,
// ...)), sets their hints, and submits its kernels, copies, fills and host
// functions through them: the app-managed use of AMD GPUs. The queues call
// the HIP runtime (libamdhip64.so) directly, found as an interposer finds its
// library (hal/common/real_library.h: XSCHED_REAL_LIBHIP, the linker's
// cache, the ROCm folders).
#include <dlfcn.h>

#include <cstring>
#include <mutex>

#include "api/native_table.h"
#include "api/platform_registry.h"
#include "core/config.h"
#include "core/log.h"
#include "hal/hip/hip_call.h"
#include "hal/hip/hip_queue.h"
#include "hal/hip/runtime_library.h"
#include "hal/common/real_library.h"

namespace xsched::api {
namespace {

constinit hal::RealLibrary g_library{hip::kRuntimeLibrary, "xs_queue_create (HIP)"};

void* resolve(const char* name) { return g_library.symbol(name); }

const hip::Runtime* runtime() { return native_table<hip::Runtime>(g_library, resolve, "the HIP runtime"); }

// The stream's device, its identity and name. A stream knows its device
// (hipStreamGetDevice where the runtime has it); otherwise the calling
// thread's current device is taken, which is the stream's when the program
// makes its queue where it made its stream.
xs_result_t describe(const hip::Runtime& rt, hipStream_t stream, XQueueOptions* opts, int* device) {
  hipDevice_t dev = 0;
  if (rt.hipStreamGetDevice != nullptr && stream != nullptr) {
    if (rt.hipStreamGetDevice(stream, &dev) != hipSuccess) return XS_ERR_INVALID_HANDLE;
  } else if (rt.hipGetDevice(&dev) != hipSuccess) {
    return XS_ERR_STATE;
  }
  *device = dev;
  opts->device = dev;
  hipUUID uuid{};
  if (rt.hipDeviceGetUuid != nullptr && rt.hipDeviceGetUuid(&uuid, dev) == hipSuccess) {
    static_assert(sizeof uuid.bytes == 16);
    std::memcpy(opts->device_id.uuid.data(), uuid.bytes, 16);
  }
  if (rt.hipDeviceGetName != nullptr) {
    char name[sizeof opts->device_name] = {};
    if (rt.hipDeviceGetName(name, sizeof name - 1, dev) == hipSuccess) set_device_name(&opts->device_name, name);
  }
  return XS_OK;
}

xs_result_t open_hip_queue(void* native, HwQueue* hw, XQueueOptions* opts) {
  if (dlsym(RTLD_DEFAULT, "xsched_hip_interposer_abi") != nullptr) {
    static std::once_flag said;
    std::call_once(said, [] {
      log(LogLevel::kWarn, "xs_queue_create: this program runs under the HIP interposer, which schedules its "
                           "streams already; a HIP queue of the C API is refused");
    });
    return XS_ERR_STATE;
  }
  const hip::Runtime* rt = runtime();
  if (rt == nullptr) return XS_ERR_STATE;
  auto stream = static_cast<hipStream_t>(native);
  int device = 0;
  if (xs_result_t r = describe(*rt, stream, opts, &device); r != XS_OK) return r;
  hip::QueueSpec spec{rt, device, stream, opts->level != XS_LEVEL_BLOCK};
  return hip::make_hw_queue(spec, hw);
}

xs_result_t translate_hip_command(const xs_command_t& in, Command* out, std::shared_ptr<ApiEvent>*) {
  hip::HipCall call{};
  switch (in.kind) {
    case XS_CMD_KERNEL: {
      if (in.u.kernel.desc_size != sizeof(xs_hip_kernel_t)) return XS_ERR_INVALID_ARG;
      const auto& k = *static_cast<const xs_hip_kernel_t*>(in.u.kernel.desc);
      if (k.function == nullptr || k.args_bytes > hip::kMaxArgsBytes || (k.args_bytes > 0 && k.args == nullptr)) {
        return XS_ERR_INVALID_ARG;
      }
      call.op = hip::HipOp::kLaunch;
      call.launch = {static_cast<hipFunction_t>(k.function), {k.grid[0], k.grid[1], k.grid[2]},
                     {k.block[0], k.block[1], k.block[2]}, k.shared_bytes, false, k.args, k.args_bytes};
      break;
    }
    case XS_CMD_COPY:
      call.op = hip::HipOp::kMemcpy;
      call.memcpy = {in.u.copy.dst, in.u.copy.src, in.u.copy.bytes, hipMemcpyDefault};
      break;
    case XS_CMD_MEMSET:
      call.op = hip::HipOp::kMemset;
      call.memset = {in.u.memset.dst, in.u.memset.value, in.u.memset.bytes};
      break;
    case XS_CMD_HOST_FUNC:
      if (runtime()->hipLaunchHostFunc == nullptr) return XS_ERR_UNSUPPORTED;  // ROCm before 5.3
      call.op = hip::HipOp::kHostFunc;
      call.host_fn = {in.u.host_func.fn, in.u.host_func.arg};
      break;
    default:
      return XS_ERR_UNSUPPORTED;  // events: not yet, as for CUDA
  }
  const Command c = hip::make_command(call);
  out->op = c.op;
  return c.kind == out->kind ? XS_OK : XS_ERR_INTERNAL;
}

}  // namespace

const ApiPlatform kHipPlatform = {
    .id = XS_PLATFORM_HIP,
    .open_queue = open_hip_queue,
    .translate = translate_hip_command,
};

}  // namespace xsched::api

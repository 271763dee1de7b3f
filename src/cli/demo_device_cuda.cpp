// The demo on a CUDA GPU, through the C API's CUDA platform: each task's
// queue wraps a stream of its own, and each kernel fills the whole GPU (two
// blocks of 1024 threads per SM) and spins on the GPU's global timer for its
// length, so two tasks contend for the GPU as two real programs do. The
// kernel is PTX text loaded at run time (the driver compiles it for the GPU
// at hand): the demo needs no CUDA toolkit, only the driver.
#include "cli/demo_device.h"

#if XSCHED_WITH_CUDA

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "hal/cuda/cuda_driver.h"
#include "hal/cuda/driver_library.h"

namespace xsched::cli {
namespace {

// spin(unsigned us): every thread waits until us microseconds of the global
// timer (nanoseconds) have passed since it started.
constexpr char kSpinPtx[] = R"(
.version 6.0
.target sm_52
.address_size 64

.visible .entry xsched_demo_spin(.param .u32 us)
{
  .reg .pred %p<2>;
  .reg .b32 %r<2>;
  .reg .b64 %rd<6>;
  ld.param.u32 %r1, [us];
  cvt.u64.u32 %rd1, %r1;
  mul.lo.u64 %rd2, %rd1, 1000;
  mov.u64 %rd3, %globaltimer;
$L_spin:
  mov.u64 %rd4, %globaltimer;
  sub.u64 %rd5, %rd4, %rd3;
  setp.lt.u64 %p1, %rd5, %rd2;
  @%p1 bra $L_spin;
  ret;
}
)";

constinit hal::RealLibrary g_driver_library{cuda::kDriverLibrary, "xsched demo"};
void* resolve(const char* name) { return g_driver_library.symbol(name); }

class CudaKernel final : public KernelCommand {
 public:
  CudaKernel(CUfunction f, unsigned blocks, int64_t ns) : us_(static_cast<unsigned>(std::max<int64_t>(ns / 1000, 1))) {
    params_[0] = &us_;
    desc_.function = f;
    desc_.grid[0] = blocks;
    desc_.grid[1] = desc_.grid[2] = 1;
    desc_.block[0] = 1024;
    desc_.block[1] = desc_.block[2] = 1;
    desc_.params = params_;
    cmd_.kind = XS_CMD_KERNEL;
    cmd_.est_ns = ns;
    cmd_.u.kernel.desc = &desc_;
    cmd_.u.kernel.desc_size = sizeof desc_;
  }

 private:
  unsigned us_;
  void* params_[1];
  xs_cuda_kernel_t desc_{};
};

class CudaDemoDevice final : public DemoDevice {
 public:
  // *why stays empty when the device is ready.
  explicit CudaDemoDevice(std::string* why) : DemoDevice(XS_PLATFORM_CUDA) {
    // Most machines without a GPU have no driver: asked quietly first, so the
    // demo on the CPU device starts without an error about it.
    if (const char* env = std::getenv("XSCHED_REAL_LIBCUDA"); env == nullptr || *env == '\0') {
      void* probe = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
      if (probe == nullptr) {
        *why = "no NVIDIA driver";
        return;
      }
      dlclose(probe);
    }
    if (g_driver_library.handle() == nullptr) {
      *why = "no NVIDIA driver";
      return;
    }
    if (const char* missing = d_.load(resolve); missing != nullptr) {
      *why = std::string("the driver lacks ") + missing;
      return;
    }
    int count = 0;
    CUdevice dev = 0;
    if (d_.cuInit == nullptr || d_.cuInit(0) != CUDA_SUCCESS || d_.cuDeviceGetCount(&count) != CUDA_SUCCESS ||
        count == 0 || d_.cuDeviceGet(&dev, 0) != CUDA_SUCCESS) {
      *why = "no CUDA GPU";
      return;
    }
    char name[96] = {};
    d_.cuDeviceGetName(name, sizeof name - 1, dev);
    int sms = 0;
    d_.cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
    CUmodule module = nullptr;
    if (d_.cuDevicePrimaryCtxRetain(&ctx_, dev) != CUDA_SUCCESS || d_.cuCtxSetCurrent(ctx_) != CUDA_SUCCESS ||
        d_.cuModuleLoadData(&module, kSpinPtx) != CUDA_SUCCESS ||
        d_.cuModuleGetFunction(&spin_, module, "xsched_demo_spin") != CUDA_SUCCESS) {
      *why = "the GPU would not load the demo's kernel";
      return;
    }
    blocks_ = static_cast<unsigned>(std::max(sms, 1) * 2);
    name_ = "GPU 0, " + std::string(name) + " (" + std::to_string(sms) + " SMs; each kernel fills the GPU)";
  }

  std::string describe() const override { return name_; }
  xs_level_t max_level() const override { return XS_LEVEL_DEACTIVATE; }
  void enter_thread() override { d_.cuCtxSetCurrent(ctx_); }

  std::unique_ptr<KernelCommand> kernel(int64_t ns) override { return std::make_unique<CudaKernel>(spin_, blocks_, ns); }

 protected:
  xs_result_t make_stream(void** out) override {
    enter_thread();
    CUstream s = nullptr;
    if (d_.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS) return XS_ERR_PLATFORM;
    *out = s;
    return XS_OK;
  }
  void destroy_stream(void* s) override { d_.cuStreamDestroy_v2(static_cast<CUstream>(s)); }

 private:
  cuda::Driver d_;
  CUcontext ctx_ = nullptr;
  CUfunction spin_ = nullptr;
  unsigned blocks_ = 1;
  std::string name_;
};

}  // namespace

std::unique_ptr<DemoDevice> cuda_demo_device(std::string* why) {
  std::string reason;
  auto d = std::make_unique<CudaDemoDevice>(&reason);
  if (!reason.empty()) {
    *why = reason;
    return nullptr;
  }
  return d;
}

}  // namespace xsched::cli

#else

namespace xsched::cli {

std::unique_ptr<DemoDevice> cuda_demo_device(std::string* why) {
  *why = "this build has no CUDA platform";
  return nullptr;
}

}  // namespace xsched::cli

#endif

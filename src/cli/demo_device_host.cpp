// The demo on the CPU reference device: one execution unit, so two tasks
// contend for it as two GPU programs contend for a GPU.
#include "cli/demo_device.h"

namespace xsched::cli {
namespace {

class HostKernel final : public KernelCommand {
 public:
  explicit HostKernel(int64_t ns) : desc_{static_cast<uint64_t>(ns), nullptr, nullptr} {
    cmd_.kind = XS_CMD_KERNEL;
    cmd_.est_ns = ns;
    cmd_.u.kernel.desc = &desc_;
    cmd_.u.kernel.desc_size = sizeof desc_;
  }

 private:
  xs_host_kernel_t desc_;
};

class HostDemoDevice final : public DemoDevice {
 public:
  HostDemoDevice() : DemoDevice(XS_PLATFORM_HOST) { ok_ = xs_host_device_create(1, &dev_) == XS_OK; }
  ~HostDemoDevice() override {
    if (dev_ != nullptr) xs_host_device_destroy(dev_);
  }

  std::string describe() const override { return "the CPU reference device (1 execution unit)"; }
  xs_level_t max_level() const override { return XS_LEVEL_INTERRUPT; }
  std::unique_ptr<KernelCommand> kernel(int64_t ns) override { return std::make_unique<HostKernel>(ns); }

 protected:
  xs_result_t make_stream(void** out) override {
    if (!ok_) return XS_ERR_STATE;
    xs_host_stream_t s = nullptr;
    if (xs_result_t r = xs_host_stream_create(dev_, &s); r != XS_OK) return r;
    *out = s;
    return XS_OK;
  }
  void destroy_stream(void* s) override { xs_host_stream_destroy(static_cast<xs_host_stream_t>(s)); }

 private:
  bool ok_ = false;
  xs_host_device_t dev_ = nullptr;
};

}  // namespace

std::unique_ptr<DemoDevice> host_demo_device() { return std::make_unique<HostDemoDevice>(); }

}  // namespace xsched::cli

// The demo on the CPU reference device: one execution unit, so two tasks
// contend for it as two GPU programs contend for a GPU.
#include "cli/demo_device.h"

#include <map>

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
  HostDemoDevice() { ok_ = xs_host_device_create(1, &dev_) == XS_OK; }
  ~HostDemoDevice() override {
    if (dev_ != nullptr) xs_host_device_destroy(dev_);
  }

  std::string describe() const override { return "the CPU reference device (1 execution unit)"; }
  xs_level_t max_level() const override { return XS_LEVEL_INTERRUPT; }

  xs_result_t open_queue(const xs_queue_config_t& cfg, xs_queue_t* out) override {
    if (!ok_) return XS_ERR_STATE;
    xs_host_stream_t s = nullptr;
    if (xs_result_t r = xs_host_stream_create(dev_, &s); r != XS_OK) return r;
    if (xs_result_t r = xs_queue_create(XS_PLATFORM_HOST, s, &cfg, out); r != XS_OK) {
      xs_host_stream_destroy(s);
      return r;
    }
    streams_of_[*out] = s;
    return XS_OK;
  }

  void close_queue(xs_queue_t q) override {
    xs_queue_destroy(q);
    if (auto it = streams_of_.find(q); it != streams_of_.end()) {
      xs_host_stream_destroy(it->second);
      streams_of_.erase(it);
    }
  }

  std::unique_ptr<KernelCommand> kernel(int64_t ns) override { return std::make_unique<HostKernel>(ns); }

 private:
  bool ok_ = false;
  xs_host_device_t dev_ = nullptr;
  std::map<xs_queue_t, xs_host_stream_t> streams_of_;
};

}  // namespace

std::unique_ptr<DemoDevice> host_demo_device() { return std::make_unique<HostDemoDevice>(); }

}  // namespace xsched::cli

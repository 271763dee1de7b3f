// Where the demo's tasks run: the CPU reference device, or a CUDA GPU
// through the C API's CUDA platform (real kernels that fill the GPU). The
// workload (workload.h) asks a device for queues and for kernel commands of
// a given length, and never knows which device it has.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "xsched/xsched.h"

namespace xsched::cli {

// A kernel command that keeps the whole device busy for its length, and
// the storage its descriptor points into.
class KernelCommand {
 public:
  virtual ~KernelCommand() = default;
  const xs_command_t& command() const { return cmd_; }

 protected:
  xs_command_t cmd_{};
};

// A device's queues are its own native queues (streams), each wrapped in an
// XQueue of the device's platform: a device says only how such a stream is
// made and destroyed.
class DemoDevice {
 public:
  virtual ~DemoDevice() = default;
  // One line for the demo's header and its JSON ("the CPU reference device (1 unit)").
  virtual std::string describe() const = 0;
  // The highest level its queues support.
  virtual xs_level_t max_level() const = 0;
  // A new native queue of the device, wrapped in an XQueue with cfg.
  xs_result_t open_queue(const xs_queue_config_t& cfg, xs_queue_t* out);
  // Destroys the XQueue and its native queue.
  void close_queue(xs_queue_t q);
  // A kernel of about ns of device time.
  virtual std::unique_ptr<KernelCommand> kernel(int64_t ns) = 0;
  // Called first in every thread that submits (a GPU wants its context there).
  virtual void enter_thread() {}

 protected:
  explicit DemoDevice(xs_platform_t platform) : platform_(platform) {}
  // A new native queue of the device, for xs_queue_create on its platform.
  virtual xs_result_t make_stream(void** out) = 0;
  virtual void destroy_stream(void* stream) = 0;

 private:
  xs_platform_t platform_;
  std::map<xs_queue_t, void*> streams_of_;  // each open XQueue's native queue
};

// The CPU reference device with one execution unit (made now, gone with the object).
std::unique_ptr<DemoDevice> host_demo_device();

// The first CUDA GPU, or null with *why (no CUDA in this build, no driver, no GPU).
std::unique_ptr<DemoDevice> cuda_demo_device(std::string* why);

}  // namespace xsched::cli

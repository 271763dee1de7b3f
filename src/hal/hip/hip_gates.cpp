#include "hal/hip/hip_gates.h"

#include <cstdint>

#include "core/log.h"

namespace xsched::hip {
namespace {

// Gated streams per device held at once (gate_words.h's limit): as for CUDA,
// a stream waiting at a gate takes a hardware queue of the device from the
// others; AMD GPUs have more of them (4 per engine by default), and half of
// the default of 4 is what is held at most.
constexpr uint32_t kMaxHeldGatesPerDevice = 2;

// The owner key of a device's page: one distinct address per ordinal.
constexpr int kMaxDevices = 64;
char g_device_keys[kMaxDevices];

struct PageMaker {
  const Runtime& rt;
  int device;
};

bool map_for_device(void* arg, uint32_t* words, uint64_t* device) {
  const PageMaker& m = *static_cast<PageMaker*>(arg);
  const Runtime& rt = m.rt;
  if (rt.hipStreamWaitValue32 == nullptr || rt.hipHostRegister == nullptr || rt.hipHostGetDevicePointer == nullptr) {
    return false;
  }
  int can_wait = 0;
  if (rt.hipDeviceGetAttribute != nullptr &&
      (rt.hipDeviceGetAttribute(&can_wait, hipDeviceAttributeCanUseStreamWaitValue, m.device) != hipSuccess ||
       can_wait == 0)) {
    log(LogLevel::kInfo, "HIP device %d cannot wait on memory in a stream: its queues stay at Level 1", m.device);
    return false;
  }
  // Registered for the device of the page, whatever this thread's is.
  int current = 0;
  const bool switch_back = rt.hipGetDevice(&current) == hipSuccess && current != m.device;
  hipError_t r = switch_back ? rt.hipSetDevice(m.device) : hipSuccess;
  if (r == hipSuccess) r = rt.hipHostRegister(words, gates::kPageBytes, hipHostRegisterMapped);
  void* ptr = nullptr;
  if (r == hipSuccess) r = rt.hipHostGetDevicePointer(&ptr, words, 0);
  if (switch_back) (void)rt.hipSetDevice(current);
  if (r != hipSuccess) {
    char buf[32];
    log(LogLevel::kInfo, "HIP device %d: no host-mapped gate page (%s): its queues stay at Level 1", m.device,
        rt.error_name(r, buf));
    return false;
  }
  *device = reinterpret_cast<uintptr_t>(ptr);
  return true;
}

}  // namespace

bool acquire_gate(const Runtime& rt, int device, Gate* out) {
  if (device < 0 || device >= kMaxDevices) return false;
  PageMaker maker{rt, device};
  if (!gates::acquire_word(&g_device_keys[device], kMaxHeldGatesPerDevice, map_for_device, &maker, &out->word)) {
    return false;
  }
  out->device = reinterpret_cast<void*>(static_cast<uintptr_t>(gates::device_address(out->word)));
  return true;
}

void release_gate(Gate& g) { gates::release_word(g.word); }

}  // namespace xsched::hip

// A device's identity, the same in every process: what scheduling domains
// are keyed by. A CUDA device is named by its UUID (cuDeviceGetUuid_v2; a MIG
// instance has its own), never by its ordinal, which CUDA_VISIBLE_DEVICES
// changes from process to process. A CPU reference device, which stands for a
// GPU in tests and demos, is named by its ordinal in its process (the n-th
// one made, from 0), as GPUs are numbered: the first CPU device of two
// programs is one device they share, a process's second one another.
// All zero: unknown (the queue then shares the domain of other unknowns).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace xsched {

struct DeviceId {
  std::array<uint8_t, 16> uuid{};

  bool known() const {
    for (uint8_t b : uuid) {
      if (b != 0) return true;
    }
    return false;
  }
  friend bool operator==(const DeviceId&, const DeviceId&) = default;

  // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" for CUDA (as nvidia-smi -L
  // prints it), "hip-..." for HIP (hipDeviceGetUuid's bytes), "host-..." for
  // the CPU device, "unknown" when unknown.
  std::string text(const char* platform) const {
    if (!known()) return "unknown";
    char out[64];
    const auto* u = uuid.data();
    std::snprintf(out, sizeof out,
                  "%s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                  std::string(platform) == "cuda" ? "GPU" : platform, u[0], u[1], u[2], u[3], u[4], u[5], u[6],
                  u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    return out;
  }
};

// A device's name for display, NUL-terminated ("NVIDIA H100 80GB HBM3").
using DeviceName = std::array<char, 32>;

// Copies text into a name, cut to fit and always terminated.
inline void set_device_name(DeviceName* name, const char* text) {
  std::snprintf(name->data(), name->size(), "%s", text != nullptr ? text : "");
}

struct DeviceIdHash {
  std::size_t operator()(const DeviceId& d) const noexcept {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (uint8_t b : d.uuid) h = (h ^ b) * 1099511628211ull;
    return static_cast<std::size_t>(h);
  }
};

// Reads an identity as text() writes it ("GPU-" or "host-" and 32 hex
// digits in 8-4-4-4-12 groups; the dashes may be left out). False if it is not one.
bool parse_device_id(std::string_view text, DeviceId* out);

// The identity of the CPU reference device with this ordinal.
DeviceId host_device_id(uint32_t ordinal);

}  // namespace xsched

// The fake driver's devices: how many physical devices there are
// (FAKE_CUDA_DEVICES) and which of them this process sees, in which order
// (CUDA_VISIBLE_DEVICES, read as the real driver reads it; README.md gives the
// rules). Independent of the rest of the driver, so that tests can check the
// parsing directly.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace fake_cuda {

constexpr int kMaxDevices = 8;

using Uuid = std::array<unsigned char, 16>;

// Physical device i (0 <= i < kMaxDevices): the bytes "fake-cuda-dev-0i", the
// same in every process, as a real GPU's.
Uuid physical_uuid(int i);

// "Fake CUDA Device (CPU)" for device 0 (its name before there were several),
// "Fake CUDA Device i (CPU)" for the others.
std::string physical_name(int i);

// "GPU-" and the 16 bytes as 8-4-4-4-12 lowercase hex digits, as nvidia-smi
// prints them and CUDA_VISIBLE_DEVICES names them.
std::string uuid_text(const Uuid& uuid);

// The value of FAKE_CUDA_DEVICES (null: unset) as a number of physical
// devices: 1 to kMaxDevices; anything else means 1.
int parse_device_count(const char* value);

// The value of CUDA_VISIBLE_DEVICES (null: unset) for `physical` devices: the
// physical index of each visible ordinal.
std::vector<int> parse_visible(const char* value, int physical);

// This process's visible devices (physical indices by ordinal), read from the
// environment on first use and fixed from then on, as the real driver does.
const std::vector<int>& visible_devices();

// The number of visible devices; a CUdevice is an index into them.
int visible_count();

// Whether dev is a visible ordinal.
bool valid_device(int dev);

// The physical device behind a valid visible ordinal: what its UUID and name come from.
int physical_device(int dev);

}  // namespace fake_cuda

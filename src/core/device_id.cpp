#include "core/device_id.h"

#include <random>

namespace xsched {

DeviceId random_device_id() {
  // random_device reads the kernel's entropy: unique across processes without coordination.
  std::random_device rd;
  DeviceId id;
  for (std::size_t i = 0; i < id.uuid.size(); i += 4) {
    const uint32_t r = rd();
    for (std::size_t k = 0; k < 4; ++k) id.uuid[i + k] = static_cast<uint8_t>(r >> (8 * k));
  }
  id.uuid[6] = static_cast<uint8_t>((id.uuid[6] & 0x0f) | 0x40);  // version 4
  id.uuid[8] = static_cast<uint8_t>((id.uuid[8] & 0x3f) | 0x80);  // variant 1
  return id;
}

}  // namespace xsched

#include "core/device_id.h"

#include <cstring>

namespace xsched {

DeviceId host_device_id(uint32_t ordinal) {
  // "xsched-host-" and the ordinal: no GPU's UUID looks like it.
  DeviceId id;
  std::memcpy(id.uuid.data(), "xsched-host-", 12);
  for (std::size_t k = 0; k < 4; ++k) id.uuid[12 + k] = static_cast<uint8_t>(ordinal >> (8 * (3 - k)));
  return id;
}

}  // namespace xsched

#include "core/device_id.h"

#include <cstring>

namespace xsched {

bool parse_device_id(std::string_view text, DeviceId* out) {
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos) return false;
  const std::string_view prefix = text.substr(0, dash);
  if (prefix != "GPU" && prefix != "host" && prefix != "MIG" && prefix != "hip") return false;
  DeviceId id;
  std::size_t nibbles = 0;
  for (const char ch : text.substr(dash + 1)) {
    if (ch == '-') continue;
    int v = -1;
    if (ch >= '0' && ch <= '9') v = ch - '0';
    if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
    if (v < 0 || nibbles == 32) return false;
    id.uuid[nibbles / 2] = static_cast<uint8_t>(id.uuid[nibbles / 2] | (v << (nibbles % 2 == 0 ? 4 : 0)));
    ++nibbles;
  }
  if (nibbles != 32) return false;
  *out = id;
  return true;
}

DeviceId host_device_id(uint32_t ordinal) {
  // "xsched-host-" and the ordinal: no GPU's UUID looks like it.
  DeviceId id;
  std::memcpy(id.uuid.data(), "xsched-host-", 12);
  for (std::size_t k = 0; k < 4; ++k) id.uuid[12 + k] = static_cast<uint8_t>(ordinal >> (8 * (3 - k)));
  return id;
}

}  // namespace xsched

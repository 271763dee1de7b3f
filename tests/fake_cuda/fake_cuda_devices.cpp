// The fake driver's devices and the environment that selects them.
#include "fake_cuda_devices.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <string_view>

namespace fake_cuda {

namespace {

constexpr std::string_view kUuidPrefix = "GPU-";

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

// A decimal number of digits only, or -1 (overflow included).
long long parse_number(std::string_view s) {
  if (!all_digits(s)) return -1;
  long long v = -1;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc{} && end == s.data() + s.size() ? v : -1;
}

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  if (prefix.size() > text.size()) return false;
  return std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
}

// The device whose UUID text (without "GPU-") starts with `prefix`, or -1 when
// none or several do: a prefix must name one device.
int device_by_uuid(std::string_view prefix, int physical) {
  int found = -1;
  for (int i = 0; i < physical; ++i) {
    const std::string text = uuid_text(physical_uuid(i));
    if (!starts_with_nocase(std::string_view(text).substr(kUuidPrefix.size()), prefix)) continue;
    if (found != -1) return -1;
    found = i;
  }
  return found;
}

// The physical device that one entry of CUDA_VISIBLE_DEVICES names, or -1.
int resolve_entry(std::string_view entry, int physical) {
  if (all_digits(entry)) {
    const long long index = parse_number(entry);
    return index >= 0 && index < physical ? static_cast<int>(index) : -1;
  }
  if (!entry.starts_with(kUuidPrefix) || entry.size() == kUuidPrefix.size()) return -1;
  return device_by_uuid(entry.substr(kUuidPrefix.size()), physical);
}

}  // namespace

Uuid physical_uuid(int i) {
  constexpr std::string_view kBase = "fake-cuda-dev-0";
  Uuid u{};
  std::copy(kBase.begin(), kBase.end(), u.begin());
  u[kBase.size()] = static_cast<unsigned char>('0' + i);
  return u;
}

std::string physical_name(int i) {
  if (i == 0) return "Fake CUDA Device (CPU)";
  return "Fake CUDA Device " + std::to_string(i) + " (CPU)";
}

std::string uuid_text(const Uuid& uuid) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(kUuidPrefix);
  for (size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';  // 8-4-4-4-12 digits
    s += kHex[uuid[i] >> 4];
    s += kHex[uuid[i] & 0xF];
  }
  return s;
}

int parse_device_count(const char* value) {
  if (value == nullptr) return 1;
  const long long n = parse_number(value);
  return n >= 1 && n <= kMaxDevices ? static_cast<int>(n) : 1;
}

// Entries are taken in order up to the first that is invalid, unknown or
// names a device already listed; an empty value lists none.
std::vector<int> parse_visible(const char* value, int physical) {
  std::vector<int> out;
  if (value == nullptr) {
    for (int i = 0; i < physical; ++i) out.push_back(i);
    return out;
  }
  std::string_view rest(value);
  for (;;) {
    const size_t comma = rest.find(',');
    const int dev = resolve_entry(rest.substr(0, comma), physical);
    if (dev < 0 || std::find(out.begin(), out.end(), dev) != out.end()) break;
    out.push_back(dev);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

// Never destroyed, like the driver's registry: calls made late in the exit of
// the process still find it.
const std::vector<int>& visible_devices() {
  static const auto* visible = new std::vector<int>(
      parse_visible(std::getenv("CUDA_VISIBLE_DEVICES"), parse_device_count(std::getenv("FAKE_CUDA_DEVICES"))));
  return *visible;
}

int visible_count() { return static_cast<int>(visible_devices().size()); }

bool valid_device(int dev) { return dev >= 0 && dev < visible_count(); }

int physical_device(int dev) { return visible_devices()[static_cast<size_t>(dev)]; }

}  // namespace fake_cuda

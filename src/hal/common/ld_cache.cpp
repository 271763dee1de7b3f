#include "hal/common/ld_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>

namespace xsched::hal {
namespace {

// glibc's sysdeps/generic/dl-cache.h and elf/ldconfig.h.
constexpr std::string_view kMagicOld = "ld.so-1.7.0";
constexpr std::string_view kMagicNew = "glibc-ld.so.cache1.1";  // magic and version
constexpr size_t kOldHeader = 16;                               // magic[11], pad, uint32 nlibs
constexpr size_t kOldEntry = 12;                                // int32 flags; uint32 key, value
constexpr size_t kNewHeader = 48;  // magic+version[20], nlibs, len_strings, flags, pad[3], ext offset, unused[3]
constexpr size_t kNewEntry = 24;   // int32 flags; uint32 key, value, osversion; uint64 hwcap
constexpr size_t kNewAlign = 8;    // alignof(struct cache_file_new)

constexpr int32_t kTypeMask = 0x00ff, kElfLibc6 = 0x0003;
constexpr int32_t kArchMask = 0xff00, kX8664Lib64 = 0x0300;
constexpr uint8_t kEndianMask = 3, kEndianUnset = 0, kEndianLittle = 2;
// Entries for glibc-hwcaps subfolders: only for CPUs of that ISA level.
constexpr uint64_t kHwcapExtension = uint64_t{1} << 62;

// Larger than any real cache by far; bounds what a corrupt path can cost.
constexpr off_t kMaxCacheBytes = 64 << 20;

template <typename T>
T load(std::string_view data, size_t off) {
  T v;
  std::memcpy(&v, data.data() + off, sizeof v);  // unaligned-safe; x86-64 is little-endian, as the cache
  return v;
}

bool read_file(const char* path, std::string& data, std::string& why) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why = std::string(path) + ": " + std::strerror(errno);
    return false;
  }
  struct stat st;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= kMaxCacheBytes;
  if (!ok) {
    why = std::string(path) + ": not a regular file of at most 64 MiB";
  } else {
    data.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < data.size()) {
      const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    data.resize(got);  // a file that shrank underneath is parsed as what was read
  }
  ::close(fd);
  return ok;
}

// The NUL-terminated string at `off` of `data`, or empty if it runs off the end.
std::string_view string_at(std::string_view data, size_t off) {
  if (off >= data.size()) return {};
  const char* s = data.data() + off;
  const void* end = std::memchr(s, '\0', data.size() - off);
  if (end == nullptr) return {};
  return std::string_view(s, static_cast<size_t>(static_cast<const char*>(end) - s));
}

bool parse(std::string_view data, std::string_view soname, std::vector<std::string>& paths, std::string& why) {
  // The compat layout: an old table first, the new one after it, aligned.
  size_t base = 0;
  if (data.size() >= kMagicOld.size() && data.compare(0, kMagicOld.size(), kMagicOld) == 0) {
    if (data.size() < kOldHeader) {
      why = "truncated header";
      return false;
    }
    const uint64_t nlibs = load<uint32_t>(data, 12);
    const uint64_t end = kOldHeader + nlibs * kOldEntry;  // no overflow: nlibs < 2^32
    base = static_cast<size_t>((end + kNewAlign - 1) / kNewAlign * kNewAlign);
    if (end > data.size() || base > data.size()) {
      why = "truncated old-format table";
      return false;
    }
  }
  if (data.size() - base < kNewHeader || data.compare(base, kMagicNew.size(), kMagicNew) != 0) {
    why = "not a glibc-ld.so.cache1.1 file";
    return false;
  }
  const uint8_t endian = load<uint8_t>(data, base + 28) & kEndianMask;
  if (endian != kEndianUnset && endian != kEndianLittle) {
    why = "not a little-endian cache";
    return false;
  }
  const uint64_t nlibs = load<uint32_t>(data, base + 20);
  if (nlibs > (data.size() - base - kNewHeader) / kNewEntry) {
    why = "truncated: the header lists more entries than the file holds";
    return false;
  }
  // String offsets count from the start of the new-format header.
  for (uint64_t i = 0; i < nlibs; ++i) {
    const size_t e = base + kNewHeader + static_cast<size_t>(i) * kNewEntry;
    const int32_t flags = load<int32_t>(data, e);
    if ((flags & kTypeMask) != kElfLibc6 || (flags & kArchMask) != kX8664Lib64) continue;
    if (load<uint64_t>(data, e + 16) & kHwcapExtension) continue;
    const std::string_view key = string_at(data, base + load<uint32_t>(data, e + 4));
    if (key != soname) continue;
    const std::string_view value = string_at(data, base + load<uint32_t>(data, e + 8));
    if (!value.empty()) paths.emplace_back(value);
  }
  return true;
}

}  // namespace

bool ld_cache_parse(std::string_view bytes, const char* soname, std::vector<std::string>* paths, std::string* why) {
  std::string reason;
  bool ok = false;
  try {
    paths->clear();
    ok = parse(bytes, soname, *paths, reason);
  } catch (...) {  // only std::bad_alloc can come out of parse
    reason = "out of memory";
    ok = false;
  }
  if (!ok) {
    paths->clear();
    if (why != nullptr) *why = std::move(reason);
  }
  return ok;
}

bool ld_cache_lookup(const char* cache_path, const char* soname, std::vector<std::string>* paths, std::string* why) {
  paths->clear();
  std::string reason;
  try {
    std::string data;
    if (read_file(cache_path, data, reason)) {
      if (ld_cache_parse(data, soname, paths, &reason)) return true;
      reason = std::string(cache_path) + ": " + reason;
    }
  } catch (...) {
    reason = "out of memory";
  }
  paths->clear();
  if (why != nullptr) *why = std::move(reason);
  return false;
}

}  // namespace xsched::hal

// Reads the dynamic linker's cache (/etc/ld.so.cache, written by ldconfig)
// in-process, so an interposer can find its real library the way the dynamic
// linker would without running ldconfig.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace xsched::hal {

constexpr const char* kLdCachePath = "/etc/ld.so.cache";

// The paths the cache at `cache_path` lists for `soname` built for x86-64
// glibc (libc6,x86-64), in cache order. Reads the format of glibc 2.32+
// ("glibc-ld.so.cache1.1") and the older compat layout that follows an
// "ld.so-1.7.0" table with it. Returns false, with a reason in *why, when the
// file cannot be read or is not a well-formed cache; a truncated or corrupt
// file never reads out of bounds. Allocates; never throws.
bool ld_cache_lookup(const char* cache_path, const char* soname, std::vector<std::string>* paths, std::string* why);

// The same, on the bytes of a cache file already read. Reads only `bytes`.
bool ld_cache_parse(std::string_view bytes, const char* soname, std::vector<std::string>* paths, std::string* why);

}  // namespace xsched::hal

// The in-process reader of the dynamic linker's cache (ld.so.cache), on
// cache files written here: the format of glibc 2.32+, the compat layout,
// and truncated, corrupt and foreign files, which must be rejected without
// reading out of bounds (the asan preset checks that).
#include "hal/common/ld_cache.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace xsched::hal {
namespace {

namespace fs = std::filesystem;

constexpr int32_t kX8664 = 0x0303;   // FLAG_ELF_LIBC6 | FLAG_X8664_LIB64
constexpr int32_t kI386 = 0x0003;    // FLAG_ELF_LIBC6
constexpr int32_t kX32 = 0x0803;     // FLAG_ELF_LIBC6 | FLAG_X8664_LIBX32
constexpr int32_t kAarch64 = 0x0a03; // FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64
constexpr int32_t kLibc5 = 0x0302;   // FLAG_ELF_LIBC5 | FLAG_X8664_LIB64

struct Entry {
  int32_t flags;
  std::string key, value;
  uint64_t hwcap = 0;
};

template <typename T>
void put(std::string& s, size_t at, T v) {
  std::memcpy(s.data() + at, &v, sizeof v);
}

// A cache as ldconfig writes it; `compat` puts an old-format table first.
std::string make_cache(const std::vector<Entry>& entries, bool compat = false, uint8_t endian = 2) {
  std::string out;
  if (compat) {
    out = std::string("ld.so-1.7.0", 11) + std::string(1, '\0');
    out.resize(16 + entries.size() * 12);  // old entries: unused by the reader, left zero
    put<uint32_t>(out, 12, static_cast<uint32_t>(entries.size()));
    out.resize((out.size() + 7) / 8 * 8);
  }
  std::string cache(48 + entries.size() * 24, '\0');
  std::memcpy(cache.data(), "glibc-ld.so.cache1.1", 20);
  put<uint32_t>(cache, 20, static_cast<uint32_t>(entries.size()));
  put<uint8_t>(cache, 28, endian);
  std::string strings;
  const size_t strings_at = cache.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    const size_t e = 48 + i * 24;
    put<int32_t>(cache, e, entries[i].flags);
    put<uint32_t>(cache, e + 4, static_cast<uint32_t>(strings_at + strings.size()));
    strings += entries[i].key + '\0';
    put<uint32_t>(cache, e + 8, static_cast<uint32_t>(strings_at + strings.size()));
    strings += entries[i].value + '\0';
    put<uint64_t>(cache, e + 16, entries[i].hwcap);
  }
  put<uint32_t>(cache, 24, static_cast<uint32_t>(strings.size()));
  return out + cache + strings;
}

class LdCache : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() /
            ("xsched_ld_cache_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { fs::remove(path_); }

  void write(const std::string& bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  bool lookup(const char* soname, std::vector<std::string>* paths, std::string* why = nullptr) {
    return ld_cache_lookup(path_.c_str(), soname, paths, why);
  }

  fs::path path_;
};

const std::vector<Entry> kEntries = {
    {kX8664, "libfoo.so.2", "/usr/lib/x86_64-linux-gnu/libfoo.so.2"},
    {kX8664, "libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1"},
    {kI386, "libcuda.so.1", "/usr/lib/i386-linux-gnu/libcuda.so.1"},
    {kX32, "libcuda.so.1", "/usr/libx32/libcuda.so.1"},
    {kAarch64, "libcuda.so.1", "/usr/lib/aarch64-linux-gnu/libcuda.so.1"},
    {kLibc5, "libcuda.so.1", "/usr/lib/libc5/libcuda.so.1"},
    {kX8664, "libcuda.so.1", "/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libcuda.so.1", uint64_t{1} << 62},
    {kX8664, "libcuda.so", "/usr/lib/x86_64-linux-gnu/libcuda.so"},
    {kX8664, "libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1"},
};
const std::vector<std::string> kExpected = {"/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1"};

TEST_F(LdCache, FindsTheX8664EntriesInOrder) {
  write(make_cache(kEntries));
  std::vector<std::string> paths;
  std::string why;
  ASSERT_TRUE(lookup("libcuda.so.1", &paths, &why)) << why;
  EXPECT_EQ(paths, kExpected);
  ASSERT_TRUE(lookup("libfoo.so.2", &paths));
  EXPECT_EQ(paths, std::vector<std::string>{"/usr/lib/x86_64-linux-gnu/libfoo.so.2"});
  ASSERT_TRUE(lookup("libbar.so.1", &paths));  // a good cache without it
  EXPECT_TRUE(paths.empty());
}

TEST_F(LdCache, ReadsTheCompatLayout) {
  write(make_cache(kEntries, /*compat=*/true));
  std::vector<std::string> paths;
  std::string why;
  ASSERT_TRUE(lookup("libcuda.so.1", &paths, &why)) << why;
  EXPECT_EQ(paths, kExpected);
}

TEST_F(LdCache, ReadsAnEmptyCache) {
  write(make_cache({}));
  std::vector<std::string> paths{"stale"};
  ASSERT_TRUE(lookup("libcuda.so.1", &paths));
  EXPECT_TRUE(paths.empty());
}

TEST_F(LdCache, ReportsAMissingFile) {
  std::vector<std::string> paths{"stale"};
  std::string why;
  EXPECT_FALSE(lookup("libcuda.so.1", &paths, &why));
  EXPECT_TRUE(paths.empty());
  EXPECT_NE(why.find(path_.string() + ": No such file or directory"), std::string::npos) << why;
}

TEST_F(LdCache, RejectsADirectory) {
  std::vector<std::string> paths;
  std::string why;
  EXPECT_FALSE(ld_cache_lookup("/", "libcuda.so.1", &paths, &why));
  EXPECT_FALSE(why.empty());
}

TEST_F(LdCache, RejectsForeignFiles) {
  std::vector<std::string> paths;
  std::string why;
  for (const std::string& bytes : {std::string(), std::string("glibc-ld.so.cache1.1"), std::string(4096, 'x'),
                                  std::string("\x7f" "ELF", 4) + std::string(200, '\0'),
                                  std::string("ld.so-1.7.0") + std::string(20, '\0')}) {
    write(bytes);
    paths = {"stale"};
    EXPECT_FALSE(lookup("libcuda.so.1", &paths, &why)) << bytes.size();
    EXPECT_TRUE(paths.empty());
    EXPECT_FALSE(why.empty());
  }
  write(make_cache(kEntries, false, /*endian=*/3));  // big-endian
  EXPECT_FALSE(lookup("libcuda.so.1", &paths, &why));
  EXPECT_NE(why.find("little-endian"), std::string::npos) << why;
}

// Parses `bytes` from a heap block of exactly their size, so that any read
// past the end is an AddressSanitizer error.
bool parse_exact(const std::string& bytes, std::vector<std::string>* paths, std::string* why) {
  const std::unique_ptr<char[]> block(new char[bytes.size() + (bytes.empty() ? 1 : 0)]);
  std::memcpy(block.get(), bytes.data(), bytes.size());
  return ld_cache_parse(std::string_view(block.get(), bytes.size()), "libcuda.so.1", paths, why);
}

// Every prefix of a good file: rejected, or (when only strings are cut) a
// subset of the full answer, in order. Never a read past the end.
TEST(LdCacheParse, SurvivesEveryTruncation) {
  for (const bool compat : {false, true}) {
    const std::string full = make_cache(kEntries, compat);
    std::vector<std::string> paths;
    std::string why;
    ASSERT_TRUE(parse_exact(full, &paths, &why)) << why;
    EXPECT_EQ(paths, kExpected);
    for (size_t n = 0; n < full.size(); ++n) {
      why.clear();
      if (!parse_exact(full.substr(0, n), &paths, &why)) {
        EXPECT_TRUE(paths.empty());
        EXPECT_FALSE(why.empty());
        continue;
      }
      size_t k = 0;
      for (const auto& p : paths) {
        while (k < kExpected.size() && kExpected[k] != p) ++k;
        ASSERT_LT(k, kExpected.size()) << "length " << n << ": unexpected " << p;
      }
    }
  }
}

TEST(LdCacheParse, SurvivesRandomBytes) {
  std::mt19937 rng(12345);
  const std::string good = make_cache(kEntries);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = good;
    // Keep the magic half of the time, so the parser goes past it.
    const size_t from = i % 2 == 0 ? 20 : 0;
    for (int flips = 0; flips < 8; ++flips) bytes[from + rng() % (bytes.size() - from)] = static_cast<char>(rng());
    std::vector<std::string> paths;
    std::string why;
    parse_exact(bytes, &paths, &why);
  }
}

TEST_F(LdCache, SurvivesCorruptEntries) {
  std::string bytes = make_cache(kEntries);
  // Entry 1's key and value point far past the end; entry 8's key runs off
  // the end without a terminator.
  put<uint32_t>(bytes, 48 + 24 + 4, 0xfffffff0u);
  put<uint32_t>(bytes, 48 + 24 + 8, 0xfffffff0u);
  put<uint32_t>(bytes, 48 + 8 * 24 + 4, static_cast<uint32_t>(bytes.size() - 1));
  bytes.back() = 'x';
  write(bytes);
  std::vector<std::string> paths;
  std::string why;
  ASSERT_TRUE(lookup("libcuda.so.1", &paths, &why)) << why;
  EXPECT_TRUE(paths.empty());

  // A header that claims more entries than the file holds.
  bytes = make_cache(kEntries);
  put<uint32_t>(bytes, 20, 0xffffffffu);
  write(bytes);
  EXPECT_FALSE(lookup("libcuda.so.1", &paths, &why));
  EXPECT_NE(why.find("truncated"), std::string::npos) << why;

  // An old table that claims more entries than the file holds.
  bytes = make_cache(kEntries, true);
  put<uint32_t>(bytes, 12, 0xffffffffu);
  write(bytes);
  EXPECT_FALSE(lookup("libcuda.so.1", &paths, &why));
}

TEST_F(LdCache, ReadsThisMachinesCache) {
  if (!fs::exists(kLdCachePath)) GTEST_SKIP() << "no " << kLdCachePath;
  std::vector<std::string> paths;
  std::string why;
  ASSERT_TRUE(ld_cache_lookup(kLdCachePath, "libc.so.6", &paths, &why)) << why;
  ASSERT_FALSE(paths.empty());
  EXPECT_TRUE(fs::exists(paths[0])) << paths[0];
}

}  // namespace
}  // namespace xsched::hal

// Shared by the GPU test programs (driver_api_prog.cu, runtime_api_prog.cu, gpu_kernels.cu):
// argument structs, the order-sensitive integer "mix" used by every kernel, its host reference,
// and a small result recorder that writes <out>/results.json.
//
// Every kernel computes with 32-bit integers only, so a result is bit-exact and its expected
// value can be computed on the host. Each mix is order-sensitive (mix(mix(v,a),b) differs from
// mix(mix(v,b),a)), so a command that runs out of order, twice, or not at all changes the result.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define XS_HD __host__ __device__
#else
#define XS_HD
#endif

namespace gputest {

// A 48-byte by-value kernel argument with mixed field types (alignment 8).
struct Params48 {
  double a;
  double b;
  int32_t c[4];
  int64_t d;
  float e;
  uint32_t f;
};
static_assert(sizeof(Params48) == 48, "Params48 must be 48 bytes");

// A struct with internal padding (char, then an 8-aligned double, then a short): 24 bytes.
struct Odd {
  char c;
  double d;
  short s;
};
static_assert(sizeof(Odd) == 24, "Odd must be 24 bytes");

// A 2 KiB by-value argument.
struct Big {
  uint32_t v[512];
};
static_assert(sizeof(Big) == 2048, "Big must be 2 KiB");

XS_HD inline uint32_t mix(uint32_t v, uint32_t tag, uint32_t i) {
  uint32_t x = v * 2654435761u + (tag ^ (i * 0x9E3779B9u));
  x ^= x >> 15;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  return x;
}

XS_HD inline uint32_t bits32(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

XS_HD inline uint32_t fold64(uint64_t u) { return static_cast<uint32_t>(u) ^ static_cast<uint32_t>(u >> 32) * 31u; }

XS_HD inline uint32_t bits64(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return fold64(u);
}

XS_HD inline uint32_t hash_params(const Params48& p) {
  uint32_t h = 0x12345u;
  h = mix(h, bits64(p.a), 1);
  h = mix(h, bits64(p.b), 2);
  for (int k = 0; k < 4; ++k) h = mix(h, static_cast<uint32_t>(p.c[k]), 3 + k);
  h = mix(h, fold64(static_cast<uint64_t>(p.d)), 7);
  h = mix(h, bits32(p.e), 8);
  h = mix(h, p.f, 9);
  return h;
}

XS_HD inline uint32_t hash_odd(const Odd& o) {
  uint32_t h = mix(0x777u, static_cast<uint32_t>(static_cast<unsigned char>(o.c)), 1);
  h = mix(h, bits64(o.d), 2);
  return mix(h, static_cast<uint32_t>(static_cast<unsigned short>(o.s)), 3);
}

XS_HD inline uint32_t hash_big(const Big& b) {
  uint32_t h = 0x999u;
  for (int k = 0; k < 512; ++k) h = mix(h, b.v[k], static_cast<uint32_t>(k));
  return h;
}

// Values written by the "mixed" kernel: one per argument (out[0..7]).
constexpr int kMixedOutputs = 8;

XS_HD inline uint32_t mixed_output(int k, char a, const Odd& o, float f, uint16_t h, const Params48& p,
                                   const Big& big) {
  switch (k) {
    case 0: return mix(static_cast<uint32_t>(static_cast<unsigned char>(a)), 100, 0);
    case 1: return hash_odd(o);
    case 2: return mix(bits32(f), 102, 2);
    case 3: return mix(h, 103, 3);
    case 4: return hash_params(p);
    case 5: return hash_big(big);
    case 6: return mix(hash_params(p), hash_big(big), 6);
    default: return mix(hash_odd(o), bits32(f) ^ h, 7);
  }
}

}  // namespace gputest

#if defined(__CUDACC__)
namespace gputest {

// Spin for about `ns` nanoseconds of GPU time (global timer): makes ordering mistakes visible
// without changing any result.
__device__ inline void spin_ns(uint64_t ns) {
  if (ns == 0) return;
  uint64_t start;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  for (;;) {
    uint64_t now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    if (now - start >= ns) break;
    __nanosleep(200);
  }
}

// Kernel bodies, shared by the driver program's module and the runtime program.
__device__ inline void body_fill(uint32_t* buf, uint32_t seed, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) buf[i] = mix(seed, seed, static_cast<uint32_t>(i));
}

__device__ inline void body_mix(uint32_t* buf, uint32_t tag, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) buf[i] = mix(buf[i], tag, static_cast<uint32_t>(i));
}

__device__ inline void body_mix_slow(uint32_t* buf, uint32_t tag, int n, uint64_t ns) {
  spin_ns(ns);
  body_mix(buf, tag, n);
}

// dst[i] = mix(dst[i] ^ src[i], tag, i) after spinning: reads src late.
__device__ inline void body_combine(const uint32_t* src, uint32_t* dst, uint32_t tag, int n, uint64_t ns) {
  spin_ns(ns);
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = mix(dst[i] ^ src[i], tag, static_cast<uint32_t>(i));
}

__device__ inline void body_struct(const Params48& p, uint32_t* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = mix(hash_params(p), static_cast<uint32_t>(i), static_cast<uint32_t>(i));
}

// Accumulating variant: out[i] = mix(out[i], hash(p), i): every launch and its order count.
__device__ inline void body_struct_acc(const Params48& p, uint32_t* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = mix(out[i], hash_params(p), static_cast<uint32_t>(i));
}

__device__ inline void body_mixed(char a, const Odd& o, float f, uint16_t h, const Params48& p, const Big& big,
                                  uint32_t* out) {
  const int k = static_cast<int>(threadIdx.x);
  if (blockIdx.x == 0 && k < kMixedOutputs) out[k] = mixed_output(k, a, o, f, h, p, big);
}

__device__ inline void body_write_flag(volatile uint32_t* flag, uint32_t value) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    *flag = value;
    __threadfence_system();
  }
}

}  // namespace gputest
#endif  // __CUDACC__

// ---- host-only helpers: reference computations, result recording, command line ----
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace gputest {

inline void host_fill(std::vector<uint32_t>& v, uint32_t seed) {
  for (size_t i = 0; i < v.size(); ++i) v[i] = mix(seed, seed, static_cast<uint32_t>(i));
}

inline void host_mix(std::vector<uint32_t>& v, uint32_t tag) {
  for (size_t i = 0; i < v.size(); ++i) v[i] = mix(v[i], tag, static_cast<uint32_t>(i));
}

inline void host_combine(const std::vector<uint32_t>& src, std::vector<uint32_t>& dst, uint32_t tag) {
  for (size_t i = 0; i < dst.size(); ++i) dst[i] = mix(dst[i] ^ src[i], tag, static_cast<uint32_t>(i));
}

inline uint64_t fnv1a(const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

inline std::string hex64(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Collects named checks (result checksum + whether it matched the host reference) and writes
// them as JSON. The JSON holds nothing that varies between runs (no times, no addresses), so
// two runs compare equal exactly when they computed the same values.
class Results {
 public:
  explicit Results(std::string program) : program_(std::move(program)) {}

  // Records `got` against the host reference `want`; prints the first difference on mismatch.
  bool check(const std::string& name, const std::vector<uint32_t>& got, const std::vector<uint32_t>& want) {
    bool ok = got.size() == want.size();
    size_t first_bad = 0;
    if (ok) {
      for (size_t i = 0; i < got.size(); ++i) {
        if (got[i] != want[i]) {
          ok = false;
          first_bad = i;
          break;
        }
      }
    }
    const uint64_t h = fnv1a(got.data(), got.size() * sizeof(uint32_t));
    entries_[name] = Entry{ok, hex64(h), ""};
    if (ok) {
      std::printf("  ok    %-40s %s\n", name.c_str(), hex64(h).c_str());
    } else {
      ++failures_;
      if (got.size() != want.size()) {
        std::printf("  FAIL  %-40s size %zu, expected %zu\n", name.c_str(), got.size(), want.size());
      } else {
        size_t bad = 0;
        for (size_t i = 0; i < got.size(); ++i) bad += got[i] != want[i];
        std::printf("  FAIL  %-40s %zu of %zu values differ; first at [%zu]: got 0x%08x, expected 0x%08x\n",
                    name.c_str(), bad, got.size(), first_bad, got[first_bad], want[first_bad]);
      }
    }
    std::fflush(stdout);
    return ok;
  }

  // Records a scalar fact (for instance a value seen by a host callback).
  bool check_value(const std::string& name, long long got, long long want) {
    const bool ok = got == want;
    entries_[name] = Entry{ok, std::to_string(got), ""};
    if (ok) {
      std::printf("  ok    %-40s %lld\n", name.c_str(), got);
    } else {
      ++failures_;
      std::printf("  FAIL  %-40s got %lld, expected %lld\n", name.c_str(), got, want);
    }
    std::fflush(stdout);
    return ok;
  }

  // Records a condition with a message explaining a failure.
  bool check_true(const std::string& name, bool cond, const std::string& why = "") {
    entries_[name] = Entry{cond, cond ? "true" : "false", cond ? "" : why};
    if (cond) {
      std::printf("  ok    %s\n", name.c_str());
    } else {
      ++failures_;
      std::printf("  FAIL  %-40s %s\n", name.c_str(), why.c_str());
    }
    std::fflush(stdout);
    return cond;
  }

  int failures() const { return failures_; }

  // Writes <dir>/results.json; returns false on I/O error.
  bool write(const std::string& dir) const {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    const std::string path = dir + "/results.json";
    std::ofstream f(path);
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return false;
    }
    f << "{\n  \"program\": \"" << program_ << "\",\n  \"failures\": " << failures_ << ",\n  \"checks\": {";
    bool first = true;
    for (const auto& [name, e] : entries_) {
      f << (first ? "\n" : ",\n") << "    \"" << name << "\": {\"ok\": " << (e.ok ? "true" : "false")
        << ", \"value\": \"" << e.value << "\"}";
      first = false;
    }
    f << "\n  }\n}\n";
    return static_cast<bool>(f);
  }

 private:
  struct Entry {
    bool ok;
    std::string value;
    std::string why;
  };
  std::string program_;
  std::map<std::string, Entry> entries_;
  int failures_ = 0;
};

// Parses "--out DIR" (or "--out=DIR"); returns "" when absent. Exits 2 on unknown arguments.
inline std::string parse_out_dir(int argc, char** argv, const char* usage) {
  std::string out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) {
      out = argv[++i];
    } else if (a.rfind("--out=", 0) == 0) {
      out = a.substr(6);
    } else if (a == "-h" || a == "--help") {
      std::printf("%s", usage);
      std::exit(0);
    } else {
      std::fprintf(stderr, "unknown argument '%s'\n%s", a.c_str(), usage);
      std::exit(2);
    }
  }
  return out;
}

// Exit code for "no GPU here: skip" (ctest SKIP_RETURN_CODE).
constexpr int kSkip = 77;

}  // namespace gputest

// Helpers for green_launch_kinds.cu: clocks, result names, bounded waits, a
// small JSON store, a watchdog, a launch helper that can go through either
// the runtime or the driver API, green-context creation, and the kernels.
#pragma once
#include <cooperative_groups.h>
#include <cuda.h>
#include <cuda_runtime.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

inline double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
inline long long now_real_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
inline void sleep_us(double us) { std::this_thread::sleep_for(std::chrono::nanoseconds((long long)(us * 1e3))); }

inline std::string cuname(CUresult r) {
  const char* s = nullptr;
  if (cuGetErrorName(r, &s) != CUDA_SUCCESS || !s) return "CUresult_" + std::to_string((int)r);
  return s;
}
inline std::string rtname(cudaError_t e) { return e == cudaSuccess ? "CUDA_SUCCESS" : cudaGetErrorName(e); }
inline bool OK(const std::string& s) { return s == "CUDA_SUCCESS"; }

// ---- JSON: sections of key -> raw JSON value, written in insertion order ----
struct JObj {
  std::string s;
  JObj& add(const std::string& k, const std::string& raw) {
    s += (s.empty() ? "" : ", ") + ("\"" + k + "\": ") + raw;
    return *this;
  }
  std::string str() const { return "{" + s + "}"; }
};
inline std::string jstr(const std::string& v) {
  std::string o = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') o += '\\';
    if ((unsigned char)c < 0x20) { o += ' '; continue; }
    o += c;
  }
  return o + "\"";
}
inline std::string jnum(double v) {
  if (!std::isfinite(v)) return "null";
  char b[64];
  snprintf(b, sizeof b, "%.6g", v);
  return b;
}
inline std::string jbool(bool b) { return b ? "true" : "false"; }
template <typename T>
std::string jarr(const std::vector<T>& v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + jnum((double)v[i]);
  return o + "]";
}

struct JStore {
  std::mutex m;
  std::vector<std::pair<std::string, JObj>> secs;
  std::string path = "green_launch_kinds.json";
};
inline JStore g_js;
inline void jput(const std::string& sec, const std::string& key, const std::string& raw) {
  std::lock_guard<std::mutex> l(g_js.m);
  for (auto& p : g_js.secs)
    if (p.first == sec) { p.second.add(key, raw); return; }
  g_js.secs.push_back({sec, JObj{}});
  g_js.secs.back().second.add(key, raw);
}
inline bool jwrite() {
  std::lock_guard<std::mutex> l(g_js.m);
  FILE* f = fopen(g_js.path.c_str(), "w");
  if (!f) { printf("cannot write %s\n", g_js.path.c_str()); return false; }
  fprintf(f, "{\n");
  for (size_t i = 0; i < g_js.secs.size(); ++i)
    fprintf(f, "  \"%s\": %s%s\n", g_js.secs[i].first.c_str(), g_js.secs[i].second.str().c_str(),
            i + 1 < g_js.secs.size() ? "," : "");
  fprintf(f, "}\n");
  fclose(f);
  printf("JSON written to %s\n", g_js.path.c_str());
  return true;
}
inline void set_json_path(const char* arg) {
  if (!arg) return;
  struct stat st;
  std::string p = arg;
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) p += "/green_launch_kinds.json";
  g_js.path = p;
}

// ---- bounded waits: "CUDA_SUCCESS", "TIMEOUT" or the error name ----
inline std::string wait_stream(CUstream s, double timeout_s, bool spin = false) {
  double dl = now_s() + timeout_s;
  for (;;) {
    CUresult r = cuStreamQuery(s);
    if (r != CUDA_ERROR_NOT_READY) return cuname(r);
    if (now_s() > dl) return "TIMEOUT";
    if (!spin) sleep_us(20);
  }
}
inline std::string wait_event(CUevent e, double timeout_s) {
  double dl = now_s() + timeout_s;
  for (;;) {
    CUresult r = cuEventQuery(e);
    if (r != CUDA_ERROR_NOT_READY) return cuname(r);
    if (now_s() > dl) return "TIMEOUT";
    sleep_us(20);
  }
}

// q-quantile of an already sorted vector
inline double pct(const std::vector<double>& v, double q) {
  if (v.empty()) return NAN;
  size_t i = std::min(v.size() - 1, (size_t)(q * (v.size() - 1) + 0.5));
  return v[i];
}

// ---- watchdog: write what we have and leave if the run overstays ----
inline std::atomic<bool> g_done{false};
inline void start_watchdog(double limit_s) {
  std::thread([limit_s] {
    double dl = now_s() + limit_s;
    while (!g_done.load()) {
      if (now_s() > dl) {
        printf("\nWATCHDOG: run exceeded %.0f s, writing partial results and exiting\n", limit_s);
        jput("meta", "watchdog_fired", "true");
        jwrite();
        fflush(stdout);
        _exit(3);
      }
      sleep_us(100000);
    }
  }).detach();
}

// ---- launch helper: 0 = runtime (cudaLaunchKernel), 1 = cuLaunchKernel on cudaGetKernel's CUkernel ----
inline int g_launch_mode = 0;
template <typename... P, typename... A>
std::string launch(void (*k)(P...), unsigned grid, unsigned block, CUstream s, A... a) {
  std::tuple<P...> t(a...);
  void* argv[sizeof...(P) + 1] = {};
  std::apply([&](auto&... x) { int i = 0; ((argv[i++] = (void*)&x), ...); }, t);
  if (g_launch_mode == 0)
    return rtname(cudaLaunchKernel((const void*)k, dim3(grid), dim3(block), argv, 0, (cudaStream_t)s));
  cudaKernel_t kk;
  cudaError_t e = cudaGetKernel(&kk, (const void*)k);
  if (e != cudaSuccess) return rtname(e);
  return cuname(cuLaunchKernel((CUfunction)kk, grid, 1, 1, block, 1, 1, 0, s, argv, nullptr));
}

// ------------------------------------------------------- green contexts --
inline CUdevice g_dev;
inline CUcontext g_primary;
inline CUdevResource g_devres;
inline unsigned g_sms = 0;
inline CUstream g_ps;  // ordinary (primary-context) non-blocking stream

struct Green {
  CUgreenCtx g = nullptr;
  CUcontext c = nullptr;
  CUstream s = nullptr;
  unsigned sms = 0, split_flags = 0;
  std::string err = "CUDA_SUCCESS";
};
inline void destroy_green(Green& G) {
  if (G.s) cuStreamDestroy(G.s);
  if (G.g) cuGreenCtxDestroy(G.g);
  G = Green{};
}
// Green context of about `target` SMs: tries split flags 0 and
// IGNORE_SM_COSCHEDULING, keeps the result closest to target (flags 0 on ties).
inline Green make_green(unsigned target, int prio) {
  Green G;
  CUdevResource res[2];
  unsigned fl[2] = {0u, (unsigned)CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING};
  int best = -1;
  for (int i = 0; i < 2; ++i) {
    unsigned nb = 1;
    if (cuDevSmResourceSplitByCount(&res[i], &nb, &g_devres, nullptr, fl[i], target) != CUDA_SUCCESS || nb < 1) continue;
    auto d = [&](int j) { return std::abs((int)res[j].sm.smCount - (int)target); };
    if (best < 0 || d(i) < d(best)) best = i;
  }
  if (best < 0) { G.err = "no split for " + std::to_string(target); return G; }
  G.split_flags = fl[best];
  CUdevResourceDesc desc;
  CUresult r = cuDevResourceGenerateDesc(&desc, &res[best], 1);
  if (r == CUDA_SUCCESS) r = cuGreenCtxCreate(&G.g, desc, g_dev, CU_GREEN_CTX_DEFAULT_STREAM);
  if (r == CUDA_SUCCESS) r = cuCtxFromGreenCtx(&G.c, G.g);
  if (r == CUDA_SUCCESS) r = cuGreenCtxStreamCreate(&G.s, G.g, CU_STREAM_NON_BLOCKING, prio);
  CUdevResource got;
  if (r == CUDA_SUCCESS) r = cuGreenCtxGetDevResource(G.g, &got, CU_DEV_RESOURCE_TYPE_SM);
  if (r == CUDA_SUCCESS) G.sms = got.sm.smCount;
  if (r != CUDA_SUCCESS) { destroy_green(G); G.err = cuname(r); }
  CUcontext cur = nullptr;
  cuCtxGetCurrent(&cur);
  if (cur != g_primary) { printf("  note: current context changed by green ctx creation; restoring primary\n"); cuCtxSetCurrent(g_primary); }
  return G;
}
// ----------------------------------------------------------------- kernels --
namespace cg = cooperative_groups;

__device__ __forceinline__ unsigned long long gtime() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
__device__ __forceinline__ unsigned smid() {
  unsigned id;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
  return id;
}
__device__ __forceinline__ void spin_ns(unsigned long long ns) {
  unsigned long long t0 = gtime();
  while (gtime() - t0 < ns) {
  }
}
__global__ void k_smid(unsigned* out, unsigned long long ns) {
  spin_ns(ns);
  if (threadIdx.x == 0) out[blockIdx.x] = smid();
}
__global__ void k_mark(unsigned long long ns, unsigned* flag, unsigned val) {
  spin_ns(ns);
  __threadfence_system();
  if (threadIdx.x == 0 && blockIdx.x == 0) *(volatile unsigned*)flag = val;
}
__global__ void k_check(const unsigned* flag, unsigned* out) { *(volatile unsigned*)out = *(volatile const unsigned*)flag; }
__global__ void k_coop(unsigned* out, unsigned* passed) {
  if (threadIdx.x == 0) out[blockIdx.x] = smid();
  cg::this_grid().sync();
  if (threadIdx.x == 0) passed[blockIdx.x] = 1;
}
__global__ void __launch_bounds__(256) k_fma(float* out, int iters) {
  float a[8];
  for (int j = 0; j < 8; ++j) a[j] = threadIdx.x * 1e-3f + j;
  for (int i = 0; i < iters; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) a[j] = fmaf(a[j], 0.9999f, 1e-4f);
  float s = 0;
  for (int j = 0; j < 8; ++j) s += a[j];
  if (s == 1234.5f) out[blockIdx.x] = s;  // keeps the loop alive
}
// Low-priority filler for part 4: the block that finishes last publishes seq.
__global__ void __launch_bounds__(256) k_low(unsigned long long ns, unsigned* cnt, unsigned* done, unsigned seq) {
  spin_ns(ns);
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    if (atomicAdd(cnt, 1u) == gridDim.x - 1) {
      *cnt = 0;
      __threadfence_system();
      *(volatile unsigned*)done = seq;
    }
  }
}
__global__ void k_urgent(unsigned long long* t) { *(volatile unsigned long long*)t = gtime(); }
__global__ void k_init(float* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    p[i] = ((unsigned)(i * 2654435761u + seed) >> 8) * (1.0f / 16777216.0f) - 0.5f;
}

// Same as k_smid, as PTX text for cuModuleLoadData / cuLibraryLoadData.
static const char* kPtx = R"(
.version 8.0
.target sm_90
.address_size 64
.visible .entry smid_ptx(.param .u64 p_out, .param .u64 p_ns)
{
  .reg .pred %p<3>;
  .reg .b32 %r<4>;
  .reg .b64 %rd<9>;
  ld.param.u64 %rd1, [p_out];
  ld.param.u64 %rd2, [p_ns];
  cvta.to.global.u64 %rd3, %rd1;
  mov.u64 %rd4, %globaltimer;
SPIN:
  mov.u64 %rd5, %globaltimer;
  sub.u64 %rd6, %rd5, %rd4;
  setp.lt.u64 %p1, %rd6, %rd2;
  @%p1 bra SPIN;
  mov.u32 %r1, %tid.x;
  setp.ne.u32 %p2, %r1, 0;
  @%p2 bra DONE;
  mov.u32 %r2, %smid;
  mov.u32 %r3, %ctaid.x;
  mul.wide.u32 %rd7, %r3, 4;
  add.u64 %rd8, %rd3, %rd7;
  st.global.u32 [%rd8], %r2;
DONE:
  ret;
}
)";


// runtime_api_prog: exercises the CUDA runtime API the way ordinary CUDA programs do, with every
// result checked against a host reference and written to <out>/results.json.
//
//   runtime_api_prog --out DIR
//
// Built twice from this file: gpu_runtime_api_prog (legacy default stream) and
// gpu_runtime_api_prog_ptds (nvcc --default-stream per-thread, where stream 0 is the calling
// thread's default stream). Run natively and under `xsched run`, the two results.json files must
// be identical (tests/gpu/compare_runs.py). Exit codes: 0 all checks passed, 1 a check or a CUDA
// call failed (the call is printed), 2 bad arguments, 77 no usable GPU (skip).
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gpu_common.h"

using namespace gputest;

namespace {

#if defined(CUDA_API_PER_THREAD_DEFAULT_STREAM)
constexpr bool kPerThreadBuild = true;
const char* const kProgram = "runtime_api_ptds";
#else
constexpr bool kPerThreadBuild = false;
const char* const kProgram = "runtime_api";
#endif

const char* const kUsage = "usage: runtime_api_prog --out DIR\n";

void check_rt(cudaError_t r, const char* call, const char* file, int line) {
  if (r == cudaSuccess) return;
  std::fprintf(stderr, "%s: %s:%d: %s failed: %d %s (%s)\n", kProgram, file, line, call, static_cast<int>(r),
               cudaGetErrorName(r), cudaGetErrorString(r));
  std::fflush(stderr);
  std::exit(1);
}
#define CK(call) check_rt((call), #call, __FILE__, __LINE__)
// After a <<<>>> launch: the launch error, if any.
#define CK_LAUNCH() check_rt(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

constexpr int kN = 1 << 16;
constexpr int kBlock = 256;
constexpr size_t kBytes = sizeof(uint32_t) * kN;
constexpr uint64_t kMs = 1000000;

unsigned grid_for(int n) { return static_cast<unsigned>((n + kBlock - 1) / kBlock); }

__global__ void k_fill(uint32_t* buf, uint32_t seed, int n) { body_fill(buf, seed, n); }
__global__ void k_mix(uint32_t* buf, uint32_t tag, int n) { body_mix(buf, tag, n); }
__global__ void k_mix_slow(uint32_t* buf, uint32_t tag, int n, uint64_t ns) { body_mix_slow(buf, tag, n, ns); }
__global__ void k_combine(const uint32_t* src, uint32_t* dst, uint32_t tag, int n, uint64_t ns) {
  body_combine(src, dst, tag, n, ns);
}
__global__ void k_struct(Params48 p, uint32_t* out, int n) { body_struct(p, out, n); }
__global__ void k_struct_acc(Params48 p, uint32_t* out, int n) { body_struct_acc(p, out, n); }
__global__ void k_mixed(char a, Odd o, float f, uint16_t h, Params48 p, Big big, uint32_t* out) {
  body_mixed(a, o, f, h, p, big, out);
}
__global__ void k_write_flag(volatile uint32_t* flag, uint32_t value) { body_write_flag(flag, value); }

void fill(cudaStream_t s, uint32_t* buf, uint32_t seed, int n = kN) {
  k_fill<<<grid_for(n), kBlock, 0, s>>>(buf, seed, n);
  CK_LAUNCH();
}
void mixk(cudaStream_t s, uint32_t* buf, uint32_t tag, int n = kN) {
  k_mix<<<grid_for(n), kBlock, 0, s>>>(buf, tag, n);
  CK_LAUNCH();
}
void mix_slow(cudaStream_t s, uint32_t* buf, uint32_t tag, uint64_t ns, int n = kN) {
  k_mix_slow<<<grid_for(n), kBlock, 0, s>>>(buf, tag, n, ns);
  CK_LAUNCH();
}
void combine(cudaStream_t s, const uint32_t* src, uint32_t* dst, uint32_t tag, uint64_t ns, int n = kN) {
  k_combine<<<grid_for(n), kBlock, 0, s>>>(src, dst, tag, n, ns);
  CK_LAUNCH();
}

uint32_t* dalloc(int n = kN) {
  void* p = nullptr;
  CK(cudaMalloc(&p, sizeof(uint32_t) * static_cast<size_t>(n)));
  return static_cast<uint32_t*>(p);
}

// cudaMemcpy: synchronous; in the legacy build it runs on the legacy default stream (waits for
// blocking streams), in the per-thread build on the calling thread's default stream.
std::vector<uint32_t> read_sync(const uint32_t* p, int n = kN) {
  std::vector<uint32_t> v(static_cast<size_t>(n));
  CK(cudaMemcpy(v.data(), p, v.size() * sizeof(uint32_t), cudaMemcpyDeviceToHost));
  return v;
}

std::vector<uint32_t> filled(uint32_t seed, int n = kN) {
  std::vector<uint32_t> v(static_cast<size_t>(n));
  host_fill(v, seed);
  return v;
}

Params48 make_params(int k) {
  Params48 p{};
  p.a = 1.5 * k + 0.25;
  p.b = -2.0 / (k + 3);
  for (int j = 0; j < 4; ++j) p.c[j] = k * 7 + j - 11;
  p.d = 0x123456789ALL * (k + 1);
  p.e = 3.75f * static_cast<float>(k) - 1.0f;
  p.f = 0xABCDEF01u ^ static_cast<uint32_t>(k);
  return p;
}

struct Streams {
  cudaStream_t s1 = nullptr;  // blocking
  cudaStream_t n2 = nullptr;  // non-blocking
  int prio_least = 0, prio_greatest = 0;
};
Streams g;

// ---- <<<>>> launches with by-value structs; host copies change right after each launch ----
void test_struct_args(Results& R) {
  std::puts("struct_args");
  uint32_t* out = dalloc();
  uint32_t* acc = dalloc();
  uint32_t* tmp = dalloc();
  Params48 p = make_params(1);
  k_struct<<<grid_for(kN), kBlock, 0, g.s1>>>(p, out, kN);
  CK_LAUNCH();
  CK(cudaStreamSynchronize(g.s1));
  std::vector<uint32_t> want(kN);
  for (int i = 0; i < kN; ++i) want[i] = mix(hash_params(p), static_cast<uint32_t>(i), static_cast<uint32_t>(i));
  R.check("struct_args.params48", read_sync(out), want);

  uint32_t* out8 = dalloc(kMixedOutputs);
  char a = 'x';
  Odd o{};
  o.c = 'q';
  o.d = 3.14159;
  o.s = -1234;
  float f = -0.75f;
  uint16_t h = 0xBEEF;
  Params48 p2 = make_params(2);
  Big big{};
  for (int k = 0; k < 512; ++k) big.v[k] = static_cast<uint32_t>(k * k + 7);
  k_mixed<<<1, 32, 0, g.s1>>>(a, o, f, h, p2, big, out8);
  CK_LAUNCH();
  CK(cudaStreamSynchronize(g.s1));
  std::vector<uint32_t> mwant(kMixedOutputs);
  for (int k = 0; k < kMixedOutputs; ++k) mwant[k] = mixed_output(k, a, o, f, h, p2, big);
  R.check("struct_args.mixed_2k_params", read_sync(out8, kMixedOutputs), mwant);

  // Launches queued behind a slow kernel, with the host struct changed right after each one.
  CK(cudaMemsetAsync(acc, 0, kBytes, g.s1));
  mix_slow(g.s1, tmp, 1, 3 * kMs);
  std::vector<uint32_t> awant(kN, 0);
  Params48 q{};
  for (int j = 0; j < 32; ++j) {
    q = make_params(200 + j);
    k_struct_acc<<<grid_for(kN), kBlock, 0, g.s1>>>(q, acc, kN);
    CK_LAUNCH();
    const uint32_t hq = hash_params(q);
    for (int i = 0; i < kN; ++i) awant[i] = mix(awant[i], hq, static_cast<uint32_t>(i));
    q = make_params(-1);
  }
  CK(cudaStreamSynchronize(g.s1));
  R.check("struct_args.queued_struct_x32", read_sync(acc), awant);
  for (uint32_t* x : {out, acc, tmp, out8}) CK(cudaFree(x));
}

// ---- cudaLaunchKernelEx with attributes ----
void test_launch_ex(Results& R) {
  std::puts("launch_ex");
  uint32_t* buf = dalloc();
  uint32_t* tmp = dalloc();
  fill(g.n2, buf, 30);
  mix_slow(g.n2, tmp, 1, 2 * kMs);
  std::vector<uint32_t> want = filled(30);
  cudaLaunchAttribute attrs[1] = {};
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(grid_for(kN));
  cfg.blockDim = dim3(kBlock);
  cfg.dynamicSmemBytes = 0;
  cfg.stream = g.n2;
  cfg.attrs = attrs;
  cfg.numAttrs = 1;
  attrs[0].id = cudaLaunchAttributePriority;
  attrs[0].val.priority = g.prio_greatest;
  uint32_t tag = 31;
  CK(cudaLaunchKernelEx(&cfg, k_mix, buf, tag, kN));
  host_mix(want, 31);
  cfg.gridDim = dim3(1);
  attrs[0].val.priority = g.prio_least;

  int dev = 0, cluster_ok = 0;
  CK(cudaGetDevice(&dev));
  CK(cudaDeviceGetAttribute(&cluster_ok, cudaDevAttrClusterLaunch, dev));
  cfg.gridDim = dim3(grid_for(kN));
  if (cluster_ok) {
    attrs[0].id = cudaLaunchAttributeClusterDimension;
    attrs[0].val.clusterDim.x = 2;
    attrs[0].val.clusterDim.y = 1;
    attrs[0].val.clusterDim.z = 1;
    CK(cudaLaunchKernelEx(&cfg, k_mix, buf, 32u, kN));
  } else {
    std::puts("  (device has no cluster launch: plain launch instead)");
    mixk(g.n2, buf, 32);
  }
  host_mix(want, 32);
  cfg.numAttrs = 0;
  cfg.attrs = nullptr;
  CK(cudaLaunchKernelEx(&cfg, k_mix, buf, 33u, kN));
  host_mix(want, 33);
  // The C entry point (void** arguments), as frameworks call it.
  uint32_t* b = buf;
  uint32_t t = 34;
  int n = kN;
  void* args[] = {&b, &t, &n};
  CK(cudaLaunchKernelExC(&cfg, reinterpret_cast<const void*>(k_mix), args));
  host_mix(want, 34);
  t = 0xDEADBEEF;  // the launch above copied its arguments
  n = 1;
  t = 35;
  n = kN;
  CK(cudaLaunchKernel(reinterpret_cast<const void*>(k_mix), dim3(grid_for(kN)), dim3(kBlock), args, 0, g.n2));
  host_mix(want, 35);
  t = 0;
  n = 1;
  CK(cudaStreamSynchronize(g.n2));
  R.check("launch_ex.priority_cluster_plain_c", read_sync(buf), want);
  CK(cudaFree(buf));
  CK(cudaFree(tmp));
}

// ---- the legacy default stream (explicitly, and as stream 0 in the legacy build) ----
void test_default_streams(Results& R) {
  std::puts("default_streams");
  cudaStream_t s2 = nullptr;
  CK(cudaStreamCreate(&s2));  // blocking
  uint32_t* buf = dalloc();
  fill(cudaStreamLegacy, buf, 1);
  std::vector<uint32_t> want = filled(1);
  mix_slow(g.s1, buf, 2, 2 * kMs);
  host_mix(want, 2);
  mixk(cudaStreamLegacy, buf, 3);  // waits for the blocking stream s1
  host_mix(want, 3);
  mix_slow(g.s1, buf, 4, 1 * kMs);  // s1 waits for the legacy stream
  host_mix(want, 4);
  mixk(cudaStreamLegacy, buf, 5);
  host_mix(want, 5);
  mixk(s2, buf, 6);
  host_mix(want, 6);
  CK(cudaDeviceSynchronize());
  R.check("default_streams.legacy_explicit", read_sync(buf), want);

  if (!kPerThreadBuild) {
    // Stream 0 is the legacy default stream here.
    mix_slow(g.s1, buf, 7, 2 * kMs);
    host_mix(want, 7);
    mixk(0, buf, 8);
    host_mix(want, 8);
    mix_slow(s2, buf, 9, 1 * kMs);
    host_mix(want, 9);
    mixk(0, buf, 10);
    host_mix(want, 10);
    CK(cudaStreamSynchronize(0));
    R.check("default_streams.stream0_legacy", read_sync(buf), want);
  } else {
    // Stream 0 is this thread's default stream: ordered within itself, and with the legacy
    // stream, but not with other streams; order with s1 by an event.
    cudaEvent_t e = nullptr;
    CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    mix_slow(g.s1, buf, 7, 2 * kMs);
    host_mix(want, 7);
    CK(cudaEventRecord(e, g.s1));
    CK(cudaStreamWaitEvent(0, e, 0));
    mixk(0, buf, 8);
    host_mix(want, 8);
    mix_slow(0, buf, 9, 1 * kMs);
    host_mix(want, 9);
    mixk(cudaStreamLegacy, buf, 10);  // the legacy stream waits for the per-thread stream
    host_mix(want, 10);
    CK(cudaStreamSynchronize(cudaStreamLegacy));
    R.check("default_streams.stream0_per_thread", read_sync(buf), want);
    CK(cudaEventDestroy(e));
  }
  // cudaStreamPerThread named explicitly, in either build.
  mixk(cudaStreamPerThread, buf, 11);
  host_mix(want, 11);
  mix_slow(cudaStreamPerThread, buf, 12, 1 * kMs);
  host_mix(want, 12);
  CK(cudaStreamSynchronize(cudaStreamPerThread));
  R.check("default_streams.per_thread_handle", read_sync(buf), want);
  CK(cudaStreamDestroy(s2));
  CK(cudaFree(buf));
}

// ---- copies ----
void test_memcpy(Results& R) {
  std::puts("memcpy");
  uint32_t* buf = dalloc();
  uint32_t* buf2 = dalloc();
  // cudaMemcpy after a kernel on the same (default) stream, and after one on the legacy stream.
  std::vector<uint32_t> h = filled(90);
  CK(cudaMemcpy(buf, h.data(), kBytes, cudaMemcpyHostToDevice));
  mix_slow(0, buf, 91, 2 * kMs);
  host_mix(h, 91);
  R.check("memcpy.sync_read_after_kernel_stream0", read_sync(buf), h);
  mix_slow(cudaStreamLegacy, buf, 92, 2 * kMs);
  std::vector<uint32_t> h2 = filled(93);
  CK(cudaMemcpy(buf, h2.data(), kBytes, cudaMemcpyHostToDevice));  // must not overtake the kernel
  R.check("memcpy.sync_write_after_legacy_kernel", read_sync(buf), h2);
  if (!kPerThreadBuild) {
    // Legacy build: cudaMemcpy also waits for blocking streams.
    mix_slow(g.s1, buf, 94, 2 * kMs);
    std::vector<uint32_t> h3 = filled(95);
    CK(cudaMemcpy(buf, h3.data(), kBytes, cudaMemcpyHostToDevice));
    R.check("memcpy.sync_write_after_blocking_stream_kernel", read_sync(buf), h3);
  }
  // Pinned memory, async both ways on one stream.
  uint32_t *hp = nullptr, *hp2 = nullptr;
  CK(cudaMallocHost(reinterpret_cast<void**>(&hp), kBytes));
  CK(cudaHostAlloc(reinterpret_cast<void**>(&hp2), kBytes, cudaHostAllocDefault));
  std::vector<uint32_t> w = filled(96);
  std::copy(w.begin(), w.end(), hp);
  mix_slow(g.n2, buf2, 1, 1 * kMs);
  CK(cudaMemcpyAsync(buf, hp, kBytes, cudaMemcpyHostToDevice, g.n2));
  mixk(g.n2, buf, 97);
  host_mix(w, 97);
  CK(cudaMemcpyAsync(hp2, buf, kBytes, cudaMemcpyDeviceToHost, g.n2));
  CK(cudaStreamSynchronize(g.n2));
  R.check("memcpy.pinned_async_round_trip", std::vector<uint32_t>(hp2, hp2 + kN), w);
  // Pageable async: staged at the call (source reusable at once); DtoH returns when complete.
  std::vector<uint32_t> pg = filled(98);
  std::vector<uint32_t> pw = pg;
  mix_slow(g.n2, buf2, 1, 2 * kMs);
  CK(cudaMemcpyAsync(buf, pg.data(), kBytes, cudaMemcpyHostToDevice, g.n2));
  std::fill(pg.begin(), pg.end(), 0xDEADBEEFu);
  mixk(g.n2, buf, 99);
  host_mix(pw, 99);
  std::vector<uint32_t> back(kN, 0);
  CK(cudaMemcpyAsync(back.data(), buf, kBytes, cudaMemcpyDeviceToHost, g.n2));
  R.check("memcpy.pageable_async_both_ways", back, pw);
  // Device to device, async and sync; cudaMemcpyDefault (unified addressing).
  mix_slow(g.n2, buf, 100, 1 * kMs);
  host_mix(pw, 100);
  CK(cudaMemcpyAsync(buf2, buf, kBytes, cudaMemcpyDeviceToDevice, g.n2));
  mixk(g.n2, buf2, 101);
  host_mix(pw, 101);
  CK(cudaStreamSynchronize(g.n2));
  std::vector<uint32_t> viadef(kN, 0);
  CK(cudaMemcpy(viadef.data(), buf2, kBytes, cudaMemcpyDefault));
  R.check("memcpy.dtod_async_then_default_kind", viadef, pw);
  // Memsets in stream order.
  mix_slow(g.s1, buf, 102, 2 * kMs);
  CK(cudaMemsetAsync(buf, 0x5A, kBytes, g.s1));
  mixk(g.s1, buf, 103);
  CK(cudaStreamSynchronize(g.s1));
  std::vector<uint32_t> ms(kN, 0x5A5A5A5Au);
  host_mix(ms, 103);
  R.check("memcpy.memset_async_in_order", read_sync(buf), ms);
  CK(cudaFreeHost(hp));
  CK(cudaFreeHost(hp2));
  CK(cudaFree(buf));
  CK(cudaFree(buf2));
}

// ---- cudaFree while work is queued; stream-ordered allocation ----
void test_free_while_queued(Results& R) {
  std::puts("free_while_queued");
  uint32_t* c = dalloc();
  uint32_t* d = dalloc();
  fill(g.s1, c, 110);
  fill(g.s1, d, 111);
  std::vector<uint32_t> hc = filled(110), hd = filled(111);
  combine(g.s1, c, d, 112, 3 * kMs);
  host_combine(hc, hd, 112);
  CK(cudaFree(c));  // cudaFree synchronises: the reader of c has run before c is reused
  uint32_t* e = dalloc();
  CK(cudaMemsetAsync(e, 0xFF, kBytes, g.n2));
  CK(cudaStreamSynchronize(g.n2));
  CK(cudaStreamSynchronize(g.s1));
  R.check("free_while_queued.reader_of_freed", read_sync(d), hd);
  uint32_t* f = dalloc();
  void* ph = nullptr;
  CK(cudaMallocHost(&ph, 1 << 20));
  mix_slow(g.s1, d, 113, 2 * kMs);
  host_mix(hd, 113);
  CK(cudaFree(f));
  CK(cudaFreeHost(ph));
  mixk(g.s1, d, 114);
  host_mix(hd, 114);
  CK(cudaStreamSynchronize(g.s1));
  R.check("free_while_queued.unrelated", read_sync(d), hd);

  // cudaMallocAsync / cudaFreeAsync on a stream.
  void* pa = nullptr;
  CK(cudaMallocAsync(&pa, kBytes, g.n2));
  auto* a = static_cast<uint32_t*>(pa);
  fill(g.n2, a, 115);
  mix_slow(g.n2, a, 116, 1 * kMs);
  CK(cudaMemcpyAsync(d, a, kBytes, cudaMemcpyDeviceToDevice, g.n2));
  CK(cudaFreeAsync(pa, g.n2));
  mixk(g.n2, d, 117);
  CK(cudaStreamSynchronize(g.n2));
  std::vector<uint32_t> wa = filled(115);
  host_mix(wa, 116);
  host_mix(wa, 117);
  R.check("free_while_queued.malloc_async", read_sync(d), wa);
  CK(cudaFree(d));
  CK(cudaFree(e));
}

// ---- events across streams; event and stream queries; timing ----
void test_events(Results& R) {
  std::puts("events");
  cudaStream_t a = nullptr, b = nullptr;
  CK(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking));
  CK(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking));
  cudaEvent_t ea = nullptr, eb = nullptr;
  CK(cudaEventCreateWithFlags(&ea, cudaEventDisableTiming));
  CK(cudaEventCreateWithFlags(&eb, cudaEventDisableTiming));
  uint32_t* x = dalloc();
  uint32_t* y = dalloc();
  fill(a, x, 50);
  fill(b, y, 51);
  CK(cudaStreamSynchronize(a));
  CK(cudaStreamSynchronize(b));
  std::vector<uint32_t> hx = filled(50), hy = filled(51);
  for (int r = 0; r < 6; ++r) {
    const bool even = r % 2 == 0;
    mix_slow(a, x, 60u + r, even ? 1 * kMs : 0);
    host_mix(hx, 60u + r);
    CK(cudaEventRecord(ea, a));
    CK(cudaStreamWaitEvent(b, ea, 0));
    combine(b, x, y, 70u + r, even ? 0 : 2 * kMs);
    host_combine(hx, hy, 70u + r);
    CK(cudaEventRecord(eb, b));
    CK(cudaStreamWaitEvent(a, eb, 0));
  }
  CK(cudaStreamSynchronize(a));
  CK(cudaStreamSynchronize(b));
  R.check("events.cross_stream_x", read_sync(x), hx);
  R.check("events.cross_stream_y", read_sync(y), hy);

  // Polling: when the query says done, the data is complete (read through another stream).
  uint32_t* pinned = nullptr;
  CK(cudaMallocHost(reinterpret_cast<void**>(&pinned), kBytes));
  const auto poll = [](const char* what, auto query) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    long polls = 0;
    for (;;) {
      const cudaError_t r = query();
      if (r == cudaSuccess) break;
      if (r != cudaErrorNotReady) check_rt(r, what, __FILE__, __LINE__);
      ++polls;
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr, "%s: %s still not ready after 60 s\n", kProgram, what);
        std::exit(1);
      }
    }
    std::printf("  (%s: %ld polls saw cudaErrorNotReady)\n", what, polls);
  };
  mix_slow(a, x, 80, 5 * kMs);
  mixk(a, x, 81);
  host_mix(hx, 80);
  host_mix(hx, 81);
  CK(cudaEventRecord(ea, a));
  poll("cudaEventQuery", [&] { return cudaEventQuery(ea); });
  CK(cudaMemcpyAsync(pinned, x, kBytes, cudaMemcpyDeviceToHost, b));
  CK(cudaStreamSynchronize(b));
  R.check("events.event_query", std::vector<uint32_t>(pinned, pinned + kN), hx);
  mix_slow(a, x, 82, 5 * kMs);
  mixk(a, x, 83);
  host_mix(hx, 82);
  host_mix(hx, 83);
  poll("cudaStreamQuery", [&] { return cudaStreamQuery(a); });
  CK(cudaMemcpyAsync(pinned, x, kBytes, cudaMemcpyDeviceToHost, b));
  CK(cudaStreamSynchronize(b));
  R.check("events.stream_query", std::vector<uint32_t>(pinned, pinned + kN), hx);
  mix_slow(a, x, 84, 3 * kMs);
  host_mix(hx, 84);
  CK(cudaEventRecord(ea, a));
  CK(cudaEventSynchronize(ea));
  CK(cudaMemcpyAsync(pinned, x, kBytes, cudaMemcpyDeviceToHost, b));
  CK(cudaStreamSynchronize(b));
  R.check("events.event_synchronize", std::vector<uint32_t>(pinned, pinned + kN), hx);

  cudaEvent_t t0 = nullptr, t1 = nullptr;
  CK(cudaEventCreate(&t0));
  CK(cudaEventCreate(&t1));
  CK(cudaEventRecord(t0, a));
  mix_slow(a, x, 85, 2 * kMs);
  CK(cudaEventRecord(t1, a));
  CK(cudaEventSynchronize(t1));
  float ms = 0;
  CK(cudaEventElapsedTime(&ms, t0, t1));
  R.check_true("events.elapsed_time", ms >= 1.0f && ms < 10000.0f,
               "elapsed " + std::to_string(ms) + " ms for a 2 ms kernel");
  for (cudaEvent_t e : {ea, eb, t0, t1}) CK(cudaEventDestroy(e));
  CK(cudaFreeHost(pinned));
  CK(cudaStreamDestroy(a));
  CK(cudaStreamDestroy(b));
  CK(cudaFree(x));
  CK(cudaFree(y));
}

// ---- stream priorities ----
void test_priorities(Results& R) {
  std::puts("stream_priorities");
  cudaStream_t hi = nullptr, lo = nullptr;
  CK(cudaStreamCreateWithPriority(&hi, cudaStreamNonBlocking, g.prio_greatest));
  CK(cudaStreamCreateWithPriority(&lo, cudaStreamNonBlocking, g.prio_least));
  int phi = 0, plo = 0;
  CK(cudaStreamGetPriority(hi, &phi));
  CK(cudaStreamGetPriority(lo, &plo));
  R.check_value("stream_priorities.get_high", phi, g.prio_greatest);
  R.check_value("stream_priorities.get_low", plo, g.prio_least);
  uint32_t* l = dalloc();
  uint32_t* h = dalloc();
  fill(lo, l, 120);
  fill(hi, h, 121);
  std::vector<uint32_t> wl = filled(120), wh = filled(121);
  for (int k = 0; k < 4; ++k) {
    mix_slow(lo, l, 122u + k, kMs / 2);
    host_mix(wl, 122u + k);
  }
  for (int k = 0; k < 8; ++k) {
    mixk(hi, h, 130u + k);
    host_mix(wh, 130u + k);
  }
  CK(cudaStreamSynchronize(hi));
  CK(cudaStreamSynchronize(lo));
  R.check("stream_priorities.low", read_sync(l), wl);
  R.check("stream_priorities.high", read_sync(h), wh);
  CK(cudaStreamDestroy(hi));
  CK(cudaStreamDestroy(lo));
  CK(cudaFree(l));
  CK(cudaFree(h));
}

// ---- host callbacks in stream order ----
struct HostFnState {
  volatile uint32_t* flag = nullptr;
  std::vector<long long> seen;
};

void CUDART_CB host_fn(void* user) {
  auto* st = static_cast<HostFnState*>(user);
  st->seen.push_back(static_cast<long long>(*st->flag));
}

void CUDART_CB stream_callback(cudaStream_t, cudaError_t status, void* user) {
  auto* st = static_cast<HostFnState*>(user);
  st->seen.push_back(status == cudaSuccess ? static_cast<long long>(*st->flag) : -1000 - status);
}

void test_host_callbacks(Results& R) {
  std::puts("host_callbacks");
  uint32_t* hflag = nullptr;
  CK(cudaHostAlloc(reinterpret_cast<void**>(&hflag), sizeof(uint32_t), cudaHostAllocMapped));
  *hflag = 0;
  uint32_t* dflag = nullptr;
  CK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&dflag), hflag, 0));
  HostFnState st;
  st.flag = hflag;
  uint32_t* tmp = dalloc();
  mix_slow(g.s1, tmp, 1, 1 * kMs);
  k_write_flag<<<1, 32, 0, g.s1>>>(dflag, 42);
  CK_LAUNCH();
  CK(cudaLaunchHostFunc(g.s1, host_fn, &st));
  k_write_flag<<<1, 32, 0, g.s1>>>(dflag, 43);
  CK_LAUNCH();
  CK(cudaStreamAddCallback(g.s1, stream_callback, &st, 0));
  CK(cudaStreamSynchronize(g.s1));
  k_write_flag<<<1, 32>>>(dflag, 44);  // stream 0
  CK_LAUNCH();
  CK(cudaLaunchHostFunc(0, host_fn, &st));
  CK(cudaDeviceSynchronize());
  R.check_value("host_callbacks.calls", static_cast<long long>(st.seen.size()), 3);
  for (size_t k = 0; k < 3; ++k) {
    R.check_value("host_callbacks.seen_" + std::to_string(k), k < st.seen.size() ? st.seen[k] : -1,
                  42 + static_cast<long long>(k));
  }
  CK(cudaFree(tmp));
  CK(cudaFreeHost(hflag));
}

// ---- a CUDA graph captured from a stream ----
void test_graph(Results& R) {
  std::puts("graph");
  cudaStream_t cs = nullptr;
  CK(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));
  uint32_t* buf = dalloc();
  fill(cs, buf, 140);
  CK(cudaStreamSynchronize(cs));
  std::vector<uint32_t> want = filled(140);
  CK(cudaStreamBeginCapture(cs, cudaStreamCaptureModeThreadLocal));
  mixk(cs, buf, 141);
  mix_slow(cs, buf, 142, kMs / 2);
  mixk(cs, buf, 143);
  cudaGraph_t graph = nullptr;
  CK(cudaStreamEndCapture(cs, &graph));
  cudaGraphExec_t exec = nullptr;
  CK(cudaGraphInstantiate(&exec, graph, 0));
  for (int k = 0; k < 3; ++k) {
    CK(cudaGraphLaunch(exec, cs));
    host_mix(want, 141);
    host_mix(want, 142);
    host_mix(want, 143);
  }
  mixk(cs, buf, 144);
  host_mix(want, 144);
  CK(cudaStreamSynchronize(cs));
  R.check("graph.captured_x3", read_sync(buf), want);
  CK(cudaGraphExecDestroy(exec));
  CK(cudaGraphDestroy(graph));
  CK(cudaStreamDestroy(cs));
  CK(cudaFree(buf));
}

// ---- many small launches ----
void test_many_launches(Results& R) {
  std::puts("many_launches");
  constexpr int n = 256;
  uint32_t* buf = dalloc(n);
  fill(g.s1, buf, 150, n);
  std::vector<uint32_t> want = filled(150, n);
  for (int i = 0; i < 20000; ++i) {
    mixk(g.s1, buf, static_cast<uint32_t>(i), n);
    host_mix(want, static_cast<uint32_t>(i));
  }
  CK(cudaStreamSynchronize(g.s1));
  R.check("many_launches.one_stream_20000", read_sync(buf, n), want);
  CK(cudaFree(buf));
}

// ---- host threads: own streams, per-thread default streams, streams shared across threads ----
void test_threads(Results& R) {
  std::puts("threads");
  constexpr int kThreads = 4;
  std::vector<uint32_t> own[kThreads], ptds[kThreads];
  std::vector<std::thread> th;
  for (int t = 0; t < kThreads; ++t) {
    th.emplace_back([t, &own, &ptds] {
      cudaStream_t s = nullptr;
      CK(cudaStreamCreateWithFlags(&s, t % 2 ? cudaStreamNonBlocking : cudaStreamDefault));
      uint32_t* a = dalloc();
      uint32_t* b = dalloc();
      fill(s, a, 170u + t);
      fill(cudaStreamPerThread, b, 180u + t);
      for (int i = 0; i < 100; ++i) {
        mixk(s, a, static_cast<uint32_t>(t * 1000 + i));
        mixk(cudaStreamPerThread, b, static_cast<uint32_t>(t * 2000 + i));
      }
      mix_slow(s, a, 1, 1 * kMs);
      own[t].assign(kN, 0);
      ptds[t].assign(kN, 0);
      CK(cudaMemcpyAsync(own[t].data(), a, kBytes, cudaMemcpyDeviceToHost, s));
      CK(cudaStreamSynchronize(s));
      CK(cudaStreamSynchronize(cudaStreamPerThread));
      CK(cudaMemcpyAsync(ptds[t].data(), b, kBytes, cudaMemcpyDeviceToHost, cudaStreamPerThread));
      CK(cudaStreamSynchronize(cudaStreamPerThread));
      CK(cudaStreamDestroy(s));
      CK(cudaFree(a));
      CK(cudaFree(b));
    });
  }
  for (auto& x : th) x.join();
  for (int t = 0; t < kThreads; ++t) {
    std::vector<uint32_t> wa = filled(170u + t), wb = filled(180u + t);
    for (int i = 0; i < 100; ++i) {
      host_mix(wa, static_cast<uint32_t>(t * 1000 + i));
      host_mix(wb, static_cast<uint32_t>(t * 2000 + i));
    }
    host_mix(wa, 1);
    R.check("threads.own_stream_" + std::to_string(t), own[t], wa);
    R.check("threads.per_thread_default_" + std::to_string(t), ptds[t], wb);
  }

  // The field report's error 709: a stream created on this thread, used and synchronised from a
  // fresh thread whose first CUDA call touches that stream.
  cudaStream_t shared = nullptr;
  CK(cudaStreamCreate(&shared));
  uint32_t* buf = dalloc();
  fill(shared, buf, 190);
  std::vector<uint32_t> w = filled(190);
  mix_slow(shared, buf, 191, 3 * kMs);
  host_mix(w, 191);
  std::atomic<int> step{0};
  std::thread user([&] {
    CK(cudaStreamSynchronize(shared));  // first CUDA call of this thread
    step = 1;
    mixk(shared, buf, 192);
    mix_slow(shared, buf, 193, 1 * kMs);
    unsigned int flags = 0;
    CK(cudaStreamGetFlags(shared, &flags));
    int prio = 0;
    CK(cudaStreamGetPriority(shared, &prio));
    CK(cudaStreamSynchronize(shared));
    step = 2;
  });
  user.join();
  host_mix(w, 192);
  host_mix(w, 193);
  R.check_value("threads.shared_stream_steps", step.load(), 2);
  // Read through a non-blocking stream: correct only if the other thread's sync really waited.
  std::vector<uint32_t> after(kN, 0);
  CK(cudaMemcpyAsync(after.data(), buf, kBytes, cudaMemcpyDeviceToHost, g.n2));
  R.check("threads.stream_used_from_other_thread", after, w);

  // A stream created by a thread that has exited, used by a third thread.
  cudaStream_t orphan = nullptr;
  std::thread creator([&] { CK(cudaStreamCreateWithFlags(&orphan, cudaStreamNonBlocking)); });
  creator.join();
  std::thread user2([&] {
    mixk(orphan, buf, 194);
    mix_slow(orphan, buf, 195, 1 * kMs);
    CK(cudaStreamSynchronize(orphan));
    CK(cudaStreamDestroy(orphan));
  });
  user2.join();
  host_mix(w, 194);
  host_mix(w, 195);
  R.check("threads.stream_of_exited_thread", read_sync(buf), w);
  CK(cudaStreamDestroy(shared));
  CK(cudaFree(buf));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string out = parse_out_dir(argc, argv, kUsage);
  setvbuf(stdout, nullptr, _IOLBF, 0);

  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("SKIP: no usable GPU (cudaGetDeviceCount: %s, %d devices)\n", cudaGetErrorName(e), count);
    return kSkip;
  }
  CK(cudaSetDevice(0));
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  int driver = 0, runtime = 0;
  CK(cudaDriverGetVersion(&driver));
  CK(cudaRuntimeGetVersion(&runtime));
  std::printf("%s: device 0: %s, driver %d, runtime %d, %s default stream\n", kProgram, prop.name, driver, runtime,
              kPerThreadBuild ? "per-thread" : "legacy");
  CK(cudaDeviceGetStreamPriorityRange(&g.prio_least, &g.prio_greatest));
  CK(cudaStreamCreate(&g.s1));
  CK(cudaStreamCreateWithFlags(&g.n2, cudaStreamNonBlocking));

  Results R(kProgram);
  test_struct_args(R);
  test_launch_ex(R);
  test_default_streams(R);
  test_memcpy(R);
  test_free_while_queued(R);
  test_events(R);
  test_priorities(R);
  test_host_callbacks(R);
  test_graph(R);
  test_many_launches(R);
  test_threads(R);

  CK(cudaDeviceSynchronize());
  CK(cudaStreamDestroy(g.s1));
  CK(cudaStreamDestroy(g.n2));
  if (!out.empty() && !R.write(out)) return 1;
  std::printf("%s: %d check(s) failed\n", kProgram, R.failures());
  return R.failures() == 0 ? 0 : 1;
}

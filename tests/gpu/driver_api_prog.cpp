// driver_api_prog: exercises the CUDA driver API the way a hand-written driver program does, with
// every result checked against a host reference and written to <out>/results.json.
//
//   driver_api_prog --out DIR
//
// Only the driver API is used: this is plain C++ linked with libcuda alone (nvcc would pull in the
// CUDA runtime to register a fatbin). The kernels come from gpu_kernels.cu, compiled to a fatbin
// at build time (nvcc -fatbin), embedded as a byte array, and loaded with cuModuleLoadData.
// Run natively and under `xsched run`, the two results.json files must be identical
// (tests/gpu/compare_runs.py). Exit codes: 0 all checks passed, 1 a check or a CUDA call failed
// (the call is printed), 2 bad arguments, 77 no usable GPU (skip).
#include <cuda.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gpu_common.h"
#include "gpu_kernels_fatbin.h"  // generated: kGpuKernelsFatbin[], kGpuKernelsFatbin_size

using namespace gputest;

namespace {

const char* const kUsage = "usage: driver_api_prog --out DIR\n";

void check_cu(CUresult r, const char* call, const char* file, int line) {
  if (r == CUDA_SUCCESS) return;
  const char* name = nullptr;
  const char* msg = nullptr;
  cuGetErrorName(r, &name);
  cuGetErrorString(r, &msg);
  std::fprintf(stderr, "driver_api_prog: %s:%d: %s failed: %d %s (%s)\n", file, line, call, static_cast<int>(r),
               name ? name : "?", msg ? msg : "?");
  std::fflush(stderr);
  std::exit(1);
}
#define CK(call) check_cu((call), #call, __FILE__, __LINE__)

constexpr int kN = 1 << 16;  // elements per buffer
constexpr int kBlock = 256;
constexpr size_t kBytes = sizeof(uint32_t) * kN;
constexpr uint64_t kMs = 1000000;  // nanoseconds per millisecond (spin lengths)

unsigned grid_for(int n) { return static_cast<unsigned>((n + kBlock - 1) / kBlock); }

struct Gpu {
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
  CUmodule mod = nullptr;
  CUfunction fill = nullptr, mix = nullptr, mix_slow = nullptr, combine = nullptr, strct = nullptr,
             struct_acc = nullptr, mixed = nullptr, write_flag = nullptr;
  CUstream s1 = nullptr;  // blocking stream (synchronises with the legacy default stream)
  CUstream n2 = nullptr;  // non-blocking stream
  int prio_least = 0, prio_greatest = 0;
};
Gpu g;

CUdeviceptr alloc_u32(int n = kN) {
  CUdeviceptr p = 0;
  CK(cuMemAlloc(&p, sizeof(uint32_t) * static_cast<size_t>(n)));
  return p;
}

// Synchronous read through the legacy default stream (waits for blocking streams).
std::vector<uint32_t> read_sync(CUdeviceptr p, int n = kN) {
  std::vector<uint32_t> v(static_cast<size_t>(n));
  CK(cuMemcpyDtoH(v.data(), p, v.size() * sizeof(uint32_t)));
  return v;
}

void launch_fill(CUstream s, CUdeviceptr buf, uint32_t seed, int n = kN) {
  void* args[] = {&buf, &seed, &n};
  CK(cuLaunchKernel(g.fill, grid_for(n), 1, 1, kBlock, 1, 1, 0, s, args, nullptr));
}

void launch_mix(CUstream s, CUdeviceptr buf, uint32_t tag, int n = kN) {
  void* args[] = {&buf, &tag, &n};
  CK(cuLaunchKernel(g.mix, grid_for(n), 1, 1, kBlock, 1, 1, 0, s, args, nullptr));
}

void launch_mix_slow(CUstream s, CUdeviceptr buf, uint32_t tag, uint64_t ns, int n = kN) {
  void* args[] = {&buf, &tag, &n, &ns};
  CK(cuLaunchKernel(g.mix_slow, grid_for(n), 1, 1, kBlock, 1, 1, 0, s, args, nullptr));
}

void launch_combine(CUstream s, CUdeviceptr src, CUdeviceptr dst, uint32_t tag, uint64_t ns, int n = kN) {
  void* args[] = {&src, &dst, &tag, &n, &ns};
  CK(cuLaunchKernel(g.combine, grid_for(n), 1, 1, kBlock, 1, 1, 0, s, args, nullptr));
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

// ---- by-value struct arguments through kernelParams ----
void test_struct_args(Results& R) {
  std::puts("struct_args");
  CUdeviceptr out = alloc_u32();
  Params48 p = make_params(1);
  int n = kN;
  void* args[] = {&p, &out, &n};
  CK(cuLaunchKernel(g.strct, grid_for(kN), 1, 1, kBlock, 1, 1, 0, g.s1, args, nullptr));
  CK(cuStreamSynchronize(g.s1));
  std::vector<uint32_t> want(kN);
  for (int i = 0; i < kN; ++i) want[i] = mix(hash_params(p), static_cast<uint32_t>(i), static_cast<uint32_t>(i));
  R.check("struct_args.params48", read_sync(out), want);

  CUdeviceptr out8 = alloc_u32(kMixedOutputs);
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
  void* margs[] = {&a, &o, &f, &h, &p2, &big, &out8};
  CK(cuLaunchKernel(g.mixed, 1, 1, 1, 32, 1, 1, 0, g.s1, margs, nullptr));
  CK(cuStreamSynchronize(g.s1));
  std::vector<uint32_t> mwant(kMixedOutputs);
  for (int k = 0; k < kMixedOutputs; ++k) mwant[k] = mixed_output(k, a, o, f, h, p2, big);
  R.check("struct_args.mixed_2k_params", read_sync(out8, kMixedOutputs), mwant);
  CK(cuMemFree(out));
  CK(cuMemFree(out8));
}

// ---- arguments passed as one buffer through `extra` ----
struct StructArgs {  // layout of k_struct / k_struct_acc parameters
  Params48 p;
  CUdeviceptr out;
  int n;
};
static_assert(offsetof(StructArgs, out) == 48 && offsetof(StructArgs, n) == 56, "param layout");
struct MixArgs {  // layout of k_mix parameters
  CUdeviceptr buf;
  uint32_t tag;
  int n;
};
static_assert(offsetof(MixArgs, tag) == 8 && offsetof(MixArgs, n) == 12, "param layout");

void test_extra_buffer(Results& R) {
  std::puts("extra_buffer");
  CUdeviceptr tmp = alloc_u32(), out = alloc_u32(), decoy = alloc_u32(), buf = alloc_u32();
  CK(cuMemsetD32Async(out, 0, kN, g.s1));
  launch_mix_slow(g.s1, tmp, 1, 2 * kMs);  // keeps what follows queued for a while
  StructArgs sa{};
  size_t sa_size = offsetof(StructArgs, n) + sizeof(int);
  void* sextra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &sa, CU_LAUNCH_PARAM_BUFFER_SIZE, &sa_size, CU_LAUNCH_PARAM_END};
  std::vector<uint32_t> want(kN, 0);
  for (int j = 0; j < 16; ++j) {
    sa.p = make_params(10 + j);
    sa.out = out;
    sa.n = kN;
    CK(cuLaunchKernel(g.struct_acc, grid_for(kN), 1, 1, kBlock, 1, 1, 0, g.s1, nullptr, sextra));
    const uint32_t hp = hash_params(sa.p);
    for (int i = 0; i < kN; ++i) want[i] = mix(want[i], hp, static_cast<uint32_t>(i));
    // The driver copied the buffer at the call: what we write now must not matter.
    sa.p = make_params(-999);
    sa.out = decoy;
    sa.n = 1;
  }
  launch_fill(g.s1, buf, 5);
  std::vector<uint32_t> mwant = filled(5);
  MixArgs ma{};
  size_t ma_size = sizeof(MixArgs);
  void* mextra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &ma, CU_LAUNCH_PARAM_BUFFER_SIZE, &ma_size, CU_LAUNCH_PARAM_END};
  for (int j = 0; j < 16; ++j) {
    ma.buf = buf;
    ma.tag = 500u + static_cast<uint32_t>(j);
    ma.n = kN;
    CK(cuLaunchKernel(g.mix, grid_for(kN), 1, 1, kBlock, 1, 1, 0, g.s1, nullptr, mextra));
    host_mix(mwant, ma.tag);
    ma.buf = decoy;
    ma.tag = 0xDEADBEEF;
    ma.n = 3;
  }
  CK(cuStreamSynchronize(g.s1));
  R.check("extra_buffer.struct_acc_x16", read_sync(out), want);
  R.check("extra_buffer.mix_x16", read_sync(buf), mwant);
  for (CUdeviceptr p : {tmp, out, decoy, buf}) CK(cuMemFree(p));
}

// ---- cuLaunchKernelEx with a launch configuration and attributes ----
void test_launch_ex(Results& R) {
  std::puts("launch_ex");
  CUstream s = nullptr;
  CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUdeviceptr buf = alloc_u32(), tmp = alloc_u32();
  launch_fill(s, buf, 30);
  launch_mix_slow(s, tmp, 1, 2 * kMs);
  std::vector<uint32_t> want = filled(30);

  CUlaunchAttribute attrs[2] = {};
  CUlaunchConfig cfg{};
  cfg.gridDimX = grid_for(kN);
  cfg.gridDimY = 1;
  cfg.gridDimZ = 1;
  cfg.blockDimX = kBlock;
  cfg.blockDimY = 1;
  cfg.blockDimZ = 1;
  cfg.sharedMemBytes = 0;
  cfg.hStream = s;
  cfg.attrs = attrs;
  cfg.numAttrs = 1;
  attrs[0].id = CU_LAUNCH_ATTRIBUTE_PRIORITY;
  attrs[0].value.priority = g.prio_greatest;
  CUdeviceptr b = buf;
  uint32_t tag = 31;
  int n = kN;
  void* args[] = {&b, &tag, &n};
  CK(cuLaunchKernelEx(&cfg, g.mix, args, nullptr));
  host_mix(want, 31);
  // Changing the configuration after the call must not change the launch.
  cfg.gridDimX = 1;
  attrs[0].value.priority = g.prio_least;
  tag = 0xDEADBEEF;

  int cluster_ok = 0;
  CK(cuDeviceGetAttribute(&cluster_ok, CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH, g.dev));
  cfg.gridDimX = grid_for(kN);
  tag = 32;
  if (cluster_ok) {
    attrs[0].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attrs[0].value.clusterDim.x = 2;
    attrs[0].value.clusterDim.y = 1;
    attrs[0].value.clusterDim.z = 1;
    CK(cuLaunchKernelEx(&cfg, g.mix, args, nullptr));
  } else {
    std::puts("  (device has no cluster launch: plain launch instead)");
    CK(cuLaunchKernel(g.mix, grid_for(kN), 1, 1, kBlock, 1, 1, 0, s, args, nullptr));
  }
  host_mix(want, 32);
  attrs[0].value.clusterDim.x = 7;

  cfg.numAttrs = 0;
  cfg.attrs = nullptr;
  tag = 33;
  CK(cuLaunchKernelEx(&cfg, g.mix, args, nullptr));
  host_mix(want, 33);
  tag = 0;

  MixArgs ma{buf, 34, kN};
  size_t ma_size = sizeof ma;
  void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &ma, CU_LAUNCH_PARAM_BUFFER_SIZE, &ma_size, CU_LAUNCH_PARAM_END};
  CK(cuLaunchKernelEx(&cfg, g.mix, nullptr, extra));
  host_mix(want, 34);
  ma.tag = 0;

  CK(cuStreamSynchronize(s));
  R.check("launch_ex.priority_cluster_plain_extra", read_sync(buf), want);
  CK(cuStreamDestroy(s));
  CK(cuMemFree(buf));
  CK(cuMemFree(tmp));
}

// ---- kernel arguments are copied at the call (host variables change right after) ----
void test_arg_copy(Results& R) {
  std::puts("arg_copy");
  CUdeviceptr buf = alloc_u32(), decoy = alloc_u32(), out = alloc_u32();
  launch_fill(g.s1, buf, 40);
  CK(cuMemsetD32Async(out, 0, kN, g.s1));
  launch_mix_slow(g.s1, decoy, 1, 3 * kMs);
  std::vector<uint32_t> want = filled(40);
  CUdeviceptr b = 0;
  uint32_t tag = 0;
  int n = 0;
  void* args[] = {&b, &tag, &n};
  for (int i = 0; i < 64; ++i) {
    b = buf;
    tag = 1000u + static_cast<uint32_t>(i);
    n = kN;
    CK(cuLaunchKernel(g.mix, grid_for(kN), 1, 1, kBlock, 1, 1, 0, g.s1, args, nullptr));
    host_mix(want, tag);
    b = decoy;
    tag = 0xDEADBEEF;
    n = 1;
  }
  Params48 p{};
  CUdeviceptr o = 0;
  void* sargs[] = {&p, &o, &n};
  std::vector<uint32_t> swant(kN, 0);
  for (int j = 0; j < 16; ++j) {
    p = make_params(100 + j);
    o = out;
    n = kN;
    CK(cuLaunchKernel(g.struct_acc, grid_for(kN), 1, 1, kBlock, 1, 1, 0, g.s1, sargs, nullptr));
    const uint32_t hp = hash_params(p);
    for (int i = 0; i < kN; ++i) swant[i] = mix(swant[i], hp, static_cast<uint32_t>(i));
    p = make_params(4242);
    o = decoy;
    n = 2;
  }
  CK(cuStreamSynchronize(g.s1));
  R.check("arg_copy.scalar_x64", read_sync(buf), want);
  R.check("arg_copy.struct_x16", read_sync(out), swant);
  for (CUdeviceptr q : {buf, decoy, out}) CK(cuMemFree(q));
}

// ---- events across streams: B waits for A's writes, A waits for B's reads ----
void test_events(Results& R) {
  std::puts("events_cross_stream");
  CUstream a = nullptr, b = nullptr;
  CK(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING));
  CK(cuStreamCreate(&b, CU_STREAM_NON_BLOCKING));
  CUevent ea = nullptr, eb = nullptr;
  CK(cuEventCreate(&ea, CU_EVENT_DISABLE_TIMING));
  CK(cuEventCreate(&eb, CU_EVENT_DISABLE_TIMING));
  CUdeviceptr x = alloc_u32(), y = alloc_u32();
  launch_fill(a, x, 50);
  launch_fill(b, y, 51);
  CK(cuStreamSynchronize(a));
  CK(cuStreamSynchronize(b));
  std::vector<uint32_t> hx = filled(50), hy = filled(51);
  for (int r = 0; r < 6; ++r) {
    const bool even = r % 2 == 0;
    // Even rounds: slow writer (a race would read x too early). Odd rounds: slow reader (a race
    // would let the next round's write overtake the read).
    launch_mix_slow(a, x, 60u + r, even ? 1 * kMs : 0);
    host_mix(hx, 60u + r);
    CK(cuEventRecord(ea, a));
    CK(cuStreamWaitEvent(b, ea, 0));
    launch_combine(b, x, y, 70u + r, even ? 0 : 2 * kMs);
    host_combine(hx, hy, 70u + r);
    CK(cuEventRecord(eb, b));
    CK(cuStreamWaitEvent(a, eb, 0));
  }
  CK(cuStreamSynchronize(a));
  CK(cuStreamSynchronize(b));
  R.check("events_cross_stream.x", read_sync(x), hx);
  R.check("events_cross_stream.y", read_sync(y), hy);
  CK(cuEventDestroy(ea));
  CK(cuEventDestroy(eb));
  CK(cuStreamDestroy(a));
  CK(cuStreamDestroy(b));
  CK(cuMemFree(x));
  CK(cuMemFree(y));
}

// ---- the legacy default stream mixed with blocking streams: implicit synchronisation ----
void test_legacy_default(Results& R) {
  std::puts("legacy_default_stream");
  CUstream s2 = nullptr;
  CK(cuStreamCreate(&s2, CU_STREAM_DEFAULT));
  CUdeviceptr buf = alloc_u32();
  launch_fill(nullptr, buf, 1);
  std::vector<uint32_t> want = filled(1);
  launch_mix_slow(g.s1, buf, 2, 2 * kMs);  // legacy work below must wait for this
  host_mix(want, 2);
  launch_mix(nullptr, buf, 3);  // stream 0 = legacy default stream
  host_mix(want, 3);
  launch_mix_slow(g.s1, buf, 4, 1 * kMs);  // a blocking stream waits for legacy work
  host_mix(want, 4);
  launch_mix(CU_STREAM_LEGACY, buf, 5);
  host_mix(want, 5);
  launch_mix(s2, buf, 6);
  host_mix(want, 6);
  launch_mix_slow(nullptr, buf, 7, 1 * kMs);
  host_mix(want, 7);
  launch_mix(g.s1, buf, 8);
  host_mix(want, 8);
  CK(cuCtxSynchronize());
  R.check("legacy_default_stream.order", read_sync(buf), want);
  CK(cuStreamDestroy(s2));
  CK(cuMemFree(buf));
}

// ---- a non-blocking stream beside legacy-stream work ----
void test_nonblocking(Results& R) {
  std::puts("nonblocking_stream");
  CUdeviceptr a = alloc_u32(), b = alloc_u32();
  uint32_t* pinned = nullptr;
  CK(cuMemAllocHost(reinterpret_cast<void**>(&pinned), kBytes));
  launch_fill(g.n2, a, 80);
  launch_mix_slow(g.n2, a, 81, 1 * kMs);
  launch_mix(g.n2, a, 82);
  CK(cuMemcpyDtoHAsync(pinned, a, kBytes, g.n2));
  launch_fill(nullptr, b, 83);
  launch_mix(nullptr, b, 84);
  std::vector<uint32_t> wb = filled(83);
  host_mix(wb, 84);
  R.check("nonblocking_stream.legacy_side", read_sync(b), wb);
  CK(cuStreamSynchronize(g.n2));
  std::vector<uint32_t> wa = filled(80);
  host_mix(wa, 81);
  host_mix(wa, 82);
  R.check("nonblocking_stream.async_readback", std::vector<uint32_t>(pinned, pinned + kN), wa);
  CK(cuMemFreeHost(pinned));
  CK(cuMemFree(a));
  CK(cuMemFree(b));
}

// ---- synchronous and asynchronous copies ----
void test_memcpy(Results& R) {
  std::puts("memcpy");
  CUdeviceptr buf = alloc_u32(), buf2 = alloc_u32();
  // Sync HtoD, kernel on a blocking stream, sync DtoH: the read waits for the kernel.
  std::vector<uint32_t> h = filled(90);
  CK(cuMemcpyHtoD(buf, h.data(), kBytes));
  launch_mix_slow(g.s1, buf, 91, 2 * kMs);
  host_mix(h, 91);
  R.check("memcpy.sync_read_after_kernel", read_sync(buf), h);
  // A synchronous HtoD must not overtake a queued kernel on a blocking stream.
  launch_mix_slow(g.s1, buf, 92, 2 * kMs);
  std::vector<uint32_t> h2 = filled(93);
  CK(cuMemcpyHtoD(buf, h2.data(), kBytes));
  R.check("memcpy.sync_write_after_kernel", read_sync(buf), h2);
  // Pinned async round trip on one stream.
  uint32_t *hp = nullptr, *hp2 = nullptr;
  CK(cuMemAllocHost(reinterpret_cast<void**>(&hp), kBytes));
  CK(cuMemAllocHost(reinterpret_cast<void**>(&hp2), kBytes));
  std::vector<uint32_t> w = filled(94);
  std::copy(w.begin(), w.end(), hp);
  launch_mix_slow(g.s1, buf2, 1, 1 * kMs);
  CK(cuMemcpyHtoDAsync(buf, hp, kBytes, g.s1));
  launch_mix(g.s1, buf, 95);
  host_mix(w, 95);
  CK(cuMemcpyDtoHAsync(hp2, buf, kBytes, g.s1));
  CK(cuStreamSynchronize(g.s1));
  R.check("memcpy.pinned_async_round_trip", std::vector<uint32_t>(hp2, hp2 + kN), w);
  // Async HtoD from pageable memory: the source is staged before the call returns, so the
  // program may overwrite it at once.
  std::vector<uint32_t> pg = filled(96);
  std::vector<uint32_t> pw = pg;
  launch_mix_slow(g.s1, buf2, 1, 2 * kMs);
  CK(cuMemcpyHtoDAsync(buf, pg.data(), kBytes, g.s1));
  std::fill(pg.begin(), pg.end(), 0xDEADBEEFu);
  launch_mix(g.s1, buf, 97);
  host_mix(pw, 97);
  // Async DtoH to pageable memory returns only once the copy has completed.
  std::vector<uint32_t> back(kN, 0);
  CK(cuMemcpyDtoHAsync(back.data(), buf, kBytes, g.s1));
  R.check("memcpy.pageable_async_both_ways", back, pw);
  // Device to device on a stream.
  launch_mix_slow(g.s1, buf, 98, 1 * kMs);
  host_mix(pw, 98);
  CK(cuMemcpyDtoDAsync(buf2, buf, kBytes, g.s1));
  launch_mix(g.s1, buf2, 99);
  host_mix(pw, 99);
  CK(cuStreamSynchronize(g.s1));
  R.check("memcpy.dtod_async", read_sync(buf2), pw);
  CK(cuMemFreeHost(hp));
  CK(cuMemFreeHost(hp2));
  CK(cuMemFree(buf));
  CK(cuMemFree(buf2));
}

// ---- memsets in stream order ----
void test_memset(Results& R) {
  std::puts("memset");
  CUdeviceptr buf = alloc_u32();
  launch_mix_slow(g.s1, buf, 100, 2 * kMs);
  CK(cuMemsetD32Async(buf, 0x01020304u, kN, g.s1));
  launch_mix(g.s1, buf, 101);
  CK(cuStreamSynchronize(g.s1));
  std::vector<uint32_t> want(kN, 0x01020304u);
  host_mix(want, 101);
  R.check("memset.d32_async_in_order", read_sync(buf), want);
  launch_mix_slow(g.s1, buf, 102, 2 * kMs);
  CK(cuMemsetD32(buf, 0x0A0B0C0Du, kN));  // legacy stream: after the blocking stream's kernel
  R.check("memset.d32_sync_after_kernel", read_sync(buf), std::vector<uint32_t>(kN, 0x0A0B0C0Du));
  CK(cuMemsetD8Async(buf, 0x5A, kBytes / 2, g.s1));
  launch_mix(g.s1, buf, 103);
  CK(cuStreamSynchronize(g.s1));
  std::vector<uint32_t> w2(kN, 0x0A0B0C0Du);
  for (int i = 0; i < kN / 2; ++i) w2[i] = 0x5A5A5A5Au;
  host_mix(w2, 103);
  R.check("memset.d8_async_half", read_sync(buf), w2);
  CK(cuMemFree(buf));
}

// ---- cuMemFree while work is queued ----
void test_free_while_queued(Results& R) {
  std::puts("free_while_queued");
  CUdeviceptr c = alloc_u32(), d = alloc_u32();
  launch_fill(g.s1, c, 110);
  launch_fill(g.s1, d, 111);
  std::vector<uint32_t> hc = filled(110), hd = filled(111);
  launch_combine(g.s1, c, d, 112, 3 * kMs);  // reads c late
  host_combine(hc, hd, 112);
  CK(cuMemFree(c));  // must not free c before the kernel that reads it has run
  CUdeviceptr e = alloc_u32();  // may reuse c's address
  CK(cuMemsetD32Async(e, 0xFFFFFFFFu, kN, g.n2));
  CK(cuStreamSynchronize(g.n2));
  CK(cuStreamSynchronize(g.s1));
  R.check("free_while_queued.reader_of_freed", read_sync(d), hd);
  // Freeing unrelated memory (device and pinned host) while a kernel is queued.
  CUdeviceptr f = alloc_u32();
  void* ph = nullptr;
  CK(cuMemAllocHost(&ph, 1 << 20));
  launch_mix_slow(g.s1, d, 113, 2 * kMs);
  host_mix(hd, 113);
  CK(cuMemFree(f));
  CK(cuMemFreeHost(ph));
  launch_mix(g.s1, d, 114);
  host_mix(hd, 114);
  CK(cuStreamSynchronize(g.s1));
  R.check("free_while_queued.unrelated", read_sync(d), hd);
  CK(cuMemFree(d));
  CK(cuMemFree(e));
}

// ---- stream priorities ----
void test_priorities(Results& R) {
  std::puts("stream_priorities");
  CUstream hi = nullptr, lo = nullptr;
  CK(cuStreamCreateWithPriority(&hi, CU_STREAM_NON_BLOCKING, g.prio_greatest));
  CK(cuStreamCreateWithPriority(&lo, CU_STREAM_NON_BLOCKING, g.prio_least));
  int phi = 0, plo = 0;
  CK(cuStreamGetPriority(hi, &phi));
  CK(cuStreamGetPriority(lo, &plo));
  R.check_value("stream_priorities.get_high", phi, g.prio_greatest);
  R.check_value("stream_priorities.get_low", plo, g.prio_least);
  CUdeviceptr l = alloc_u32(), h = alloc_u32();
  launch_fill(lo, l, 120);
  launch_fill(hi, h, 121);
  std::vector<uint32_t> wl = filled(120), wh = filled(121);
  for (int k = 0; k < 4; ++k) {
    launch_mix_slow(lo, l, 122u + k, kMs / 2);
    host_mix(wl, 122u + k);
  }
  for (int k = 0; k < 8; ++k) {
    launch_mix(hi, h, 130u + k);
    host_mix(wh, 130u + k);
  }
  CK(cuStreamSynchronize(hi));
  CK(cuStreamSynchronize(lo));
  R.check("stream_priorities.low", read_sync(l), wl);
  R.check("stream_priorities.high", read_sync(h), wh);
  CK(cuStreamDestroy(hi));
  CK(cuStreamDestroy(lo));
  CK(cuMemFree(l));
  CK(cuMemFree(h));
}

// ---- host functions in stream order ----
struct HostFnState {
  volatile uint32_t* flag = nullptr;
  std::vector<long long> seen;
};

void CUDA_CB host_fn(void* user) {
  auto* st = static_cast<HostFnState*>(user);
  st->seen.push_back(static_cast<long long>(*st->flag));
}

void test_host_func(Results& R) {
  std::puts("host_func");
  void* hflag = nullptr;
  CK(cuMemHostAlloc(&hflag, sizeof(uint32_t), CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_PORTABLE));
  *static_cast<volatile uint32_t*>(hflag) = 0;
  CUdeviceptr dflag = 0;
  CK(cuMemHostGetDevicePointer(&dflag, hflag, 0));
  HostFnState st;
  st.flag = static_cast<volatile uint32_t*>(hflag);
  CUdeviceptr tmp = alloc_u32();
  auto write_flag = [&](CUstream s, uint32_t v) {
    void* args[] = {&dflag, &v};
    CK(cuLaunchKernel(g.write_flag, 1, 1, 1, 32, 1, 1, 0, s, args, nullptr));
  };
  launch_mix_slow(g.s1, tmp, 1, 1 * kMs);
  write_flag(g.s1, 42);
  CK(cuLaunchHostFunc(g.s1, host_fn, &st));
  write_flag(g.s1, 43);
  CK(cuLaunchHostFunc(g.s1, host_fn, &st));
  CK(cuStreamSynchronize(g.s1));
  write_flag(nullptr, 44);
  CK(cuLaunchHostFunc(nullptr, host_fn, &st));
  CK(cuCtxSynchronize());
  R.check_value("host_func.calls", static_cast<long long>(st.seen.size()), 3);
  for (size_t k = 0; k < 3; ++k) {
    R.check_value("host_func.seen_" + std::to_string(k), k < st.seen.size() ? st.seen[k] : -1,
                  42 + static_cast<long long>(k));
  }
  CK(cuMemFree(tmp));
  CK(cuMemFreeHost(hflag));
}

// ---- cuEventQuery / cuStreamQuery polling; the data must be complete when they say so ----
void test_polling(Results& R) {
  std::puts("polling");
  CUdeviceptr buf = alloc_u32();
  uint32_t* pinned = nullptr;
  CK(cuMemAllocHost(reinterpret_cast<void**>(&pinned), kBytes));
  CUevent ev = nullptr;
  CK(cuEventCreate(&ev, CU_EVENT_DEFAULT));
  launch_fill(g.s1, buf, 139);
  std::vector<uint32_t> want = filled(139);
  const auto poll = [](const char* what, auto query) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    long polls = 0;
    for (;;) {
      const CUresult r = query();
      if (r == CUDA_SUCCESS) break;
      if (r != CUDA_ERROR_NOT_READY) check_cu(r, what, __FILE__, __LINE__);
      ++polls;
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr, "driver_api_prog: %s still not ready after 60 s\n", what);
        std::exit(1);
      }
    }
    std::printf("  (%s: %ld polls saw CUDA_ERROR_NOT_READY)\n", what, polls);
    return polls;
  };
  launch_mix_slow(g.s1, buf, 140, 5 * kMs);
  launch_mix(g.s1, buf, 141);
  host_mix(want, 140);
  host_mix(want, 141);
  CK(cuEventRecord(ev, g.s1));
  poll("cuEventQuery", [&] { return cuEventQuery(ev); });
  // Read through a non-blocking stream that does not wait for s1: only correct if the event
  // really completed after both kernels.
  CK(cuMemcpyDtoHAsync(pinned, buf, kBytes, g.n2));
  CK(cuStreamSynchronize(g.n2));
  R.check("polling.event_query", std::vector<uint32_t>(pinned, pinned + kN), want);

  launch_mix_slow(g.s1, buf, 142, 5 * kMs);
  launch_mix(g.s1, buf, 143);
  host_mix(want, 142);
  host_mix(want, 143);
  poll("cuStreamQuery", [&] { return cuStreamQuery(g.s1); });
  CK(cuMemcpyDtoHAsync(pinned, buf, kBytes, g.n2));
  CK(cuStreamSynchronize(g.n2));
  R.check("polling.stream_query", std::vector<uint32_t>(pinned, pinned + kN), want);

  // Event timing works and measures at least the spin.
  CUevent t0 = nullptr, t1 = nullptr;
  CK(cuEventCreate(&t0, CU_EVENT_DEFAULT));
  CK(cuEventCreate(&t1, CU_EVENT_DEFAULT));
  CK(cuEventRecord(t0, g.s1));
  launch_mix_slow(g.s1, buf, 144, 2 * kMs);
  CK(cuEventRecord(t1, g.s1));
  CK(cuEventSynchronize(t1));
  float ms = 0;
  CK(cuEventElapsedTime(&ms, t0, t1));
  R.check_true("polling.event_elapsed_time", ms >= 1.0f && ms < 10000.0f,
               "elapsed " + std::to_string(ms) + " ms for a 2 ms kernel");
  CK(cuEventDestroy(t0));
  CK(cuEventDestroy(t1));
  CK(cuEventDestroy(ev));
  CK(cuMemFreeHost(pinned));
  CK(cuMemFree(buf));
}

// ---- many small launches, on one stream and ping-ponged between two ----
void test_many_launches(Results& R) {
  std::puts("many_launches");
  constexpr int n = 256;
  CUdeviceptr buf = alloc_u32(n);
  launch_fill(g.s1, buf, 150, n);
  std::vector<uint32_t> want = filled(150, n);
  for (int i = 0; i < 20000; ++i) {
    launch_mix(g.s1, buf, static_cast<uint32_t>(i), n);
    host_mix(want, static_cast<uint32_t>(i));
  }
  CK(cuStreamSynchronize(g.s1));
  R.check("many_launches.one_stream_20000", read_sync(buf, n), want);

  CUstream a = nullptr, b = nullptr;
  CK(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING));
  CK(cuStreamCreate(&b, CU_STREAM_NON_BLOCKING));
  CUevent ea = nullptr, eb = nullptr;
  CK(cuEventCreate(&ea, CU_EVENT_DISABLE_TIMING));
  CK(cuEventCreate(&eb, CU_EVENT_DISABLE_TIMING));
  for (int r = 0; r < 40; ++r) {
    CUstream s = r % 2 == 0 ? a : b;
    for (int k = 0; k < 50; ++k) {
      const uint32_t tag = static_cast<uint32_t>(100000 + r * 50 + k);
      launch_mix(s, buf, tag, n);
      host_mix(want, tag);
    }
    CUevent e = r % 2 == 0 ? ea : eb;
    CK(cuEventRecord(e, s));
    CK(cuStreamWaitEvent(r % 2 == 0 ? b : a, e, 0));
  }
  CK(cuStreamSynchronize(a));
  CK(cuStreamSynchronize(b));
  R.check("many_launches.ping_pong_2000", read_sync(buf, n), want);
  CK(cuEventDestroy(ea));
  CK(cuEventDestroy(eb));
  CK(cuStreamDestroy(a));
  CK(cuStreamDestroy(b));
  CK(cuMemFree(buf));
}

// ---- destroying a stream (and an event) while work is queued on it ----
void test_destroy_while_queued(Results& R) {
  std::puts("destroy_while_queued");
  CUstream t = nullptr;
  CK(cuStreamCreate(&t, CU_STREAM_NON_BLOCKING));
  CUevent e = nullptr;
  CK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
  CUdeviceptr buf = alloc_u32();
  launch_fill(t, buf, 160);
  launch_mix_slow(t, buf, 161, 3 * kMs);
  launch_mix(t, buf, 162);
  CK(cuEventRecord(e, t));
  CK(cuEventDestroy(e));
  CK(cuStreamDestroy(t));  // returns at once; the queued work still completes
  CK(cuCtxSynchronize());
  std::vector<uint32_t> want = filled(160);
  host_mix(want, 161);
  host_mix(want, 162);
  R.check("destroy_while_queued.stream", read_sync(buf), want);
  CK(cuMemFree(buf));
}

// ---- threads: per-thread default streams, a stream used from another thread, and entry
// points fetched with cuGetProcAddress (the per-thread-default-stream flavour included) ----
using LaunchFn = CUresult (*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                              CUstream, void**, void**);

void test_threads(Results& R) {
  std::puts("threads");
  // 1. Two threads, each on its own per-thread default stream.
  std::vector<uint32_t> got[2];
  std::thread th[2];
  for (int t = 0; t < 2; ++t) {
    th[t] = std::thread([t, &got] {
      CK(cuCtxSetCurrent(g.ctx));
      CUdeviceptr buf = alloc_u32();
      launch_fill(CU_STREAM_PER_THREAD, buf, 170u + t);
      launch_mix_slow(CU_STREAM_PER_THREAD, buf, 1, kMs);
      for (int i = 0; i < 200; ++i) launch_mix(CU_STREAM_PER_THREAD, buf, static_cast<uint32_t>(t * 1000 + i));
      got[t].assign(kN, 0);
      CK(cuMemcpyDtoHAsync(got[t].data(), buf, kBytes, CU_STREAM_PER_THREAD));
      CK(cuStreamSynchronize(CU_STREAM_PER_THREAD));
      CK(cuMemFree(buf));
    });
  }
  for (auto& x : th) x.join();
  for (int t = 0; t < 2; ++t) {
    std::vector<uint32_t> w = filled(170u + t);
    host_mix(w, 1);
    for (int i = 0; i < 200; ++i) host_mix(w, static_cast<uint32_t>(t * 1000 + i));
    R.check("threads.per_thread_stream_" + std::to_string(t), got[t], w);
  }

  // 2. A stream created here, used and synchronised by another thread.
  CUstream s = nullptr;
  CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUdeviceptr buf = alloc_u32();
  std::thread user([&] {
    CK(cuCtxSetCurrent(g.ctx));
    launch_fill(s, buf, 180);
    launch_mix_slow(s, buf, 181, 2 * kMs);
    CK(cuStreamSynchronize(s));
  });
  user.join();
  std::vector<uint32_t> w = filled(180);
  host_mix(w, 181);
  R.check("threads.stream_from_other_thread", read_sync(buf), w);
  // Work queued here, waited for by another thread whose first call is the synchronisation.
  launch_mix_slow(s, buf, 182, 3 * kMs);
  host_mix(w, 182);
  std::atomic<bool> synced{false};
  std::thread waiter([&] {
    CK(cuCtxSetCurrent(g.ctx));
    CK(cuStreamSynchronize(s));
    synced = true;
  });
  waiter.join();
  R.check_true("threads.waiter_returned", synced.load(), "the waiting thread did not return");
  // Read through a non-blocking stream that does not wait for s: correct only if the other
  // thread's synchronisation really waited for the kernel.
  std::vector<uint32_t> after(kN, 0);
  CK(cuMemcpyDtoHAsync(after.data(), buf, kBytes, g.n2));
  CK(cuStreamSynchronize(g.n2));
  R.check("threads.sync_from_other_thread", after, w);

  // 3. Entry points from cuGetProcAddress: default flavour, and the per-thread flavour whose
  // stream 0 means the calling thread's default stream.
  void* pfn_def = nullptr;
  void* pfn_pt = nullptr;
  CUdriverProcAddressQueryResult st1{}, st2{};
  CK(cuGetProcAddress("cuLaunchKernel", &pfn_def, CUDA_VERSION, CU_GET_PROC_ADDRESS_DEFAULT, &st1));
  CK(cuGetProcAddress("cuLaunchKernel", &pfn_pt, CUDA_VERSION, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM,
                      &st2));
  R.check_true("threads.proc_address_found",
               pfn_def && pfn_pt && st1 == CU_GET_PROC_ADDRESS_SUCCESS && st2 == CU_GET_PROC_ADDRESS_SUCCESS,
               "cuGetProcAddress(cuLaunchKernel) did not return both flavours");
  if (pfn_def && pfn_pt) {
    const auto launch_def = reinterpret_cast<LaunchFn>(pfn_def);
    const auto launch_pt = reinterpret_cast<LaunchFn>(pfn_pt);
    std::vector<uint32_t> pt_got;
    std::thread pt([&] {
      CK(cuCtxSetCurrent(g.ctx));
      CUdeviceptr b2 = alloc_u32();
      int n = kN;
      uint32_t seed = 190;
      void* fargs[] = {&b2, &seed, &n};
      CK(launch_pt(g.fill, grid_for(kN), 1, 1, kBlock, 1, 1, 0, nullptr, fargs, nullptr));  // per-thread stream
      uint32_t tag = 191;
      void* margs[] = {&b2, &tag, &n};
      CK(launch_pt(g.mix, grid_for(kN), 1, 1, kBlock, 1, 1, 0, nullptr, margs, nullptr));
      tag = 192;
      CK(launch_def(g.mix, grid_for(kN), 1, 1, kBlock, 1, 1, 0, CU_STREAM_PER_THREAD, margs, nullptr));
      CK(cuStreamSynchronize(CU_STREAM_PER_THREAD));
      pt_got.assign(kN, 0);
      CK(cuMemcpyDtoHAsync(pt_got.data(), b2, kBytes, CU_STREAM_PER_THREAD));
      CK(cuMemFree(b2));
    });
    pt.join();
    std::vector<uint32_t> pw = filled(190);
    host_mix(pw, 191);
    host_mix(pw, 192);
    R.check("threads.proc_address_launches", pt_got, pw);
  }
  CK(cuStreamDestroy(s));
  CK(cuMemFree(buf));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string out = parse_out_dir(argc, argv, kUsage);
  setvbuf(stdout, nullptr, _IOLBF, 0);

  const CUresult init = cuInit(0);
  if (init != CUDA_SUCCESS) {
    const char* name = nullptr;
    cuGetErrorName(init, &name);
    std::printf("SKIP: cuInit failed (%d %s): no usable GPU\n", static_cast<int>(init), name ? name : "?");
    return kSkip;
  }
  int count = 0;
  CK(cuDeviceGetCount(&count));
  if (count == 0) {
    std::puts("SKIP: no CUDA device");
    return kSkip;
  }
  CK(cuDeviceGet(&g.dev, 0));
  char name[256] = {};
  CK(cuDeviceGetName(name, sizeof name, g.dev));
  int driver = 0;
  CK(cuDriverGetVersion(&driver));
  std::printf("device 0: %s, driver API %d\n", name, driver);

  CK(cuDevicePrimaryCtxRetain(&g.ctx, g.dev));
  CK(cuCtxSetCurrent(g.ctx));
  CK(cuModuleLoadData(&g.mod, kGpuKernelsFatbin));
  CK(cuModuleGetFunction(&g.fill, g.mod, "k_fill"));
  CK(cuModuleGetFunction(&g.mix, g.mod, "k_mix"));
  CK(cuModuleGetFunction(&g.mix_slow, g.mod, "k_mix_slow"));
  CK(cuModuleGetFunction(&g.combine, g.mod, "k_combine"));
  CK(cuModuleGetFunction(&g.strct, g.mod, "k_struct"));
  CK(cuModuleGetFunction(&g.struct_acc, g.mod, "k_struct_acc"));
  CK(cuModuleGetFunction(&g.mixed, g.mod, "k_mixed"));
  CK(cuModuleGetFunction(&g.write_flag, g.mod, "k_write_flag"));
  CK(cuCtxGetStreamPriorityRange(&g.prio_least, &g.prio_greatest));
  CK(cuStreamCreate(&g.s1, CU_STREAM_DEFAULT));
  CK(cuStreamCreate(&g.n2, CU_STREAM_NON_BLOCKING));

  Results R("driver_api");
  test_struct_args(R);
  test_extra_buffer(R);
  test_launch_ex(R);
  test_arg_copy(R);
  test_events(R);
  test_legacy_default(R);
  test_nonblocking(R);
  test_memcpy(R);
  test_memset(R);
  test_free_while_queued(R);
  test_priorities(R);
  test_host_func(R);
  test_polling(R);
  test_many_launches(R);
  test_destroy_while_queued(R);
  test_threads(R);

  CK(cuCtxSynchronize());
  CK(cuStreamDestroy(g.s1));
  CK(cuStreamDestroy(g.n2));
  CK(cuModuleUnload(g.mod));
  CK(cuDevicePrimaryCtxRelease(g.dev));

  if (!out.empty() && !R.write(out)) return 1;
  std::printf("driver_api_prog: %d check(s) failed\n", R.failures());
  return R.failures() == 0 ? 0 : 1;
}

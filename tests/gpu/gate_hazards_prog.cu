// gate_hazards_prog: the hazards of Level 2 (stream-ordered gates) on a real GPU.
//
//   gate_hazards_prog <scenario> [--expect-gated 0|1] [--max-early N]
//
// Meant to run under `xsched run --level 2 -- gate_hazards_prog <scenario>`. Every scenario first
// builds a "gated" situation in one context:
//   - a LOW non-blocking stream (CUDA priority 0) gets K = 20 kernels of ~2 ms each (one block);
//     each writes its completion (a marker, its position in the stream, globaltimer stamps) and
//     mixes its tag into a small result array, all in host-mapped memory;
//   - then a HIGH non-blocking stream (CUDA priority -1) launches a "hold" kernel that spins until
//     the host releases it (or its own 20 s cap), so the high queue stays ready for as long as
//     the test wants: xsched suspends the low queue, which at Level 2 closes its gate;
//   - 25 ms after the hold kernel started, at most --max-early (3) low kernels may have finished
//     (natively about 12 have): otherwise "the low stream was not gated" and the program fails
//     before testing anything, so a scenario cannot pass vacuously (--expect-gated 0 skips this,
//     to run the program natively).
// Then the main thread makes the hazardous call (like a high-priority thread would) and times it.
//
// The releaser. A hazardous call of the same context (cuMemFree, module loading, ...) waits for
// the gated low stream, and maybe for every stream of the context (the hold kernel included).
// A helper thread (no CUDA calls) ends the hold kernel when: the scenario's calls returned; or
// every low kernel has completed; or, while a call is in progress, the low stream made progress
// since the gate closed and then none for 200 ms (the gates were opened and what the driver
// waits for has drained: now it waits for the hold kernel); or after 8 s (the cap). With the
// interposer's handling (gates opened around the call) every call returns in milliseconds to
// a few hundred milliseconds. Without it the low stream never moves, the high queue stays ready,
// the gate stays closed and the call returns only when the cap ends the hold kernel: each call
// must return within 4 s, and the message then says that it waited for the gated stream (a
// deadlock, without the cap).
//
// Scenarios (each its own process; `all` runs those marked * in one process):
//   mem_free*         cudaFree, cuMemFree while gated
//   mem_free_host*    cudaFreeHost, cuMemFreeHost while gated
//   module_load*      cuModuleLoadData (fatbin; PTX text, JIT), then the new module's function's
//                     first launch on a high stream (lazy loading), while gated
//   library_load*     cuLibraryLoadData (fatbin; PTX), cuLibraryGetKernel, cuKernelGetFunction,
//                     first launch, while gated
//   lazy_load*        first launch of a never-launched kernel (<<<>>> and cuLaunchKernel) on a high
//                     stream while gated; CUDA_MODULE_LOADING=LAZY is set before the driver starts
//   runtime_init      driver API only until the low stream is gated, then the first runtime calls
//                     (cudaMalloc initialises the runtime, a <<<>>> launch, cudaFree)
//   event_wait*       a high stream waits (cuStreamWaitEvent) on an event recorded in the gated low
//                     stream: the low queue must run until the event completes (priority
//                     inheritance); the high kernel behind the wait starts after the recorded low
//                     kernel ended (globaltimer); with the hold released at once, and kept
//   capture*          capture into a CUDA graph while the low stream is gated (from a gated
//                     low-priority stream, from one with pending held work, from a high stream
//                     joined by a low one): node count and types are exactly what was captured, the
//                     graph runs on a high stream and on the gated low stream (one command), results
//   destroy_stream*   cuStreamDestroy / cudaStreamDestroy of the gated low stream returns, and its
//                     work is complete when it returns
//   destroy_context   cuCtxDestroy of a context (cuCtxCreate) whose low stream is gated returns; the
//                     low stream's results (in registered host memory) are complete and right
//   exit_while_gated  a child process returns from main (and another calls exit(0)) while gated;
//                     the parent checks that each ends, with code 0, within 30 s
//   many_streams*     64 low streams x 8 kernels gated at once: all complete right after release,
//                     and after a cuMemFree while all 64 are gated
//
// A watchdog (alarm, 60 s per round) turns a hang into a failure that names the step it hung in.
// Exit codes: 0 all checks passed, 1 a check or a CUDA call failed, 2 bad arguments, 77 no GPU.
#include <cuda.h>
#include <cuda_runtime.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gpu_common.h"

// The kernels below, compiled from this file into a fatbin at build time (nvcc -fatbin
// -DXS_GATE_DEVICE_ONLY: that pass sees the kernels only) and embedded: kGateFatbin[].
#ifndef XS_GATE_DEVICE_ONLY
#include "gate_hazards_fatbin.h"
#endif

// ---------------------------------------------------------------------------------------------
// Memory shared by the host and the kernels (host-mapped: the host reads it while kernels run).
namespace gate {

constexpr int kMaxStreams = 64;
constexpr int kMaxPerStream = 24;
constexpr int kDataN = 256;  // elements of each low stream's result array
constexpr int kProbes = 8;

struct LowSlot {             // one low kernel's completion record
  uint32_t mark;             // its tag, written last
  uint32_t order;            // how many kernels of its stream had completed before it
  uint64_t t_start, t_end;   // globaltimer
};

struct HoldState {           // the high-priority hold kernel
  uint32_t release;          // host writes 1: the kernel returns
  uint32_t started, finished, capped;
  uint64_t t_start, t_end;
};

struct Probe {               // a small kernel on a high stream: when it ran
  uint32_t flag;
  uint32_t pad;
  uint64_t t;
};

struct Shared {
  HoldState hold;
  Probe probe[kProbes];
  uint32_t stream_done[kMaxStreams];
  LowSlot slot[kMaxStreams][kMaxPerStream];
  uint32_t data[kMaxStreams][kDataN];
};

}  // namespace gate

// ---------------------------------------------------------------------------------------------
// Kernels. extern "C": the same names in the program's own (runtime) registration and in the
// fatbin built from this file, which the driver-API parts load with cuModuleLoadData.

__device__ __forceinline__ uint64_t xg_now() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// A low-priority kernel: spins, mixes its tag into data[0..n), then records its completion.
extern "C" __global__ void xg_low(uint32_t* data, int n, uint32_t tag, uint64_t spin, gate::LowSlot* slot,
                                  uint32_t* stream_done) {
  volatile gate::LowSlot* vs = slot;
  if (threadIdx.x == 0) vs->t_start = xg_now();
  gputest::spin_ns(spin);
  volatile uint32_t* vd = data;
  for (int i = static_cast<int>(threadIdx.x); i < n; i += static_cast<int>(blockDim.x)) {
    vd[i] = gputest::mix(vd[i], tag, static_cast<uint32_t>(i));
  }
  __threadfence_system();
  __syncthreads();
  if (threadIdx.x == 0) {
    // Kernels of one stream never overlap, so a plain read-modify-write counts them (no atomics
    // on host memory, which PCIe systems need not support).
    volatile uint32_t* done = stream_done;
    const uint32_t order = *done;
    vs->order = order;
    vs->t_end = xg_now();
    vs->mark = tag;
    __threadfence_system();
    *done = order + 1;
    __threadfence_system();
  }
}

// The high-priority hold: spins until the host releases it, or for cap_ns at most.
extern "C" __global__ void xg_hold(gate::HoldState* hold, uint64_t cap_ns) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  volatile gate::HoldState* h = hold;
  const uint64_t t0 = xg_now();
  h->t_start = t0;
  h->started = 1;
  __threadfence_system();
  uint32_t capped = 0;
  while (h->release == 0) {
    if (xg_now() - t0 >= cap_ns) {
      capped = 1;
      break;
    }
    __nanosleep(1000);
  }
  h->capped = capped;
  h->t_end = xg_now();
  __threadfence_system();
  h->finished = 1;
  __threadfence_system();
}

__device__ __forceinline__ void xg_probe_body(gate::Probe* p, uint32_t value) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  volatile gate::Probe* vp = p;
  vp->t = xg_now();
  __threadfence_system();
  vp->flag = value;
  __threadfence_system();
}

// Probes: records when it ran. Separate names for the kernels that must not have been launched
// (loaded) before the hazard.
extern "C" __global__ void xg_stamp(gate::Probe* p, uint32_t value) { xg_probe_body(p, value); }
extern "C" __global__ void xg_lazy(gate::Probe* p, uint32_t value) { xg_probe_body(p, value); }
extern "C" __global__ void xg_lazy_drv(gate::Probe* p, uint32_t value) { xg_probe_body(p, value); }
extern "C" __global__ void xg_rt_first(gate::Probe* p, uint32_t value) { xg_probe_body(p, value); }

// Captured into graphs (device memory).
extern "C" __global__ void xg_fill(uint32_t* d, int n, uint32_t seed) { gputest::body_fill(d, seed, n); }
extern "C" __global__ void xg_mix(uint32_t* d, int n, uint32_t tag) { gputest::body_mix(d, tag, n); }

#ifndef XS_GATE_DEVICE_ONLY
// ---------------------------------------------------------------------------------------------
// Host side.
namespace {

using gate::kDataN;
using gate::kMaxPerStream;
using gate::kMaxStreams;
using Clock = std::chrono::steady_clock;

constexpr int kLowKernels = 20;                          // K: low kernels per round (one stream)
constexpr uint64_t kLowSpinNs = 2'000'000;               // ~2 ms each
constexpr int kManyStreams = 64;
constexpr int kManyPerStream = 8;
constexpr int kSettleMs = 25;                            // after the hold kernel started
constexpr int kMaxEarlyDefault = 3;                      // low kernels allowed to finish by then
constexpr int kMaxEarlyManyDefault = 3;                  // per stream, many_streams (launching
                                                         // 512 kernels takes a while)
constexpr double kCallLimitS = 4.0;                      // a hazardous call must return within
constexpr double kReleaseCapS = 8.0;                     // the releaser ends the hold at the latest
constexpr double kStallS = 0.2;                          // "progress, then none for 200 ms"
constexpr uint64_t kHoldDeviceCapNs = 20'000'000'000ull; // the hold kernel's own cap
constexpr double kCompleteTimeoutS = 10.0;               // all low work done after the release
constexpr unsigned kWatchdogS = 60;
constexpr double kExitLimitS = 30.0;                     // exit_while_gated: child must be gone
constexpr uint64_t kExitHoldNs = 2'000'000'000ull;       // exit_while_gated: the hold kernel's run

const char* const kUsage =
    "usage: gate_hazards_prog <scenario> [--expect-gated 0|1] [--max-early N]\n"
    "  scenarios: mem_free mem_free_host module_load library_load lazy_load runtime_init\n"
    "             event_wait capture destroy_stream destroy_context exit_while_gated many_streams\n"
    "             all (every scenario except runtime_init, destroy_context, exit_while_gated)\n"
    "  --expect-gated 0   do not require that the low stream is held (to run natively)\n"
    "  --max-early N      low kernels (per stream) allowed to finish after the high kernel\n"
    "                     started (default 3)\n"
    "  Run it under `xsched run --level 2 -- gate_hazards_prog <scenario>`.\n";

struct Options {
  std::string scenario;
  bool expect_gated = true;
  int max_early = -1;  // -1: default
};
Options g_opt;

double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

// ---- watchdog: a hang fails fast and names the step ----
char g_step[512] = "start";

void on_alarm(int) {
  static const char head[] = "\ngate_hazards_prog: WATCHDOG: no progress for 60 s; hung in: ";
  ssize_t r = write(2, head, sizeof head - 1);
  r = write(2, g_step, strnlen(g_step, sizeof g_step));
  r = write(2, "\n", 1);
  (void)r;
  _exit(1);
}

void arm_watchdog() { alarm(kWatchdogS); }

void step(const char* fmt, ...) {
  char buf[sizeof g_step];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::memcpy(g_step, buf, sizeof buf);
}

[[noreturn]] void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fputs("FAIL: ", stdout);
  std::vprintf(fmt, ap);
  std::fputs("\n", stdout);
  va_end(ap);
  std::fflush(stdout);
  std::fflush(stderr);
  // No exit handlers: the low stream may still be held, and tearing down behind a held gate is
  // a scenario of its own (exit_while_gated).
  _exit(1);
}

void check_call(CUresult r, const char* call, const char* file, int line) {
  if (r == CUDA_SUCCESS) return;
  const char* name = nullptr;
  const char* msg = nullptr;
  cuGetErrorName(r, &name);
  cuGetErrorString(r, &msg);
  die("%s:%d: %s failed: %d %s (%s) [step: %s]", file, line, call, static_cast<int>(r), name ? name : "?",
      msg ? msg : "?", g_step);
}
void check_call(cudaError_t r, const char* call, const char* file, int line) {
  if (r == cudaSuccess) return;
  die("%s:%d: %s failed: %d %s (%s) [step: %s]", file, line, call, static_cast<int>(r), cudaGetErrorName(r),
      cudaGetErrorString(r), g_step);
}
#define CK(call) check_call((call), #call, __FILE__, __LINE__)
#define CK_LAUNCH() check_call(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

template <class T>
T vload(const T& x) {
  return *static_cast<const volatile T*>(&x);
}
template <class T>
void vstore(T& x, T v) {
  *static_cast<volatile T*>(&x) = v;
  __sync_synchronize();
}

bool wait_until(const std::function<bool()>& cond, double timeout_s) {
  const double end = now_s() + timeout_s;
  while (!cond()) {
    if (now_s() > end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

// ---- one context's kernels, streams and shared memory ----
struct Env {
  CUcontext ctx = nullptr;
  CUmodule mod = nullptr;
  CUfunction f_low = nullptr, f_hold = nullptr, f_stamp = nullptr;
  gate::Shared* sh = nullptr;
  size_t sh_bytes = 0;
  CUdeviceptr sh_dev = 0;
  CUstream high = nullptr;   // the hold kernel
  CUstream high2 = nullptr;  // probes, waits
  std::vector<CUstream> low; // low[0] always; more for many_streams

  template <class T>
  CUdeviceptr dev(T* p) const {
    return sh_dev + static_cast<CUdeviceptr>(reinterpret_cast<const char*>(p) - reinterpret_cast<const char*>(sh));
  }
  template <class T>
  T* devp(T* p) const {
    return reinterpret_cast<T*>(static_cast<uintptr_t>(dev(p)));
  }
};

size_t shared_bytes() { return (sizeof(gate::Shared) + 4095) & ~size_t{4095}; }

void launch(CUfunction f, unsigned grid, unsigned block, CUstream s, void** args) {
  CK(cuLaunchKernel(f, grid, 1, 1, block, 1, 1, 0, s, args, nullptr));
}

void launch_low(Env& e, CUstream s, int si, int k, uint32_t tag, uint64_t spin) {
  CUdeviceptr data = e.dev(&e.sh->data[si][0]);
  int n = kDataN;
  CUdeviceptr slot = e.dev(&e.sh->slot[si][k]);
  CUdeviceptr done = e.dev(&e.sh->stream_done[si]);
  void* args[] = {&data, &n, &tag, &spin, &slot, &done};
  launch(e.f_low, 1, 128, s, args);
}

void launch_hold(Env& e, uint64_t cap_ns) {
  CUdeviceptr h = e.dev(&e.sh->hold);
  void* args[] = {&h, &cap_ns};
  launch(e.f_hold, 1, 32, e.high, args);
}

void launch_probe(CUfunction f, Env& e, CUstream s, int probe, uint32_t value) {
  CUdeviceptr p = e.dev(&e.sh->probe[probe]);
  void* args[] = {&p, &value};
  launch(f, 1, 32, s, args);
}

CUstream make_stream(int priority) {
  CUstream s = nullptr;
  CK(cuStreamCreateWithPriority(&s, CU_STREAM_NON_BLOCKING, priority));
  return s;
}

// Runs every kernel once on every stream (their first launch, and each stream's queue, happen
// before any gate), then clears the shared memory.
void warm_up(Env& e, const std::vector<CUstream>& streams) {
  step("warm-up");
  for (size_t i = 0; i < streams.size(); ++i) launch_low(e, streams[i], kMaxStreams - 1, 0, 1, 0);
  vstore(e.sh->hold.release, 1u);
  launch_hold(e, 1000);
  launch_probe(e.f_stamp, e, e.high2, gate::kProbes - 1, 1);
  CK(cuCtxSynchronize());
  std::memset(static_cast<void*>(e.sh), 0, sizeof(gate::Shared));
  __sync_synchronize();
}

// Sets up `e` in context `ctx` (made current). `mem`: host memory for the shared block (else
// allocated); it is registered (mapped) in ctx, so a destroyed context takes the registration along.
void env_init(Env& e, CUcontext ctx, void* mem = nullptr) {
  step("env_init");
  e.ctx = ctx;
  CK(cuCtxSetCurrent(ctx));
  e.sh_bytes = shared_bytes();
  void* p = mem;
  if (p != nullptr) {
    std::memset(p, 0, e.sh_bytes);
    if (cuMemHostRegister(p, e.sh_bytes, CU_MEMHOSTREGISTER_DEVICEMAP) !=
        CUDA_SUCCESS) {
      std::puts("  note: the given shared block could not be registered; using a private one");
      p = nullptr;
    }
  }
  if (p == nullptr) {
    p = std::aligned_alloc(4096, e.sh_bytes);
    if (p == nullptr) die("out of host memory");
    std::memset(p, 0, e.sh_bytes);
    CK(cuMemHostRegister(p, e.sh_bytes, CU_MEMHOSTREGISTER_DEVICEMAP));
  }
  e.sh = static_cast<gate::Shared*>(p);
  CK(cuMemHostGetDevicePointer(&e.sh_dev, e.sh, 0));
  CK(cuModuleLoadData(&e.mod, kGateFatbin));
  CK(cuModuleGetFunction(&e.f_low, e.mod, "xg_low"));
  CK(cuModuleGetFunction(&e.f_hold, e.mod, "xg_hold"));
  CK(cuModuleGetFunction(&e.f_stamp, e.mod, "xg_stamp"));
  // The high streams first: a stream more urgent than the default gets its queue at creation,
  // so the low queues are preemptible from their first command.
  e.high = make_stream(-1);
  e.high2 = make_stream(-1);
  e.low.push_back(make_stream(0));
  warm_up(e, e.low);
}

// ---- the gated situation ----
uint32_t g_round = 0;

uint32_t tag_of(uint32_t round, int s, int k) {
  return 0x9E000000u ^ (round << 14) ^ (static_cast<uint32_t>(s) << 6) ^ static_cast<uint32_t>(k);
}
uint32_t data_seed(uint32_t round, int s, int i) {
  return gputest::mix(0xDA7A0000u ^ round, static_cast<uint32_t>(s), static_cast<uint32_t>(i));
}

struct GateSpec {
  std::vector<CUstream> streams;  // low streams; stream i uses data/slot/done index i
  int per_stream = kLowKernels;
  int max_early = kMaxEarlyDefault;
  // Streams that must be held (at most max_early kernels done); -1: all. A
  // context holds at most half its hardware connections at gates
  // (CUDA_DEVICE_MAX_CONNECTIONS): streams waiting at gates take connections
  // from the others, which can then stall.
  int min_held_streams = -1;
  CUevent record_event = nullptr;  // recorded on streams[0] after kernel `record_after`
  int record_after = -1;
  uint64_t hold_cap_ns = kHoldDeviceCapNs;
};

struct Gated {
  GateSpec spec;
  uint32_t round = 0;
  int total() const { return static_cast<int>(spec.streams.size()) * spec.per_stream; }
};

int low_done(const Env& e, const Gated& g) {
  int n = 0;
  for (size_t s = 0; s < g.spec.streams.size(); ++s) n += static_cast<int>(vload(e.sh->stream_done[s]));
  return n;
}

std::string per_stream_counts(const Env& e, const Gated& g) {
  std::string out;
  const size_t ns = g.spec.streams.size();
  for (size_t s = 0; s < ns && s < 16; ++s) {
    out += (s ? " " : "") + std::to_string(vload(e.sh->stream_done[s]));
  }
  if (ns > 16) out += " ...";
  return out;
}

Gated gate(Env& e, GateSpec spec) {
  Gated g;
  g.spec = std::move(spec);
  g.round = ++g_round;
  const int ns = static_cast<int>(g.spec.streams.size());
  step("gate round %u: launching %d x %d low kernels, then the high hold kernel", g.round, ns, g.spec.per_stream);
  arm_watchdog();
  std::memset(static_cast<void*>(&e.sh->hold), 0, sizeof e.sh->hold);
  std::memset(static_cast<void*>(e.sh->probe), 0, sizeof e.sh->probe);
  for (int s = 0; s < ns; ++s) {
    e.sh->stream_done[s] = 0;
    std::memset(static_cast<void*>(e.sh->slot[s]), 0, sizeof e.sh->slot[s]);
    for (int i = 0; i < kDataN; ++i) e.sh->data[s][i] = data_seed(g.round, s, i);
  }
  __sync_synchronize();
  // The previous round's high work has to be seen idle first: xsched notices
  // a queue's idleness a little after its stream synchronised, and a low
  // stream still held then keeps its kernels on the host instead of behind
  // its gate. (Then a call that waits for the whole context waits for the
  // hold kernel, which the releaser ends only once the low stream moved.)
  std::this_thread::sleep_for(std::chrono::milliseconds(kSettleMs));
  // Round-robin over the streams, so that every stream has work queued from the start.
  for (int k = 0; k < g.spec.per_stream; ++k) {
    for (int s = 0; s < ns; ++s) {
      launch_low(e, g.spec.streams[static_cast<size_t>(s)], s, k, tag_of(g.round, s, k), kLowSpinNs);
      if (s == 0 && k == g.spec.record_after && g.spec.record_event != nullptr) {
        CK(cuEventRecord(g.spec.record_event, g.spec.streams[0]));
      }
    }
  }
  launch_hold(e, g.spec.hold_cap_ns);
  if (!wait_until([&] { return vload(e.sh->hold.started) != 0; }, 2.0)) {
    vstore(e.sh->hold.release, 1u);
    die("the high-priority hold kernel did not start within 2 s");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(kSettleMs));
  int worst = 0;
  int held = 0;  // streams with at most max_early kernels done
  std::vector<int> done_per_stream;
  for (int s = 0; s < ns; ++s) done_per_stream.push_back(static_cast<int>(vload(e.sh->stream_done[s])));
  std::sort(done_per_stream.begin(), done_per_stream.end());
  for (int d : done_per_stream) held += d <= g.spec.max_early ? 1 : 0;
  const int must_hold = g.spec.min_held_streams < 0 ? ns : std::min(ns, g.spec.min_held_streams);
  // The must_hold-th least advanced stream decides.
  if (must_hold > 0) worst = done_per_stream[static_cast<size_t>(must_hold - 1)];
  std::printf("  round %u: %d of %d low kernels finished %d ms after the high kernel started (per stream: %s); "
              "%d of %d streams held\n",
              g.round, low_done(e, g), g.total(), kSettleMs, per_stream_counts(e, g).c_str(), held, ns);
  if (g_opt.expect_gated && worst > g.spec.max_early) {
    vstore(e.sh->hold.release, 1u);
    die("the low stream was not gated: is this running under xsched run --level 2? (%d of %d low kernels "
        "of one stream finished within %d ms of the high-priority kernel's start; at most %d expected, "
        "about %d natively; --expect-gated 0 skips this check)",
        worst, g.spec.per_stream, kSettleMs, g.spec.max_early,
        static_cast<int>(std::min<uint64_t>(g.spec.per_stream, (kSettleMs * 1000000ull) / kLowSpinNs)));
  }
  return g;
}

GateSpec one_low(Env& e) {
  GateSpec s;
  s.streams = {e.low[0]};
  s.max_early = g_opt.max_early >= 0 ? g_opt.max_early : kMaxEarlyDefault;
  return s;
}

// ---- the releaser: ends the hold kernel (see the comment at the top) ----
class Releaser {
 public:
  struct Policy {
    bool on_all_done = true;
    bool on_stall = true;
    const uint32_t* flag = nullptr;  // host-mapped: release when it becomes nonzero
  };

  Releaser(Env& e, const Gated& g) : Releaser(e, g, Policy{}) {}
  Releaser(Env& e, const Gated& g, Policy p) : e_(e), g_(g), p_(p) {
    base_ = low_done(e_, g_);
    t_arm_ = now_s();
    th_ = std::thread([this] { loop(); });
  }
  ~Releaser() { stop(); }
  Releaser(const Releaser&) = delete;
  Releaser& operator=(const Releaser&) = delete;

  void enter_call() {
    call_start_.store(now_s());
    in_call_.store(true);
  }
  void leave_call() { in_call_.store(false); }
  void calls_done() { calls_done_.store(true); }
  void release_now(const char* why) { release(why); }

  // Releases (if not yet) and joins; returns why the hold was released.
  std::string stop() {
    release("the scenario finished its round");
    if (th_.joinable()) th_.join();
    return reason();
  }
  std::string reason() const {
    std::lock_guard<std::mutex> lk(mu_);
    return reason_;
  }
  bool capped() const { return capped_.load(); }

 private:
  void release(const char* why) {
    bool expected = false;
    if (!released_.compare_exchange_strong(expected, true)) return;
    {
      std::lock_guard<std::mutex> lk(mu_);
      reason_ = why;
    }
    vstore(e_.sh->hold.release, 1u);
  }

  void loop() {
    int last = base_;
    double t_last = now_s();
    while (!released_.load()) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      const double t = now_s();
      const int done = low_done(e_, g_);
      if (done != last) {
        last = done;
        t_last = t;
      }
      if (calls_done_.load()) {
        release("the scenario's calls returned");
      } else if (p_.on_all_done && done >= g_.total()) {
        release("every low-priority kernel completed");
      } else if (p_.flag != nullptr && vload(*p_.flag) != 0) {
        release("the high-priority probe kernel ran");
      } else if (p_.on_stall && in_call_.load() && done > base_ && t - t_last >= kStallS &&
                 t - call_start_.load() >= kStallS) {
        release("during the call the low stream ran (gates opened), then stalled for 200 ms");
      } else if (t - t_arm_ >= kReleaseCapS) {
        capped_.store(true);
        release("the 8 s cap (the low stream never moved: its gate stayed closed)");
      }
    }
  }

  Env& e_;
  const Gated& g_;
  Policy p_;
  int base_ = 0;
  double t_arm_ = 0;
  std::atomic<double> call_start_{0};
  std::atomic<bool> in_call_{false}, calls_done_{false}, released_{false}, capped_{false};
  mutable std::mutex mu_;
  std::string reason_ = "(not released)";
  std::thread th_;
};

// A timed hazardous call.
struct CallTime {
  std::string what;
  double s;
};

template <class F>
CallTime timed(Releaser* rel, const std::string& what, F&& f) {
  step("%s", what.c_str());
  if (rel) rel->enter_call();
  const double t0 = now_s();
  f();
  const double s = now_s() - t0;
  if (rel) rel->leave_call();
  std::printf("    %-64s %9.3f ms\n", what.c_str(), s * 1e3);
  return CallTime{what, s};
}

// Each call returned within the limit. `why` explains a slow call.
void check_calls(gputest::Results& R, const std::string& name, const std::vector<CallTime>& calls,
                 const std::string& release_reason, bool capped) {
  for (const CallTime& c : calls) {
    char why[768];
    std::snprintf(why, sizeof why,
                  "%s took %.3f s (limit %.0f s); the hold kernel was released by: %s.%s", c.what.c_str(), c.s,
                  kCallLimitS, release_reason.c_str(),
                  capped ? " The call waited for the gated low stream until the high-priority work ended: "
                           "without the cap, a deadlock (the gates must be opened around this call)"
                         : "");
    R.check_true(name + ": " + c.what + " returned in time", c.s < kCallLimitS, why);
  }
}

// Releases the hold, waits for all low work, synchronises, and checks every low kernel's record
// and the result arrays. `ctx_alive`: false after the context was destroyed (host memory only).
std::string finish(Env& e, Gated& g, gputest::Results& R, const std::string& name, Releaser* rel,
                   bool ctx_alive = true) {
  std::string reason = rel ? rel->stop() : "";
  vstore(e.sh->hold.release, 1u);
  step("%s: waiting for the low-priority work after the release", name.c_str());
  const double t0 = now_s();
  if (!wait_until([&] { return low_done(e, g) >= g.total(); }, kCompleteTimeoutS)) {
    die("%s: only %d of %d low kernels completed within %.0f s after the high-priority work ended (per "
        "stream: %s): lost or still held",
        name.c_str(), low_done(e, g), g.total(), kCompleteTimeoutS, per_stream_counts(e, g).c_str());
  }
  if (!wait_until([&] { return vload(e.sh->hold.finished) != 0; }, kCompleteTimeoutS)) {
    die("%s: the hold kernel did not finish after its release", name.c_str());
  }
  std::printf("    low work complete %.3f ms after the release\n", (now_s() - t0) * 1e3);
  if (ctx_alive) {
    step("%s: cuCtxSynchronize", name.c_str());
    CK(cuCtxSynchronize());
  }
  const int ns = static_cast<int>(g.spec.streams.size());
  bool slots_ok = true;
  std::string bad;
  std::vector<uint32_t> got, want;
  for (int s = 0; s < ns; ++s) {
    const uint32_t done = vload(e.sh->stream_done[s]);
    if (done != static_cast<uint32_t>(g.spec.per_stream) && slots_ok) {
      slots_ok = false;
      bad = "stream " + std::to_string(s) + " completed " + std::to_string(done) + " kernels, expected " +
            std::to_string(g.spec.per_stream);
    }
    for (int k = 0; k < g.spec.per_stream && slots_ok; ++k) {
      const gate::LowSlot& sl = e.sh->slot[s][k];
      char msg[256] = "";
      if (sl.mark != tag_of(g.round, s, k)) {
        std::snprintf(msg, sizeof msg, "stream %d kernel %d: marker 0x%08x, expected 0x%08x", s, k, sl.mark,
                      tag_of(g.round, s, k));
      } else if (sl.order != static_cast<uint32_t>(k)) {
        std::snprintf(msg, sizeof msg, "stream %d kernel %d ran as number %u of its stream", s, k, sl.order);
      } else if (sl.t_end < sl.t_start || (k > 0 && sl.t_start < e.sh->slot[s][k - 1].t_end)) {
        std::snprintf(msg, sizeof msg, "stream %d kernel %d overlapped its predecessor (globaltimer)", s, k);
      }
      if (msg[0] != '\0') {
        slots_ok = false;
        bad = msg;
      }
    }
    got.insert(got.end(), e.sh->data[s], e.sh->data[s] + kDataN);
    for (int i = 0; i < kDataN; ++i) {
      uint32_t v = data_seed(g.round, s, i);
      for (int k = 0; k < g.spec.per_stream; ++k) v = gputest::mix(v, tag_of(g.round, s, k), static_cast<uint32_t>(i));
      want.push_back(v);
    }
  }
  R.check_true(name + ": every low kernel ran once, in order", slots_ok, bad);
  R.check(name + ": low results", got, want);
  R.check_true(name + ": the hold kernel was ended by the program, not its own 20 s cap",
               vload(e.sh->hold.capped) == 0, "the hold kernel ran into its device-side cap");
  return reason;
}

void round_header(const std::string& name) {
  std::printf("%s\n", name.c_str());
  std::fflush(stdout);
}

// ---- scenarios ----

// cudaFree / cuMemFree, cudaFreeHost / cuMemFreeHost: each in its own round.
void run_free_round(Env& e, gputest::Results& R, const std::string& name, const std::string& what,
                    const std::function<void()>& call) {
  round_header(name);
  Gated g = gate(e, one_low(e));
  Releaser rel(e, g);
  std::vector<CallTime> calls{timed(&rel, what, call)};
  rel.calls_done();
  const std::string reason = finish(e, g, R, name, &rel);
  check_calls(R, name, calls, reason, rel.capped());
}

void sc_mem_free(Env& e, gputest::Results& R) {
  void* p = nullptr;
  CK(cudaMalloc(&p, 1 << 20));
  run_free_round(e, R, "mem_free.cudaFree", "cudaFree(1 MiB)", [&] { CK(cudaFree(p)); });
  CUdeviceptr d = 0;
  CK(cuMemAlloc(&d, 1 << 20));
  run_free_round(e, R, "mem_free.cuMemFree", "cuMemFree(1 MiB)", [&] { CK(cuMemFree(d)); });
}

void sc_mem_free_host(Env& e, gputest::Results& R) {
  void* p = nullptr;
  CK(cudaMallocHost(&p, 1 << 20));
  run_free_round(e, R, "mem_free_host.cudaFreeHost", "cudaFreeHost(1 MiB)", [&] { CK(cudaFreeHost(p)); });
  void* q = nullptr;
  CK(cuMemAllocHost(&q, 1 << 20));
  run_free_round(e, R, "mem_free_host.cuMemFreeHost", "cuMemFreeHost(1 MiB)", [&] { CK(cuMemFreeHost(q)); });
}

// A tiny kernel as PTX text: JIT-compiled by the driver at load time.
const char* const kPtx =
    ".version 8.0\n"
    ".target sm_90\n"
    ".address_size 64\n"
    ".visible .entry xg_ptx_flag(.param .u64 flag, .param .u32 value)\n"
    "{\n"
    "  .reg .b64 %rd<3>;\n"
    "  .reg .b32 %r<2>;\n"
    "  ld.param.u64 %rd1, [flag];\n"
    "  ld.param.u32 %r1, [value];\n"
    "  cvta.to.global.u64 %rd2, %rd1;\n"
    "  st.volatile.global.u32 [%rd2], %r1;\n"
    "  membar.sys;\n"
    "  ret;\n"
    "}\n";

// Waits (host-mapped flag) for a probe kernel on a high stream; a probe that never runs leaves
// the low stream behind a closed gate for good, so that ends the program.
void wait_probe(Env& e, const std::string& name, int probe, const char* what) {
  step("%s: waiting for %s", name.c_str(), what);
  const double t0 = now_s();
  if (!wait_until([&] { return vload(e.sh->probe[probe].flag) != 0; }, kCallLimitS)) {
    vstore(e.sh->hold.release, 1u);
    die("%s: %s did not run within %.0f s on a high-priority stream", name.c_str(), what, kCallLimitS);
  }
  std::printf("    %-64s %9.3f ms\n", (std::string("until ") + what + " ran").c_str(), (now_s() - t0) * 1e3);
}

void sc_module_load(Env& e, gputest::Results& R) {
  struct Image {
    const char* name;
    const void* data;
    const char* func;
  };
  const Image images[] = {{"module_load.fatbin", kGateFatbin, "xg_stamp"}, {"module_load.ptx", kPtx, "xg_ptx_flag"}};
  for (const Image& im : images) {
    round_header(im.name);
    Gated g = gate(e, one_low(e));
    Releaser rel(e, g);
    CUmodule m = nullptr;
    CUfunction f = nullptr;
    std::vector<CallTime> calls;
    calls.push_back(timed(&rel, "cuModuleLoadData", [&] { CK(cuModuleLoadData(&m, im.data)); }));
    calls.push_back(timed(&rel, "cuModuleGetFunction", [&] { CK(cuModuleGetFunction(&f, m, im.func)); }));
    calls.push_back(timed(&rel, "first launch of the new module's kernel on a high stream",
                          [&] { launch_probe(f, e, e.high2, 0, 7); }));
    wait_probe(e, im.name, 0, "the new module's kernel");
    rel.calls_done();
    const std::string reason = finish(e, g, R, im.name, &rel);
    check_calls(R, im.name, calls, reason, rel.capped());
    R.check_value(std::string(im.name) + ": the new module's kernel ran", vload(e.sh->probe[0].flag), 7);
    CK(cuModuleUnload(m));
  }
}

void sc_library_load(Env& e, gputest::Results& R) {
  struct Image {
    const char* name;
    const void* data;
    const char* kernel;
    bool get_function;  // cuKernelGetFunction before the launch (else the CUkernel is launched)
  };
  const Image images[] = {{"library_load.fatbin_kernel", kGateFatbin, "xg_stamp", false},
                          {"library_load.ptx_function", kPtx, "xg_ptx_flag", true}};
  for (const Image& im : images) {
    round_header(im.name);
    Gated g = gate(e, one_low(e));
    Releaser rel(e, g);
    CUlibrary lib = nullptr;
    CUkernel k = nullptr;
    CUfunction f = nullptr;
    std::vector<CallTime> calls;
    calls.push_back(timed(&rel, "cuLibraryLoadData",
                          [&] { CK(cuLibraryLoadData(&lib, im.data, nullptr, nullptr, 0, nullptr, nullptr, 0)); }));
    calls.push_back(timed(&rel, "cuLibraryGetKernel", [&] { CK(cuLibraryGetKernel(&k, lib, im.kernel)); }));
    if (im.get_function) {
      calls.push_back(timed(&rel, "cuKernelGetFunction", [&] { CK(cuKernelGetFunction(&f, k)); }));
    } else {
      f = reinterpret_cast<CUfunction>(k);  // a CUkernel may be launched as a CUfunction
    }
    calls.push_back(timed(&rel, "first launch of the library's kernel on a high stream",
                          [&] { launch_probe(f, e, e.high2, 0, 9); }));
    wait_probe(e, im.name, 0, "the library's kernel");
    rel.calls_done();
    const std::string reason = finish(e, g, R, im.name, &rel);
    check_calls(R, im.name, calls, reason, rel.capped());
    R.check_value(std::string(im.name) + ": the library's kernel ran", vload(e.sh->probe[0].flag), 9);
    CK(cuLibraryUnload(lib));
  }
}

void sc_lazy_load(Env& e, gputest::Results& R) {
  CUmoduleLoadingMode mode = CU_MODULE_EAGER_LOADING;
  CK(cuModuleGetLoadingMode(&mode));
  const char* env = std::getenv("CUDA_MODULE_LOADING");
  if (!R.check_true("lazy_load: lazy loading is on", mode == CU_MODULE_LAZY_LOADING,
                    std::string("the driver loads modules eagerly (CUDA_MODULE_LOADING=") + (env ? env : "unset") +
                        "): nothing to test")) {
    return;
  }
  {
    const std::string name = "lazy_load.runtime";
    round_header(name);
    Gated g = gate(e, one_low(e));
    Releaser rel(e, g);
    std::vector<CallTime> calls;
    calls.push_back(timed(&rel, "first <<<>>> launch of xg_lazy on a high stream", [&] {
      xg_lazy<<<1, 32, 0, reinterpret_cast<cudaStream_t>(e.high2)>>>(e.devp(&e.sh->probe[0]), 11);
      CK_LAUNCH();
    }));
    wait_probe(e, name, 0, "xg_lazy");
    rel.calls_done();
    const std::string reason = finish(e, g, R, name, &rel);
    check_calls(R, name, calls, reason, rel.capped());
    R.check_value(name + ": xg_lazy ran", vload(e.sh->probe[0].flag), 11);
  }
  {
    const std::string name = "lazy_load.driver";
    round_header(name);
    Gated g = gate(e, one_low(e));
    Releaser rel(e, g);
    CUfunction f = nullptr;
    std::vector<CallTime> calls;
    calls.push_back(timed(&rel, "cuModuleGetFunction(xg_lazy_drv)",
                          [&] { CK(cuModuleGetFunction(&f, e.mod, "xg_lazy_drv")); }));
    calls.push_back(timed(&rel, "first cuLaunchKernel of xg_lazy_drv on a high stream",
                          [&] { launch_probe(f, e, e.high2, 0, 12); }));
    wait_probe(e, name, 0, "xg_lazy_drv");
    rel.calls_done();
    const std::string reason = finish(e, g, R, name, &rel);
    check_calls(R, name, calls, reason, rel.capped());
    R.check_value(name + ": xg_lazy_drv ran", vload(e.sh->probe[0].flag), 12);
  }
}

// Priority inheritance: a high stream waits on an event recorded in the gated low stream.
void sc_event_wait(Env& e, gputest::Results& R) {
  constexpr int kRecordAfter = 4;
  for (int variant = 0; variant < 2; ++variant) {
    // 0: the hold is released as soon as the wait is issued (the waiting queue is then the only
    //    ready high queue, and it waits for the low one). 1: the hold keeps running until the
    //    kernel behind the wait has run (the low queue must run beside a ready high queue).
    const std::string name = variant == 0 ? "event_wait.hold_released" : "event_wait.hold_kept";
    round_header(name);
    CUevent ev = nullptr;
    CK(cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING));
    GateSpec spec = one_low(e);
    spec.record_event = ev;
    spec.record_after = kRecordAfter;
    Gated g = gate(e, spec);
    Releaser::Policy pol;
    if (variant == 1) {
      pol.on_all_done = false;
      pol.on_stall = false;
      pol.flag = &e.sh->probe[0].flag;
    }
    Releaser rel(e, g, pol);
    std::vector<CallTime> calls;
    calls.push_back(timed(&rel, "cuStreamWaitEvent(high stream, event of the gated low stream)",
                          [&] { CK(cuStreamWaitEvent(e.high2, ev, 0)); }));
    calls.push_back(timed(&rel, "launch a kernel behind the wait", [&] { launch_probe(e.f_stamp, e, e.high2, 0, 5); }));
    if (variant == 0) rel.release_now("the scenario, right after issuing the wait");
    step("%s: waiting for the high kernel behind the wait", name.c_str());
    const double t0 = now_s();
    if (!wait_until([&] { return vload(e.sh->probe[0].flag) != 0; }, kCallLimitS)) {
      vstore(e.sh->hold.release, 1u);
      die("%s: the high-priority kernel behind cuStreamWaitEvent did not run within %.0f s: the low queue that "
          "holds the event's record stayed suspended (priority inheritance missing; %d of %d low kernels done)",
          name.c_str(), kCallLimitS, low_done(e, g), g.total());
    }
    std::printf("    %-64s %9.3f ms\n", "until the kernel behind the wait ran", (now_s() - t0) * 1e3);
    const bool hold_finished = vload(e.sh->hold.finished) != 0;  // t_end is written before finished
    const bool hold_running_then = !hold_finished || vload(e.sh->probe[0].t) < vload(e.sh->hold.t_end);
    rel.calls_done();
    const std::string reason = finish(e, g, R, name, &rel);
    check_calls(R, name, calls, reason, rel.capped());
    const uint64_t t_wait = e.sh->probe[0].t;
    const uint64_t t_rec = e.sh->slot[0][kRecordAfter].t_end;
    char why[256];
    std::snprintf(why, sizeof why, "the kernel behind the wait started %.3f ms before low kernel %d ended",
                  (static_cast<double>(t_rec) - static_cast<double>(t_wait)) / 1e6, kRecordAfter);
    R.check_true(name + ": the high kernel started after the recorded low kernel ended", t_wait >= t_rec, why);
    if (variant == 1) {
      R.check_true(name + ": it ran while the hold kernel still ran", hold_running_then,
                   "it ran only after the hold kernel had ended");
    }
    CK(cuEventDestroy(ev));
  }
}

// Stream capture while the low stream is gated.
void sc_capture(Env& e, gputest::Results& R) {
  constexpr int n = 4096;
  constexpr size_t bytes = sizeof(uint32_t) * n;
  const unsigned grid = (n + 255) / 256;
  uint32_t *d = nullptr, *aux = nullptr, *pend = nullptr, *host = nullptr;
  CK(cudaMalloc(&d, bytes));
  CK(cudaMalloc(&aux, bytes));
  CK(cudaMalloc(&pend, bytes));
  CK(cudaMallocHost(&host, bytes));
  cudaStream_t c = nullptr, c2 = nullptr, ch = nullptr;
  CK(cudaStreamCreateWithPriority(&c, cudaStreamNonBlocking, 0));
  CK(cudaStreamCreateWithPriority(&c2, cudaStreamNonBlocking, 0));
  CK(cudaStreamCreateWithPriority(&ch, cudaStreamNonBlocking, -1));
  cudaEvent_t ef = nullptr, ej = nullptr;
  CK(cudaEventCreateWithFlags(&ef, cudaEventDisableTiming));
  CK(cudaEventCreateWithFlags(&ej, cudaEventDisableTiming));
  // Every kernel on every stream once (first launches and queues before any gate).
  for (cudaStream_t s : {c, c2, ch}) {
    xg_fill<<<grid, 256, 0, s>>>(d, n, 1);
    CK_LAUNCH();
    xg_mix<<<grid, 256, 0, s>>>(d, n, 2);
    CK_LAUNCH();
    CK(cudaMemsetAsync(aux, 0, bytes, s));
  }
  CK(cudaDeviceSynchronize());

  auto read = [&](const uint32_t* src) {
    CK(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, ch));
    CK(cudaStreamSynchronize(ch));
    return std::vector<uint32_t>(host, host + n);
  };

  struct Variant {
    const char* name;
    cudaStream_t origin;
    cudaStreamCaptureMode mode;
    bool pending;  // a kernel held on the origin stream (gated) when the capture begins
  };
  const Variant variants[] = {
      {"capture.low_stream_global", c, cudaStreamCaptureModeGlobal, false},
      {"capture.low_stream_pending_threadlocal", c, cudaStreamCaptureModeThreadLocal, true},
      {"capture.high_stream_relaxed", ch, cudaStreamCaptureModeRelaxed, false},
  };
  uint32_t vi = 0;
  for (const Variant& v : variants) {
    const std::string name = v.name;
    round_header(name);
    ++vi;
    const uint32_t seed = 0x5EED0000u + vi, tag_a = 0xA000u + vi, tag_b = 0xB000u + vi, tag_p = 0xC000u + vi;
    if (v.pending) {
      CK(cudaMemsetAsync(pend, 0, bytes, ch));
      CK(cudaStreamSynchronize(ch));
    }
    Gated g = gate(e, one_low(e));
    if (v.pending) {
      xg_mix<<<grid, 256, 0, v.origin>>>(pend, n, tag_p);
      CK_LAUNCH();
    }
    Releaser rel(e, g);
    std::vector<CallTime> calls;
    calls.push_back(timed(&rel, "cudaStreamBeginCapture", [&] { CK(cudaStreamBeginCapture(v.origin, v.mode)); }));
    // fill (origin) -> fork -> mix A (c2) -> join -> mix B (origin) -> memset (origin): 4 nodes.
    xg_fill<<<grid, 256, 0, v.origin>>>(d, n, seed);
    CK_LAUNCH();
    CK(cudaEventRecord(ef, v.origin));
    CK(cudaStreamWaitEvent(c2, ef, 0));
    xg_mix<<<grid, 256, 0, c2>>>(d, n, tag_a);
    CK_LAUNCH();
    CK(cudaEventRecord(ej, c2));
    CK(cudaStreamWaitEvent(v.origin, ej, 0));
    xg_mix<<<grid, 256, 0, v.origin>>>(d, n, tag_b);
    CK_LAUNCH();
    CK(cudaMemsetAsync(aux, 0x5A, bytes, v.origin));
    cudaGraph_t graph = nullptr;
    calls.push_back(timed(&rel, "cudaStreamEndCapture", [&] { CK(cudaStreamEndCapture(v.origin, &graph)); }));
    size_t count = 0;
    CK(cudaGraphGetNodes(graph, nullptr, &count));
    std::vector<cudaGraphNode_t> nodes(count);
    int kernels = 0, memsets = 0, others = 0;
    std::string other_types;
    if (count > 0) {
      CK(cudaGraphGetNodes(graph, nodes.data(), &count));
      for (cudaGraphNode_t node : nodes) {
        cudaGraphNodeType t{};
        CK(cudaGraphNodeGetType(node, &t));
        if (t == cudaGraphNodeTypeKernel) {
          ++kernels;
        } else if (t == cudaGraphNodeTypeMemset) {
          ++memsets;
        } else {
          ++others;
          other_types += " " + std::to_string(static_cast<int>(t));
        }
      }
    }
    R.check_value(name + ": captured nodes", static_cast<long long>(count), 4);
    R.check_value(name + ": kernel nodes", kernels, 3);
    R.check_value(name + ": memset nodes", memsets, 1);
    R.check_true(name + ": no other nodes (no gates, no event nodes)", others == 0,
                 std::to_string(others) + " other node(s), cudaGraphNodeType:" + other_types);
    cudaGraphExec_t exec = nullptr;
    calls.push_back(timed(&rel, "cudaGraphInstantiate", [&] { CK(cudaGraphInstantiate(&exec, graph, 0)); }));
    calls.push_back(timed(&rel, "cudaGraphLaunch on a high stream", [&] { CK(cudaGraphLaunch(exec, ch)); }));
    calls.push_back(timed(&rel, "cudaStreamSynchronize(high stream)", [&] { CK(cudaStreamSynchronize(ch)); }));
    std::vector<uint32_t> want(n);
    gputest::host_fill(want, seed);
    gputest::host_mix(want, tag_a);
    gputest::host_mix(want, tag_b);
    R.check(name + ": graph on the high stream", read(d), want);
    R.check(name + ": graph memset", read(aux), std::vector<uint32_t>(n, 0x5A5A5A5Au));
    // The same graph on the gated low stream: one command, held with the rest.
    CK(cudaMemsetAsync(d, 0, bytes, ch));
    CK(cudaStreamSynchronize(ch));
    calls.push_back(timed(&rel, "cudaGraphLaunch on the gated low stream",
                          [&] { CK(cudaGraphLaunch(exec, reinterpret_cast<cudaStream_t>(e.low[0]))); }));
    rel.calls_done();
    const std::string reason = finish(e, g, R, name, &rel);
    check_calls(R, name, calls, reason, rel.capped());
    R.check(name + ": graph on the low stream", read(d), want);
    if (v.pending) {
      CK(cudaStreamSynchronize(v.origin));
      std::vector<uint32_t> pw(n, 0);
      gputest::host_mix(pw, tag_p);
      R.check(name + ": the kernel pending before the capture", read(pend), pw);
    }
    CK(cudaGraphExecDestroy(exec));
    CK(cudaGraphDestroy(graph));
  }
  CK(cudaEventDestroy(ef));
  CK(cudaEventDestroy(ej));
  for (cudaStream_t s : {c, c2, ch}) CK(cudaStreamDestroy(s));
  for (uint32_t* p : {d, aux, pend}) CK(cudaFree(p));
  CK(cudaFreeHost(host));
}

void sc_destroy_stream(Env& e, gputest::Results& R) {
  for (int variant = 0; variant < 2; ++variant) {
    const std::string name = variant == 0 ? "destroy_stream.cuStreamDestroy" : "destroy_stream.cudaStreamDestroy";
    round_header(name);
    CUstream s = nullptr;
    if (variant == 0) {
      s = make_stream(0);
    } else {
      cudaStream_t rs = nullptr;
      CK(cudaStreamCreateWithPriority(&rs, cudaStreamNonBlocking, 0));
      s = reinterpret_cast<CUstream>(rs);
    }
    warm_up(e, {s});
    GateSpec spec = one_low(e);
    spec.streams = {s};
    Gated g = gate(e, spec);
    Releaser rel(e, g);
    std::vector<CallTime> calls;
    int done_at_return = 0;
    if (variant == 0) {
      calls.push_back(timed(&rel, "cuStreamDestroy(the gated low stream)", [&] { CK(cuStreamDestroy(s)); }));
    } else {
      calls.push_back(timed(&rel, "cudaStreamDestroy(the gated low stream)",
                            [&] { CK(cudaStreamDestroy(reinterpret_cast<cudaStream_t>(s))); }));
    }
    done_at_return = low_done(e, g);
    rel.calls_done();
    const std::string reason = finish(e, g, R, name, &rel);
    check_calls(R, name, calls, reason, rel.capped());
    if (g_opt.expect_gated) {
      // The interposer's documented behaviour: destroying a stream whose queue holds work waits
      // until that work has completed (CUDA itself returns at once and completes it later).
      R.check_value(name + ": low kernels complete when the destroy returned", done_at_return, g.total());
    } else {
      std::printf("    (native) %d of %d low kernels complete when the destroy returned\n", done_at_return, g.total());
    }
  }
}

// How many streams of a context xsched holds at closed gates at most: half
// of CUDA_DEVICE_MAX_CONNECTIONS (8 by default, `xsched run` sets 32).
int max_gated_streams() {
  const char* v = std::getenv("CUDA_DEVICE_MAX_CONNECTIONS");
  const int connections = v != nullptr && std::atoi(v) > 0 ? std::min(std::atoi(v), 32) : 8;
  return connections / 2;
}

// Two sizes: as many low streams as xsched gates in a context (half the
// hardware connections, less room for the high and default streams), all held behind their
// gates; then 64, too many streams at work for gates (on a GPU, streams at
// closed gates beside many busy ones can stall every other stream), so the
// queues are held as at Level 1: none need be held, and nothing may stall.
void sc_many_streams(Env& e, gputest::Results& R) {
  const int few = std::max(1, max_gated_streams() - 4);
  for (int size : {few, kManyStreams}) {
    for (size_t i = e.low.size(); i < static_cast<size_t>(size); ++i) e.low.push_back(make_stream(0));
    warm_up(e, e.low);
    for (int variant = 0; variant < 2; ++variant) {
      const std::string name = std::string(size == few ? "many_streams.few" : "many_streams.64") +
                               (variant == 0 ? ".release" : ".cuMemFree");
      round_header(name);
      CUdeviceptr p = 0;
      if (variant == 1) CK(cuMemAlloc(&p, 1 << 20));
      GateSpec spec;
      spec.streams.assign(e.low.begin(), e.low.begin() + size);
      spec.per_stream = kManyPerStream;
      spec.max_early = g_opt.max_early >= 0 ? g_opt.max_early : kMaxEarlyManyDefault;
      spec.min_held_streams = size == few ? size : 0;
      Gated g = gate(e, spec);
      Releaser rel(e, g);
      std::vector<CallTime> calls;
      if (variant == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const int held = low_done(e, g);
        std::printf("    %d of %d low kernels done after 50 ms more\n", held, g.total());
        rel.release_now("the scenario");
        const double t0 = now_s();
        if (!wait_until([&] { return low_done(e, g) >= g.total(); }, kCallLimitS)) {
          R.check_true(name + ": all low streams resumed", false,
                       std::to_string(low_done(e, g)) + " of " + std::to_string(g.total()) + " done " +
                           std::to_string(kCallLimitS) + " s after the release");
        } else {
          std::printf("    %-64s %9.3f ms\n", "until all low streams completed", (now_s() - t0) * 1e3);
        }
      } else {
        calls.push_back(timed(&rel, "cuMemFree with the low streams held", [&] { CK(cuMemFree(p)); }));
      }
      rel.calls_done();
      const std::string reason = finish(e, g, R, name, &rel);
      check_calls(R, name, calls, reason, rel.capped());
    }
  }
}

// ---- scenarios with their own context or process ----

int gpu_present() {
  const CUresult init = cuInit(0);
  if (init != CUDA_SUCCESS) {
    const char* name = nullptr;
    cuGetErrorName(init, &name);
    std::printf("SKIP: cuInit failed (%d %s): no usable GPU\n", static_cast<int>(init), name ? name : "?");
    return gputest::kSkip;
  }
  int count = 0;
  if (cuDeviceGetCount(&count) != CUDA_SUCCESS || count == 0) {
    std::puts("SKIP: no CUDA device");
    return gputest::kSkip;
  }
  CUdevice dev = 0;
  CK(cuDeviceGet(&dev, 0));
  char name[256] = {};
  CK(cuDeviceGetName(name, sizeof name, dev));
  int driver = 0;
  CK(cuDriverGetVersion(&driver));
  std::printf("device 0: %s, driver API %d\n", name, driver);
  return 0;
}

// Initialises the runtime; returns its (primary) context.
CUcontext runtime_primary_ctx() {
  step("runtime initialisation");
  int n = 0;
  CK(cudaGetDeviceCount(&n));
  CK(cudaSetDevice(0));
  CK(cudaFree(nullptr));
  CUcontext ctx = nullptr;
  CK(cuCtxGetCurrent(&ctx));
  if (ctx == nullptr) die("the CUDA runtime left no current context");
  return ctx;
}

void sc_runtime_init(gputest::Results& R) {
  const std::string name = "runtime_init";
  CUdevice dev = 0;
  CK(cuDeviceGet(&dev, 0));
  CUcontext ctx = nullptr;
  CK(cuDevicePrimaryCtxRetain(&ctx, dev));
  Env e;
  env_init(e, ctx);  // driver API only so far
  round_header(name);
  Gated g = gate(e, one_low(e));
  Releaser rel(e, g);
  std::vector<CallTime> calls;
  void* p = nullptr;
  calls.push_back(timed(&rel, "cudaMalloc (the first runtime call: runtime initialisation)",
                        [&] { CK(cudaMalloc(&p, 1 << 20)); }));
  calls.push_back(timed(&rel, "first <<<>>> launch on a high stream", [&] {
    xg_rt_first<<<1, 32, 0, reinterpret_cast<cudaStream_t>(e.high2)>>>(e.devp(&e.sh->probe[0]), 21);
    CK_LAUNCH();
  }));
  wait_probe(e, name, 0, "the runtime's kernel");
  calls.push_back(timed(&rel, "cudaFree", [&] { CK(cudaFree(p)); }));
  rel.calls_done();
  const std::string reason = finish(e, g, R, name, &rel);
  check_calls(R, name, calls, reason, rel.capped());
  R.check_value(name + ": the runtime's kernel ran", vload(e.sh->probe[0].flag), 21);
  CUcontext rt_ctx = nullptr;
  CK(cuCtxGetCurrent(&rt_ctx));
  R.check_true(name + ": the runtime uses the primary context", rt_ctx == ctx, "another context is current");
}

void sc_destroy_context(gputest::Results& R) {
  const std::string name = "destroy_context";
  CUdevice dev = 0;
  CK(cuDeviceGet(&dev, 0));
  CUcontext ctx = nullptr;
  CK(cuCtxCreate(&ctx, nullptr, 0, dev));
  Env e;
  env_init(e, ctx);  // shared block: malloc'd and registered, so it outlives the context
  round_header(name);
  Gated g = gate(e, one_low(e));
  Releaser rel(e, g);
  std::vector<CallTime> calls;
  calls.push_back(timed(&rel, "cuCtxDestroy (its low stream gated)", [&] { CK(cuCtxDestroy(ctx)); }));
  const int done_at_return = low_done(e, g);
  const uint32_t hold_done_at_return = vload(e.sh->hold.finished);
  rel.calls_done();
  // The context is gone: the shared block is plain host memory now (its registration went with
  // the context). If work was dropped, finish() reports it.
  if (g_opt.expect_gated) {
    R.check_value(name + ": low kernels complete when cuCtxDestroy returned", done_at_return, g.total());
    R.check_value(name + ": hold kernel complete when cuCtxDestroy returned", hold_done_at_return, 1);
    const std::string reason = finish(e, g, R, name, &rel, /*ctx_alive=*/false);
    check_calls(R, name, calls, reason, rel.capped());
  } else {
    // Natively, whether cuCtxDestroy completes or drops the context's work is the driver's
    // business: report only.
    const std::string reason = rel.stop();
    std::printf("    (native) %d of %d low kernels, hold %s, when cuCtxDestroy returned\n", done_at_return,
                g.total(), hold_done_at_return ? "complete" : "not complete");
    check_calls(R, name, calls, reason, rel.capped());
  }
  // e.sh stays allocated: the process ends next, and the driver may still know the range.
}

// The child of exit_while_gated: gates the low stream, then leaves while it is gated.
int exit_child(const char* mode, void* shared_mem) {
  arm_watchdog();
  const int rc = gpu_present();
  if (rc != 0) return rc;
  Env e;
  // The shared (MAP_SHARED) block lets the parent see afterwards how far the low stream got.
  env_init(e, runtime_primary_ctx(), shared_mem);
  GateSpec spec = one_low(e);
  // The hold kernel is never released: it runs for 2 s (its cap) unless the exit ends it.
  spec.hold_cap_ns = kExitHoldNs;
  Gated g = gate(e, spec);
  std::printf("  child (%s): leaving with the low stream gated (%d of %d low kernels done)\n", mode, low_done(e, g),
              g.total());
  std::fflush(stdout);
  if (std::strcmp(mode, "exit") == 0) std::exit(0);
  return 0;  // returned from main
}

struct ExitChild {
  bool is_child = false;
  const char* mode = "";
  void* mem = nullptr;
};

// The parent: runs the child twice (returning from main, calling exit) and waits for each.
// Makes no CUDA call itself. Returns in the child with `child->is_child` set.
int sc_exit_while_gated(ExitChild* child) {
  int failures = 0;
  for (const char* mode : {"return", "exit"}) {
    std::printf("exit_while_gated.%s\n", mode);
    std::fflush(stdout);
    const size_t bytes = shared_bytes();
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) die("mmap failed");
    std::memset(mem, 0, bytes);
    const double t0 = now_s();
    const pid_t pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
      child->is_child = true;
      child->mode = mode;
      child->mem = mem;
      return 0;
    }
    int status = 0;
    pid_t w = 0;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_s() - t0 < kExitLimitS) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const double dt = now_s() - t0;
    if (w == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      std::printf("  FAIL  exit_while_gated.%s: the process did not end within %.0f s of its start: a hang at exit "
                  "with the low stream gated\n",
                  mode, kExitLimitS);
      ++failures;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == gputest::kSkip) {
      munmap(mem, bytes);
      return gputest::kSkip;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::printf("  FAIL  exit_while_gated.%s: the process ended with %s %d after %.3f s\n", mode,
                  WIFEXITED(status) ? "code" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                  dt);
      ++failures;
    } else {
      const auto* sh = static_cast<const gate::Shared*>(mem);
      std::printf("  ok    exit_while_gated.%s: ended with code 0, %.3f s after it started; %u of %d low kernels "
                  "and %s hold kernel had completed (information only: CUDA does not promise to finish work "
                  "at exit)\n",
                  mode, dt, vload(sh->stream_done[0]), kLowKernels, vload(sh->hold.finished) ? "the" : "not the");
    }
    munmap(mem, bytes);
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if ((a == "--expect-gated" || a == "--max-early") && i + 1 < argc) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || v < 0 || v > 1000) {
        std::fprintf(stderr, "bad value for %s: '%s'\n%s", a.c_str(), argv[i], kUsage);
        return 2;
      }
      if (a == "--expect-gated") {
        g_opt.expect_gated = v != 0;
      } else {
        g_opt.max_early = static_cast<int>(v);
      }
    } else if (!a.empty() && a[0] != '-' && g_opt.scenario.empty()) {
      g_opt.scenario = a;
    } else {
      std::fprintf(stderr, "unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  const std::string& sc = g_opt.scenario;
  static const char* const kKnown[] = {"mem_free",     "mem_free_host",  "module_load",     "library_load",
                                       "lazy_load",    "runtime_init",   "event_wait",      "capture",
                                       "destroy_stream", "destroy_context", "exit_while_gated", "many_streams",
                                       "all"};
  if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return sc == k; })) {
    std::fprintf(stderr, "%s%s\n%s", sc.empty() ? "no scenario given" : "unknown scenario: ", sc.c_str(), kUsage);
    return 2;
  }
  signal(SIGALRM, on_alarm);
  std::printf("gate_hazards_prog %s%s\n", sc.c_str(), g_opt.expect_gated ? "" : " (--expect-gated 0: not checking "
                                                                              "that the low stream is held)");

  if (sc == "exit_while_gated") {
    alarm(static_cast<unsigned>(2 * kExitLimitS + 30));
    ExitChild child;
    const int r = sc_exit_while_gated(&child);
    if (!child.is_child) return r;
    // The child process: CUDA starts only here, after the fork. It returns from main (or calls
    // exit) while its low stream is gated.
    return exit_child(child.mode, child.mem);
  }
  if (sc == "lazy_load" || sc == "all") {
    // Read by the driver when it initialises: before the first CUDA call.
    setenv("CUDA_MODULE_LOADING", "LAZY", 1);
  }
  arm_watchdog();
  const int present = gpu_present();
  if (present != 0) return present;

  gputest::Results R("gate_hazards");
  if (sc == "runtime_init") {
    sc_runtime_init(R);
  } else if (sc == "destroy_context") {
    sc_destroy_context(R);
  } else {
    Env e;
    env_init(e, runtime_primary_ctx());
    using Fn = void (*)(Env&, gputest::Results&);
    struct Entry {
      const char* name;
      Fn fn;
    };
    // lazy_load first in `all`: its kernels must not have been launched before (they are not,
    // by any other scenario, but first is simplest to reason about).
    const Entry entries[] = {{"lazy_load", sc_lazy_load},       {"mem_free", sc_mem_free},
                             {"mem_free_host", sc_mem_free_host}, {"module_load", sc_module_load},
                             {"library_load", sc_library_load}, {"event_wait", sc_event_wait},
                             {"capture", sc_capture},           {"destroy_stream", sc_destroy_stream},
                             {"many_streams", sc_many_streams}};
    for (const Entry& en : entries) {
      if (sc == "all" || sc == en.name) {
        arm_watchdog();
        en.fn(e, R);
      }
    }
    step("final synchronisation");
    arm_watchdog();
    CK(cuCtxSynchronize());
  }
  alarm(0);
  std::printf("gate_hazards_prog %s: %d check(s) failed\n", sc.c_str(), R.failures());
  return R.failures() == 0 ? 0 : 1;
}
#endif  // XS_GATE_DEVICE_ONLY

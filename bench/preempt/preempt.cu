// Preemption latency: how long a high-priority kernel waits for the GPU while
// a low-priority stream keeps every SM busy with kernels of T µs.
//
//   preempt --t-us T --samples N --mean-gap-us G --high-priority P --out FILE.json
//           [--role both|low|high] [--seconds S] [--wait-go]
//           [--seed S] [--low-depth D] [--warmup W] [--watchdog-s S]
//
// A low thread launches, non-stop, a kernel that fills every SM for T µs; a
// high thread, at random times (exponential gaps of mean G µs), launches a
// one-warp kernel whose first act is to write %globaltimer to host-mapped
// memory. Latency = that device start time, converted to the host clock,
// minus the host time just before the launch. The clocks are related by a
// ping-pong calibration before and after the run (preempt_clock.h).
//
// --role both (the default) runs both threads in this process. Across two
// processes, --role low runs only the low thread (READY on stdout once its
// kernels run; it fills the GPU until stdin closes or --seconds pass) and
// --role high only the high thread's probes, against whatever else runs on the
// GPU. Native, with CUDA stream priorities, or under `xsched run`;
// bench/preempt/preempt.py runs the variants and bench/preempt/README.md
// explains the method.
//
// Build: nvcc -O2 -std=c++20 -arch=sm_90 -Xcompiler -Wall,-Wextra -o preempt preempt.cu
// Exit codes: 0 done, 1 CUDA error or watchdog, 2 bad arguments, 77 no GPU.
#include <cuda_runtime.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "preempt_clock.h"
#include "preempt_options.h"
#include "preempt_util.h"

namespace preempt {
namespace {

constexpr int kSpinThreads = 256;      // low kernel block size; 8 blocks fill an SM's 64 warps
constexpr int kHighThreads = 32;       // the high kernel: one warp
constexpr int kIdleSamples = 20;       // high kernels on an idle GPU: the launch-latency floor
constexpr int64_t kLowRampNs = 50'000'000;  // low runs this long before the first sample

// ---------------------------------------------------------------------------------------------
// Phases and the watchdog
// ---------------------------------------------------------------------------------------------

// What each thread is doing, for the watchdog's message (lock-free, so a signal handler may read it).
std::atomic<const char*> g_main_phase{"start"};
std::atomic<const char*> g_low_phase{"not started"};
std::atomic<const char*> g_high_phase{"not started"};
char g_watchdog_msg[96];

void write_str(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

// SIGALRM: a hang (a kernel that never starts, a sync that never returns) must not block the
// benchmark. Only async-signal-safe calls here.
extern "C" void on_watchdog(int) {
  write_str(g_watchdog_msg);
  write_str(" main: ");
  write_str(g_main_phase.load());
  write_str("; low thread: ");
  write_str(g_low_phase.load());
  write_str("; high thread: ");
  write_str(g_high_phase.load());
  write_str("\n");
  _exit(1);
}

void arm_watchdog(int seconds) {
  std::snprintf(g_watchdog_msg, sizeof g_watchdog_msg, "preempt: watchdog: not done after %d s;", seconds);
  struct sigaction sa {};
  sa.sa_handler = on_watchdog;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, nullptr);
  alarm(static_cast<unsigned>(seconds));
}

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

// Occupies its SM slot for spin_ns from the block's own start. Every thread spins, so the block's
// warps stay resident and no other block fits beside it.
__global__ void __launch_bounds__(kSpinThreads) spin_kernel(u64 spin_ns) {
  const u64 end = globaltimer() + spin_ns;
  while (globaltimer() < end) {
  }
}

// The high-priority probe: its first act is to stamp its start where the host can read it.
__global__ void high_kernel(volatile u64* slot) {
  if (threadIdx.x == 0) {
    *slot = globaltimer();
    __threadfence_system();
  }
}

// ---------------------------------------------------------------------------------------------
// The two sides
// ---------------------------------------------------------------------------------------------

struct Setup {
  int sm_count = 0;
  int blocks_per_sm = 0;
  int max_threads_per_sm = 0;
  int prio_least = 0, prio_greatest = 0;
  int high_priority = 0;  // after clamping
  int cuda_runtime = 0, cuda_driver = 0;
  bool interposed = false;  // an xsched library is mapped into this process
  std::string device;
};

// The low side: non-stop full-GPU kernels, at most `depth` in flight, like a program that
// syncs now and then. Under xsched launches never block, so without the waits the host would
// buffer kernels without bound.
struct Low {
  cudaStream_t stream = nullptr;
  dim3 grid;
  u64 spin_ns = 0;
  int depth = 8;
  std::atomic<bool> stop{false};
  std::atomic<bool> started{false};  // the first kernel is launched
  std::atomic<bool> running{false};  // the first kernel has finished: the GPU is running them
  u64 kernels = 0;  // read by main after join
};

void low_loop(Low& low) {
  g_low_phase = "creating events";
  std::vector<cudaEvent_t> ring(static_cast<size_t>(low.depth));
  for (cudaEvent_t& e : ring) CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  g_low_phase = "launching";
  for (u64 i = 0; !low.stop.load(std::memory_order_relaxed); ++i) {
    cudaEvent_t ev = ring[i % ring.size()];
    if (i >= ring.size()) {
      CK(cudaEventSynchronize(ev));  // the kernel `depth` launches ago is done
      if (i == ring.size()) low.running.store(true, std::memory_order_release);
    }
    spin_kernel<<<low.grid, kSpinThreads, 0, low.stream>>>(low.spin_ns);
    CK(cudaGetLastError());
    CK(cudaEventRecord(ev, low.stream));
    ++low.kernels;
    if (i == 0) low.started.store(true, std::memory_order_release);
  }
  g_low_phase = "draining";
  CK(cudaStreamSynchronize(low.stream));  // nothing of ours in flight before the events go
  for (cudaEvent_t e : ring) CK(cudaEventDestroy(e));
  g_low_phase = "done";
}

void start_low(Low& low, cudaStream_t stream, const Setup& s, const Options& o) {
  low.stream = stream;
  low.grid = dim3(static_cast<unsigned>(s.sm_count * s.blocks_per_sm));
  low.spin_ns = static_cast<u64>(std::llround(o.t_us * 1e3));
  low.depth = o.low_depth;
}

// One probe: launch the high kernel, wait (spinning) until its start stamp is visible, then
// synchronise as a real program would (under xsched that also ends the high burst at once).
struct Probe {
  int64_t submit_ns;
  int64_t seen_ns;
};

Probe probe(cudaStream_t stream, u64* host_slot, u64* dev_slot) {
  const int64_t submit = now_ns();
  high_kernel<<<1, kHighThreads, 0, stream>>>(dev_slot);
  CK(cudaGetLastError());
  if (!wait_nonzero(host_slot, kStartTimeoutNs)) fail("a high kernel did not start within 10 s");
  const int64_t seen = now_ns();
  CK(cudaStreamSynchronize(stream));
  return {submit, seen};
}

struct High {
  cudaStream_t stream = nullptr;
  u64* host_slots = nullptr;  // one zeroed slot per probe, host-mapped
  u64* dev_slots = nullptr;
  int first = 0;  // slot of the first probe of this run
  int count = 0;
  int warmup = 0;  // the first `warmup` of them are not samples
  double mean_gap_us = 0;
  u64 seed = 0;
  std::vector<Probe> probes;
};

// Probes at exponentially distributed gaps (a Poisson arrival process), kLowRampNs after the
// low thread's first launch (low_started; null when the low side is another process).
void high_loop(High& high, const std::atomic<bool>* low_started) {
  g_high_phase = "waiting for the low thread";
  while (low_started != nullptr && !low_started->load(std::memory_order_acquire)) sleep_ns(100'000);
  sleep_ns(kLowRampNs);
  std::mt19937_64 rng(high.seed);
  std::exponential_distribution<double> gap_us(1.0 / high.mean_gap_us);
  high.probes.reserve(static_cast<size_t>(high.count));
  for (int i = 0; i < high.count; ++i) {
    g_high_phase = "sleeping";
    sleep_ns(std::llround(gap_us(rng) * 1e3));
    g_high_phase = i < high.warmup ? "warm-up probe" : "probe";
    const int slot = high.first + i;
    high.probes.push_back(probe(high.stream, high.host_slots + slot, high.dev_slots + slot));
  }
  g_high_phase = "done";
}

// ---------------------------------------------------------------------------------------------
// Talking to the runner (the roles of a two-process run)
// ---------------------------------------------------------------------------------------------

void say(const char* line) {
  std::printf("%s\n", line);
  std::fflush(stdout);
}

// Role high with --wait-go: block until a line arrives on stdin.
void wait_go_line() {
  for (;;) {
    char c = 0;
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n == 1 && c == '\n') return;
    if (n == 0) fail("stdin ended before the go line");
    if (n < 0 && errno != EINTR) fail("cannot read stdin for the go line");
  }
}

// Role low: block until stdin reaches its end or `seconds` pass (0: no limit); whatever arrives
// on it is discarded.
void wait_stdin_closed(double seconds) {
  const int64_t deadline = seconds > 0 ? now_ns() + std::llround(seconds * 1e9) : INT64_MAX;
  char buf[256];
  for (;;) {
    const int64_t left = deadline - now_ns();
    if (left <= 0) return;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left / 1'000'000 + 1, 1000)));
    if (r < 0 && errno != EINTR) return;
    if (r <= 0) continue;
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;  // end of input, or none to be had
  }
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

double percentile(std::vector<double> xs, double q) {
  if (xs.empty()) return NAN;
  std::sort(xs.begin(), xs.end());
  const double pos = (static_cast<double>(xs.size()) - 1) * q / 100.0;
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = static_cast<size_t>(std::ceil(pos));
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - static_cast<double>(lo));
}

std::string json_string(const std::string& s) {
  std::string r = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      r += '\\';
      r += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      r += buf;
    } else {
      r += c;
    }
  }
  return r + "\"";
}

void write_list(FILE* f, const char* name, const std::vector<double>& xs) {
  std::fprintf(f, " \"%s\": [", name);
  for (size_t i = 0; i < xs.size(); ++i) std::fprintf(f, "%s%.3f", i ? ", " : "", xs[i]);
  std::fprintf(f, "],\n");
}

struct Results {
  std::vector<double> latency_us, seen_us, idle_us, idle_seen_us;
  ClockMap clocks;
  u64 low_kernels = 0;
  double run_s = 0;
  double fill_s = 0;  // role low: from READY until stdin closed
};

// The run's JSON. Role low has no probes: its lists are empty and calib is null.
void write_json(const Options& o, const Setup& s, const Results& r) {
  FILE* f = std::fopen(o.out.c_str(), "w");
  if (!f) fail(("cannot write " + o.out + ": " + std::strerror(errno)).c_str());
  const Calibration& b = r.clocks.before;
  const Calibration& a = r.clocks.after;
  const int64_t span = a.mid_ns - b.mid_ns;
  if (o.t_us < 0) std::fprintf(f, "{\n \"t_us\": null,\n");
  else std::fprintf(f, "{\n \"t_us\": %.3f,\n", o.t_us);
  std::fprintf(f, " \"role\": \"%s\",\n \"wait_go\": %s,\n", role_name(o.role), o.wait_go ? "true" : "false");
  write_list(f, "samples", r.latency_us);
  write_list(f, "host_seen_us", r.seen_us);
  write_list(f, "idle_us", r.idle_us);
  write_list(f, "idle_host_seen_us", r.idle_seen_us);
  if (o.role == Role::kLow) {
    std::fprintf(f, " \"calib\": null,\n \"fill_s\": %.3f,\n", r.fill_s);
  } else {
    std::fprintf(f,
                 " \"calib\": {\"rtt_ns_before\": %" PRId64 ", \"rtt_ns_after\": %" PRId64
                 ", \"drift_ns\": %" PRId64 ", \"span_ns\": %" PRId64 ", \"drift_ppm\": %.4f},\n",
                 b.rtt_ns, a.rtt_ns, a.offset_ns - b.offset_ns, span,
                 span > 0 ? 1e6 * static_cast<double>(a.offset_ns - b.offset_ns) / static_cast<double>(span) : 0.0);
  }
  std::fprintf(f, " \"low_kernels\": %llu,\n \"high_priority\": %d,\n \"high_priority_requested\": %d,\n",
               r.low_kernels, s.high_priority, o.high_priority);
  std::fprintf(f, " \"priority_range\": [%d, %d],\n", s.prio_greatest, s.prio_least);
  std::fprintf(f, " \"sm_count\": %d,\n \"blocks_per_sm\": %d,\n \"threads_per_block\": %d,\n", s.sm_count,
               s.blocks_per_sm, kSpinThreads);
  std::fprintf(f, " \"max_threads_per_sm\": %d,\n", s.max_threads_per_sm);
  std::fprintf(f, " \"low_depth\": %d,\n \"mean_gap_us\": %.3f,\n \"seed\": %llu,\n \"warmup\": %d,\n", o.low_depth,
               o.mean_gap_us, o.seed, o.warmup);
  std::fprintf(f, " \"cuda_runtime\": %d,\n \"cuda_driver\": %d,\n \"interposed\": %s,\n", s.cuda_runtime,
               s.cuda_driver, s.interposed ? "true" : "false");
  std::fprintf(f, " \"run_s\": %.3f,\n \"device\": %s\n}\n", r.run_s, json_string(s.device).c_str());
  if (std::fclose(f) != 0) fail(("cannot write " + o.out).c_str());
}

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

// 77 (the "skipped" code of test harnesses) when there is no GPU to measure.
void require_gpu() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    std::fprintf(stderr, "preempt: no CUDA device (%s); skipped\n",
                 e != cudaSuccess ? cudaGetErrorString(e) : "device count 0");
    std::exit(77);
  }
}

// Whether `xsched run` put its interposer in this process: a run meant to be scheduled that
// was not would measure nothing (the runner checks this flag).
bool xsched_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.rfind('/');
    if (slash != std::string::npos && line.find("xsched", slash) != std::string::npos) return true;
  }
  return false;
}

Setup query_device(int requested_priority) {
  Setup s;
  CK(cudaSetDevice(0));
  CK(cudaFree(nullptr));  // create the context now, so the driver (or its stand-in) is loaded
  CK(cudaRuntimeGetVersion(&s.cuda_runtime));
  CK(cudaDriverGetVersion(&s.cuda_driver));
  s.interposed = xsched_mapped();
  cudaDeviceProp p{};
  CK(cudaGetDeviceProperties(&p, 0));
  if (!p.canMapHostMemory) fail("the device cannot map host memory");
  s.device = p.name;
  s.sm_count = p.multiProcessorCount;
  s.max_threads_per_sm = p.maxThreadsPerMultiProcessor;
  CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&s.blocks_per_sm, spin_kernel, kSpinThreads, 0));
  if (s.blocks_per_sm < 1) fail("the spin kernel does not fit on an SM");
  if (s.blocks_per_sm * kSpinThreads < s.max_threads_per_sm) {
    std::fprintf(stderr, "preempt: warning: the low kernel fills %d of %d threads per SM; a high kernel may fit "
                 "beside it\n", s.blocks_per_sm * kSpinThreads, s.max_threads_per_sm);
  }
  CK(cudaDeviceGetStreamPriorityRange(&s.prio_least, &s.prio_greatest));
  // Lower numbers are more urgent: greatest <= P <= least.
  s.high_priority = std::clamp(requested_priority, s.prio_greatest, s.prio_least);
  return s;
}

template <typename T>
T* host_mapped(size_t count, T** dev) {
  void* p = nullptr;
  CK(cudaHostAlloc(&p, count * sizeof(T), cudaHostAllocMapped));
  std::memset(p, 0, count * sizeof(T));
  void* d = nullptr;
  CK(cudaHostGetDevicePointer(&d, p, 0));
  *dev = static_cast<T*>(d);
  return static_cast<T*>(p);
}

// Submit -> device start (on the host clock), µs, for probes[from..].
std::vector<double> start_latencies_us(const std::vector<Probe>& probes, size_t from, u64* slots,
                                       const ClockMap& clocks) {
  std::vector<double> out;
  for (size_t i = from; i < probes.size(); ++i) {
    const u64 device_start = std::atomic_ref<u64>(slots[i]).load(std::memory_order_acquire);
    out.push_back(static_cast<double>(clocks.to_host_ns(device_start) - probes[i].submit_ns) / 1e3);
  }
  return out;
}

// Submit -> the host saw the start stamp, µs, for probes[from..]: the same without the clock map.
std::vector<double> seen_latencies_us(const std::vector<Probe>& probes, size_t from) {
  std::vector<double> out;
  for (size_t i = from; i < probes.size(); ++i) {
    out.push_back(static_cast<double>(probes[i].seen_ns - probes[i].submit_ns) / 1e3);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The roles
// ---------------------------------------------------------------------------------------------

// Role low: the low thread alone until stdin closes (or --seconds pass).
int run_low(const Options& opt, const Setup& setup) {
  const int64_t t_start = now_ns();
  cudaStream_t low_stream;
  CK(cudaStreamCreateWithPriority(&low_stream, cudaStreamNonBlocking, 0));
  g_main_phase = "warming up";
  spin_kernel<<<1, kSpinThreads, 0, low_stream>>>(1000);
  CK(cudaGetLastError());
  CK(cudaStreamSynchronize(low_stream));

  Low low;
  start_low(low, low_stream, setup, opt);
  std::thread low_thread(low_loop, std::ref(low));
  g_main_phase = "waiting for the first low kernel to finish";
  const int64_t deadline = now_ns() + kStartTimeoutNs + std::llround(opt.t_us * 1e3) * (opt.low_depth + 1);
  while (!low.running.load(std::memory_order_acquire)) {
    if (now_ns() > deadline) fail("the first low kernel did not finish");
    sleep_ns(100'000);
  }
  alarm(0);  // filling has no time limit but --seconds
  say("READY");
  const int64_t fill_start = now_ns();
  g_main_phase = "filling the GPU until stdin closes";
  wait_stdin_closed(opt.seconds);
  const int64_t fill_end = now_ns();
  alarm(static_cast<unsigned>(opt.watchdog_s));
  g_main_phase = "stopping the low thread";
  low.stop.store(true, std::memory_order_relaxed);
  low_thread.join();

  Results res;
  res.low_kernels = low.kernels;
  res.fill_s = static_cast<double>(fill_end - fill_start) / 1e9;
  res.run_s = static_cast<double>(now_ns() - t_start) / 1e9;
  g_main_phase = "writing results";
  if (!opt.out.empty()) write_json(opt, setup, res);
  CK(cudaStreamDestroy(low_stream));
  alarm(0);
  std::printf("preempt: role low, T=%g us: %llu low kernels, %.1f s filling the GPU\n", opt.t_us, res.low_kernels,
              res.fill_s);
  return 0;
}

// Roles both and high: the high thread's probes, in role both beside this process's low thread.
int run_with_high(const Options& opt, const Setup& setup) {
  const bool with_low = opt.role == Role::kBoth;
  const int64_t t_start = now_ns();

  // Streams. The calibration stream has the high stream's priority: under xsched nothing less
  // urgent holds it back, and, not being more urgent than the high stream, it does not make
  // xsched confine the high stream's kernels to a partition for a while after each calibration
  // (with XSCHED_RESERVE_SMS the less urgent queues of a process are confined while a more
  // urgent one was recently active).
  cudaStream_t low_stream = nullptr, high_stream, calib_stream;
  if (with_low) CK(cudaStreamCreateWithPriority(&low_stream, cudaStreamNonBlocking, 0));
  CK(cudaStreamCreateWithPriority(&high_stream, cudaStreamNonBlocking, setup.high_priority));
  CK(cudaStreamCreateWithPriority(&calib_stream, cudaStreamNonBlocking, setup.high_priority));

  // One host-mapped slot per probe: the idle probes, then the warm-up and timed ones.
  const int n_probes = kIdleSamples + opt.warmup + opt.samples;
  u64* dev_slots = nullptr;
  u64* slots = host_mapped<u64>(static_cast<size_t>(n_probes) + 1, &dev_slots);  // + 1: the load probe
  Mailbox* dev_mb = nullptr;
  Mailbox* mb = host_mapped<Mailbox>(1, &dev_mb);

  // Load the kernels (lazy module loading) before anything is timed.
  g_main_phase = "warming up";
  if (with_low) {
    spin_kernel<<<1, kSpinThreads, 0, low_stream>>>(1000);
    CK(cudaGetLastError());
    CK(cudaStreamSynchronize(low_stream));
  }
  probe(high_stream, slots + n_probes, dev_slots + n_probes);

  Results res;
  g_main_phase = "calibrating (before)";
  res.clocks.before = calibrate(mb, dev_mb, calib_stream);

  // The floor: high kernels on an idle GPU (role high: beside whatever else runs on it).
  g_main_phase = "idle probes";
  std::vector<Probe> idle;
  for (int i = 0; i < kIdleSamples; ++i) {
    sleep_ns(1'000'000);
    idle.push_back(probe(high_stream, slots + i, dev_slots + i));
  }
  if (opt.wait_go) {
    g_main_phase = "waiting for the go line on stdin";
    say("IDLE-DONE");
    wait_go_line();
  }

  g_main_phase = with_low ? "running (low and high threads)" : "running (high thread)";
  Low low;
  if (with_low) start_low(low, low_stream, setup, opt);
  High high;
  high.stream = high_stream;
  high.host_slots = slots;
  high.dev_slots = dev_slots;
  high.first = kIdleSamples;
  high.count = opt.warmup + opt.samples;
  high.warmup = opt.warmup;
  high.mean_gap_us = opt.mean_gap_us;
  high.seed = opt.seed;
  std::thread low_thread;
  if (with_low) low_thread = std::thread(low_loop, std::ref(low));
  std::thread high_thread(high_loop, std::ref(high), with_low ? &low.started : nullptr);
  high_thread.join();
  if (with_low) {
    low.stop.store(true, std::memory_order_relaxed);
    low_thread.join();
  }

  g_main_phase = "calibrating (after)";
  res.clocks.after = calibrate(mb, dev_mb, calib_stream);

  g_main_phase = "writing results";
  const size_t warm = static_cast<size_t>(opt.warmup);
  res.latency_us = start_latencies_us(high.probes, warm, slots + kIdleSamples, res.clocks);
  res.seen_us = seen_latencies_us(high.probes, warm);
  res.idle_us = start_latencies_us(idle, 0, slots, res.clocks);
  res.idle_seen_us = seen_latencies_us(idle, 0);
  res.low_kernels = low.kernels;
  res.run_s = static_cast<double>(now_ns() - t_start) / 1e9;
  write_json(opt, setup, res);

  g_main_phase = "cleaning up";
  CK(cudaFreeHost(mb));
  CK(cudaFreeHost(slots));
  CK(cudaStreamDestroy(calib_stream));
  CK(cudaStreamDestroy(high_stream));
  if (with_low) CK(cudaStreamDestroy(low_stream));
  alarm(0);

  std::printf("preempt: role %s, T=%g us, high priority %d, %zu samples: latency p50 %.1f p99 %.1f max %.1f us "
              "(host-seen p50 %.1f p99 %.1f; idle p50 %.1f); %llu low kernels; calibration rtt %" PRId64
              "/%" PRId64 " ns, drift %" PRId64 " ns\n",
              role_name(opt.role), opt.t_us, setup.high_priority, res.latency_us.size(), percentile(res.latency_us, 50),
              percentile(res.latency_us, 99), percentile(res.latency_us, 100), percentile(res.seen_us, 50),
              percentile(res.seen_us, 99), percentile(res.idle_us, 50), res.low_kernels, res.clocks.before.rtt_ns,
              res.clocks.after.rtt_ns, res.clocks.after.offset_ns - res.clocks.before.offset_ns);
  return 0;
}

int run(int argc, char** argv) {
  const Options opt = parse_options(argc, argv);
  arm_watchdog(opt.watchdog_s);
  g_main_phase = "initialising CUDA";
  require_gpu();
  const Setup setup = query_device(opt.high_priority);
  return opt.role == Role::kLow ? run_low(opt, setup) : run_with_high(opt, setup);
}

}  // namespace
}  // namespace preempt

int main(int argc, char** argv) { return preempt::run(argc, argv); }

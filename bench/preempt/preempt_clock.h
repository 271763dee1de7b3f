// preempt.cu's clock calibration: how %globaltimer (device) relates to CLOCK_MONOTONIC (host).
// Included by preempt.cu only; bench/preempt/README.md explains the method.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "preempt_util.h"

namespace preempt {

constexpr int kCalibTrips = 200;  // ping-pong round trips per calibration

// Host-mapped words of the clock calibration; each on its own cache line so the GPU's polling
// read of one does not contend with the host's writes to another.
struct alignas(64) Word {
  u64 v;
};
struct Mailbox {
  Word ping;     // host -> GPU: round-trip number
  Word pong;     // GPU -> host: the last number answered
  Word pong_ns;  // GPU -> host: %globaltimer when it saw that number
  Word quit;     // host -> GPU: stop
};

// One thread: answer every new ping with the device time, until told to quit.
static __global__ void calib_kernel(Mailbox* mb) {
  volatile u64* ping = &mb->ping.v;
  volatile u64* pong = &mb->pong.v;
  volatile u64* pong_ns = &mb->pong_ns.v;
  volatile u64* quit = &mb->quit.v;
  u64 seen = 0;
  while (*quit == 0) {
    const u64 p = *ping;
    if (p == seen) continue;
    *pong_ns = globaltimer();
    __threadfence_system();  // the time reaches the host before the number that announces it
    *pong = p;
    __threadfence_system();
    seen = p;
  }
}

struct Calibration {
  int64_t mid_ns = 0;     // host time of the best round trip's middle
  int64_t offset_ns = 0;  // device time - host time at that moment
  int64_t rtt_ns = 0;     // the best round trip: the offset is known to within half of it
};

// The device writes pong_ns somewhere between the host's t0 (ping written) and t1 (pong seen);
// taking the middle errs by at most (t1 - t0) / 2, so keep the shortest of many round trips.
// In one process the kernel runs alone (before the low thread starts and after it stops) so
// that nothing delays its answers; beside another process's kernels the GPU time-slices, which
// lengthens some round trips, and the shortest are still those that ran undisturbed.
inline Calibration calibrate(Mailbox* host, Mailbox* dev, cudaStream_t stream) {
  std::atomic_ref<u64> ping(host->ping.v), quit(host->quit.v), pong_ns(host->pong_ns.v);
  std::memset(host, 0, sizeof *host);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  calib_kernel<<<1, 1, 0, stream>>>(dev);
  CK(cudaGetLastError());
  // Round trip 1 waits for the kernel to start; it is not counted.
  ping.store(1, std::memory_order_release);
  if (!wait_for(&host->pong.v, 1, kStartTimeoutNs)) fail("calibration kernel never answered");
  Calibration best;
  best.rtt_ns = INT64_MAX;
  for (u64 k = 2; k < 2 + kCalibTrips; ++k) {
    const int64_t t0 = now_ns();
    ping.store(k, std::memory_order_release);
    if (!wait_for(&host->pong.v, k, 1'000'000'000)) fail("calibration kernel stopped answering");
    const int64_t t1 = now_ns();
    if (t1 - t0 < best.rtt_ns) {
      best.rtt_ns = t1 - t0;
      best.mid_ns = t0 + (t1 - t0) / 2;
      best.offset_ns = static_cast<int64_t>(pong_ns.load(std::memory_order_acquire)) - best.mid_ns;
    }
  }
  quit.store(1, std::memory_order_release);
  CK(cudaStreamSynchronize(stream));
  return best;
}

// Device time -> host time, with the offset interpolated linearly between two calibrations.
// In integers: %globaltimer counts from 1970 (~1.8e18 ns), beyond a double's exact range.
struct ClockMap {
  Calibration before, after;

  int64_t to_host_ns(u64 device_ns) const {
    const int64_t h = static_cast<int64_t>(device_ns) - before.offset_ns;
    const int64_t span = after.mid_ns - before.mid_ns;
    if (span <= 0) return h;
    const double frac = static_cast<double>(h - before.mid_ns) / static_cast<double>(span);
    return h - std::llround(frac * static_cast<double>(after.offset_ns - before.offset_ns));
  }
};

}  // namespace preempt

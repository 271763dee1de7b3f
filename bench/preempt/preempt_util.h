// preempt.cu's basics: the error exit, the host clock, spin-waits on host-mapped words the GPU
// writes, and the device clock (%globaltimer). Included by preempt.cu only.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>

namespace preempt {

using u64 = unsigned long long;  // the type %globaltimer and the mapped words use on both sides

constexpr int64_t kStartTimeoutNs = 10'000'000'000;  // a kernel that has not started by then never will

// Any failure ends the process at once: another thread may be inside the CUDA runtime, so
// exit()'s static destructors could race with it.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "preempt: %s\n", what);
  std::fflush(stderr);
  std::_Exit(1);
}

inline void check(cudaError_t e, const char* call, int line) {
  if (e == cudaSuccess) return;
  char msg[512];
  std::snprintf(msg, sizeof msg, "%s failed (line %d): %s: %s", call, line, cudaGetErrorName(e),
                cudaGetErrorString(e));
  fail(msg);
}
#define CK(call) ::preempt::check((call), #call, __LINE__)

inline int64_t now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

inline void sleep_ns(int64_t ns) { std::this_thread::sleep_for(std::chrono::nanoseconds(ns)); }

// Spin until word == want (host side of a host-mapped word the GPU writes); false on timeout.
inline bool wait_for(u64* word, u64 want, int64_t timeout_ns) {
  std::atomic_ref<u64> w(*word);
  const int64_t deadline = now_ns() + timeout_ns;
  while (w.load(std::memory_order_acquire) != want) {
    if (now_ns() > deadline) return false;
  }
  return true;
}

// Spin until word != 0; false on timeout.
inline bool wait_nonzero(u64* word, int64_t timeout_ns) {
  std::atomic_ref<u64> w(*word);
  const int64_t deadline = now_ns() + timeout_ns;
  while (w.load(std::memory_order_acquire) == 0) {
    if (now_ns() > deadline) return false;
  }
  return true;
}

__device__ __forceinline__ u64 globaltimer() {
  u64 t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");  // not moved across memory accesses
  return t;
}

}  // namespace preempt

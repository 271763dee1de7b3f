// A HIP program for the HIP interposer's tests: it calls the HIP runtime as
// a program does (linked with the fake runtime, tests/fake_hip), and runs
// under `xsched run --platform hip` (LD_PRELOAD=libxsched_hip.so), which
// finds the fake through XSCHED_REAL_LIBHIP. One scenario per run:
//   hip_interpose_prog order     kernels, a fill and a copy on one stream, in order, with their arguments' copies
//   hip_interpose_prog priority  a high-priority stream holds a backlogged low one; prints "ran_meanwhile N in_flight_bound M"
//   hip_interpose_prog 709       a stream made on device 1 by the main thread, used from a thread on device 0
//   hip_interpose_prog trace     hipMalloc, a launch and hipFree, for XSCHED_TRACE
//   hip_interpose_prog implicit  work a blocking stream holds goes before the null stream's; prints "implicit N busy B"
//   hip_interpose_prog streams   threads making, using and destroying streams at once, beside shared ones and stream 0
// Exit status 0 when the scenario's own checks pass; it prints what failed.
#include <hip/hip_runtime_api.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "fake_hip_kernel.h"

extern "C" unsigned long long fake_hip_launches(void);

namespace {

#define CHECK(call)                                                                             \
  do {                                                                                          \
    const hipError_t r_ = (call);                                                               \
    if (r_ != hipSuccess) {                                                                     \
      std::fprintf(stderr, "hip_interpose_prog: %s failed: %d\n", #call, static_cast<int>(r_)); \
      return 1;                                                                                 \
    }                                                                                           \
  } while (0)

template <class Args>
hipError_t launch(hipStream_t s, hipFunction_t f, const Args& args) {
  size_t bytes = sizeof args;
  void* extra[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, const_cast<Args*>(&args), HIP_LAUNCH_PARAM_BUFFER_SIZE, &bytes,
                   HIP_LAUNCH_PARAM_END};
  return hipModuleLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, s, nullptr, extra);
}

int order() {
  hipStream_t s = nullptr;
  CHECK(hipStreamCreate(&s));
  std::vector<int> log(64, -1);
  int cursor = 0;
  const unsigned busy = 20'000;  // the first kernel keeps the stream busy: the rest wait in the queue
  CHECK(launch(s, fake_hip_kernel_sleep(), busy));
  fake_hip_detail::AppendArgs args{log.data(), &cursor, 0};
  for (int v = 1; v <= 40; ++v) {
    args.value = v;
    CHECK(launch(s, fake_hip_kernel_append(), args));
    args.value = -1;  // changed after the launch: each kernel has its own copy
  }
  void* dev = nullptr;
  CHECK(hipMalloc(&dev, 64));
  CHECK(hipMemsetAsync(dev, 0x2a, 64, s));
  std::vector<unsigned char> host(64, 0);
  CHECK(hipMemcpyAsync(host.data(), dev, 64, hipMemcpyDeviceToHost, s));  // pageable: goes after the queue's commands
  CHECK(hipStreamSynchronize(s));
  for (int v = 1; v <= 40; ++v) {
    if (log[v - 1] != v) {
      std::fprintf(stderr, "hip_interpose_prog: kernel %d saw %d\n", v, log[v - 1]);
      return 1;
    }
  }
  if (host != std::vector<unsigned char>(64, 0x2a)) {
    std::fprintf(stderr, "hip_interpose_prog: the copy did not see the fill\n");
    return 1;
  }
  CHECK(hipFree(dev));
  CHECK(hipStreamDestroy(s));
  std::printf("order ok\n");
  return 0;
}

int priority() {
  hipStream_t lo = nullptr, hi = nullptr;
  CHECK(hipStreamCreateWithPriority(&lo, hipStreamNonBlocking, 0));
  CHECK(hipStreamCreateWithPriority(&hi, hipStreamNonBlocking, -1));  // lower runs first, as in CUDA
  const unsigned short_us = 100;
  CHECK(launch(hi, fake_hip_kernel_sleep(), short_us));  // the urgent stream has run once
  CHECK(hipStreamSynchronize(hi));
  const unsigned us = 2000;
  for (int i = 0; i < 100; ++i) CHECK(launch(lo, fake_hip_kernel_sleep(), us));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const unsigned long long before = fake_hip_launches();
  const unsigned long_us = 60'000;
  CHECK(launch(hi, fake_hip_kernel_sleep(), long_us));
  CHECK(hipStreamSynchronize(hi));
  const unsigned long long meanwhile = fake_hip_launches() - before - 1;
  CHECK(hipStreamSynchronize(lo));
  std::printf("ran_meanwhile %llu\n", meanwhile);
  CHECK(hipStreamDestroy(lo));
  CHECK(hipStreamDestroy(hi));
  return 0;
}

int stream_of_another_device() {
  int count = 0;
  CHECK(hipGetDeviceCount(&count));
  if (count < 2) {
    std::fprintf(stderr, "hip_interpose_prog: 709 needs two devices (FAKE_HIP_DEVICES=2)\n");
    return 1;
  }
  CHECK(hipSetDevice(1));
  hipStream_t s = nullptr;
  CHECK(hipStreamCreate(&s));
  int result = 0;
  std::thread worker([&] {
    if (hipSetDevice(0) != hipSuccess) result = 1;
    const unsigned us = 200;
    for (int i = 0; i < 20 && result == 0; ++i) {
      if (launch(s, fake_hip_kernel_sleep(), us) != hipSuccess) result = 2;
    }
    if (hipStreamSynchronize(s) != hipSuccess) result = 3;
  });
  worker.join();
  if (result != 0) {
    std::fprintf(stderr, "hip_interpose_prog: the worker failed (%d)\n", result);
    return 1;
  }
  CHECK(hipStreamDestroy(s));
  std::printf("709 ok\n");
  return 0;
}

int trace() {
  void* p = nullptr;
  CHECK(hipMalloc(&p, 4096));
  const unsigned us = 10;
  CHECK(launch(nullptr, fake_hip_kernel_sleep(), us));
  CHECK(hipDeviceSynchronize());
  CHECK(hipFree(p));
  return 0;
}

// The null stream and blocking streams are ordered with each other: while an
// urgent stream runs, a blocking stream's held kernels are launched as soon
// as the program puts work on the null stream, which must come after them.
int implicit() {
  hipStream_t hi = nullptr, s = nullptr;
  CHECK(hipStreamCreateWithPriority(&hi, hipStreamNonBlocking, -1));
  CHECK(hipStreamCreate(&s));  // blocking
  const unsigned short_us = 100;
  CHECK(launch(hi, fake_hip_kernel_sleep(), short_us));
  CHECK(hipStreamSynchronize(hi));
  const unsigned long_us = 300'000;
  CHECK(launch(hi, fake_hip_kernel_sleep(), long_us));
  // Kernels are counted as they complete (the fake's own counter: no data
  // shared with the kernels).
  const unsigned long long base = fake_hip_launches();
  const unsigned tiny_us = 10;
  for (int i = 0; i < 10; ++i) CHECK(launch(s, fake_hip_kernel_sleep(), tiny_us));  // held while hi runs
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const unsigned long long held = fake_hip_launches() - base;
  CHECK(launch(nullptr, fake_hip_kernel_sleep(), tiny_us));  // after s's work, by the runtime's rule
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const unsigned long long after = fake_hip_launches() - base;
  const bool busy = hipStreamQuery(hi) == hipErrorNotReady;
  CHECK(hipDeviceSynchronize());
  std::printf("implicit held %llu after %llu busy %d\n", held, after, busy ? 1 : 0);
  CHECK(hipStreamDestroy(s));
  CHECK(hipStreamDestroy(hi));
  return 0;
}

// One thread's rounds for streams(): a stream of its own per round
// (blocking or not, in turn), its kernels checked for order and arguments,
// between them work on the shared streams and at times on the null stream.
// Counts what failed.
int stream_rounds(int thread, hipStream_t shared_blocking, hipStream_t shared_non_blocking) {
  constexpr int kRounds = 12;
  constexpr int kKernels = 16;
  const unsigned tiny_us = 1;
  int failed = 0;
  for (int round = 0; round < kRounds; ++round) {
    hipStream_t s = nullptr;
    const unsigned flags = (thread + round) % 2 == 0 ? hipStreamDefault : hipStreamNonBlocking;
    if (hipStreamCreateWithFlags(&s, flags) != hipSuccess) return failed + 1;
    std::vector<int> log(kKernels, -1);
    int cursor = 0;
    fake_hip_detail::AppendArgs args{log.data(), &cursor, 0};
    for (int v = 1; v <= kKernels; ++v) {
      args.value = v;
      failed += launch(s, fake_hip_kernel_append(), args) != hipSuccess;
      hipStream_t shared = v % 2 == 0 ? shared_blocking : shared_non_blocking;
      failed += launch(shared, fake_hip_kernel_sleep(), tiny_us) != hipSuccess;
    }
    if (round % 3 == 0) failed += launch(nullptr, fake_hip_kernel_sleep(), tiny_us) != hipSuccess;
    failed += hipStreamSynchronize(s) != hipSuccess;
    for (int v = 1; v <= kKernels; ++v) failed += log[v - 1] != v;
    failed += hipStreamDestroy(s) != hipSuccess;
  }
  return failed;
}

// Many threads on many streams at once, while streams are made and
// destroyed: each stream's work runs in order, and every call succeeds.
int streams() {
  hipStream_t shared_blocking = nullptr, shared_non_blocking = nullptr;
  CHECK(hipStreamCreate(&shared_blocking));
  CHECK(hipStreamCreateWithFlags(&shared_non_blocking, hipStreamNonBlocking));
  constexpr int kThreads = 8;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { failed += stream_rounds(t, shared_blocking, shared_non_blocking); });
  }
  for (auto& t : threads) t.join();
  CHECK(hipDeviceSynchronize());
  CHECK(hipStreamQuery(shared_blocking));
  CHECK(hipStreamQuery(shared_non_blocking));
  CHECK(hipStreamDestroy(shared_blocking));
  CHECK(hipStreamDestroy(shared_non_blocking));
  if (failed != 0) {
    std::fprintf(stderr, "hip_interpose_prog: %d calls or checks failed\n", failed.load());
    return 1;
  }
  std::printf("streams ok\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  if (what == "order") return order();
  if (what == "priority") return priority();
  if (what == "709") return stream_of_another_device();
  if (what == "trace") return trace();
  if (what == "implicit") return implicit();
  if (what == "streams") return streams();
  std::fprintf(stderr, "usage: hip_interpose_prog order|priority|709|trace|implicit|streams\n");
  return 2;
}

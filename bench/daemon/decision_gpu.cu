// A CUDA program for xschedd's decision-latency benchmark (the GPU twin of
// tests/daemon_client_prog.cpp), run under `xsched run`:
//
//   decision_gpu --role low|high [--streams N] [--kernel-us K] [--period-us P] [--seconds S]
//
//   low   every stream keeps one-block kernels of K us coming, non-stop
//   high  every P us (jittered 0.5..1.5x), one kernel of K us on each stream, then waits
//
// Build: nvcc -O2 -std=c++17 -arch=sm_90 -o decision_gpu decision_gpu.cu
// Exit codes: 0 done, 1 CUDA error, 2 bad arguments, 77 no GPU.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

__device__ __forceinline__ unsigned long long globaltimer() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");
  return t;
}

__global__ void spin(unsigned long long ns) {
  const unsigned long long end = globaltimer() + ns;
  while (globaltimer() < end) {
  }
}

bool check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  std::fprintf(stderr, "decision_gpu: %s: %s\n", what, cudaGetErrorString(e));
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string role = "low";
  int streams = 1;
  long kernel_us = 1000, period_us = 5000;
  double seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--role") role = argv[i + 1];
    else if (k == "--streams") streams = std::atoi(argv[i + 1]);
    else if (k == "--kernel-us") kernel_us = std::atol(argv[i + 1]);
    else if (k == "--period-us") period_us = std::atol(argv[i + 1]);
    else if (k == "--seconds") seconds = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "decision_gpu: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if ((role != "low" && role != "high") || streams < 1 || argc % 2 != 1) {
    std::fprintf(stderr, "usage: decision_gpu --role low|high [--streams N] [--kernel-us K] [--period-us P] [--seconds S]\n");
    return 2;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "decision_gpu: no GPU\n");
    return 77;
  }
  // Waits sleep instead of spinning: many processes of spinning waiters would
  // starve every other thread of CPU, the agents' included.
  if (!check(cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync), "device flags")) return 1;
  std::vector<cudaStream_t> s(static_cast<size_t>(streams));
  for (auto& st : s) {
    if (!check(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "stream")) return 1;
  }
  const unsigned long long ns = static_cast<unsigned long long>(kernel_us) * 1000ull;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  bool ok = true;
  if (role == "low") {
    std::vector<std::thread> workers;
    for (cudaStream_t st : s) {
      workers.emplace_back([&, st] {
        cudaEvent_t ev;
        if (!check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming | cudaEventBlockingSync), "event")) return;
        for (long n = 0; std::chrono::steady_clock::now() < end; ++n) {
          spin<<<1, 32, 0, st>>>(ns);
          // A few kernels ahead at most, like a training loop's queue.
          if (n % 4 == 3) {
            cudaEventSynchronize(ev);
            cudaEventRecord(ev, st);
          }
        }
        cudaStreamSynchronize(st);
        cudaEventDestroy(ev);
      });
    }
    for (auto& w : workers) w.join();
  } else {
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    while (std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long>(static_cast<double>(period_us) * jitter(rng))));
      for (cudaStream_t st : s) spin<<<1, 32, 0, st>>>(ns);
      for (cudaStream_t st : s) ok = check(cudaStreamSynchronize(st), "sync") && ok;
    }
  }
  ok = check(cudaGetLastError(), "launch") && ok;
  for (cudaStream_t st : s) cudaStreamDestroy(st);
  return ok ? 0 : 1;
}

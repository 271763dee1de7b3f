// The CPU cost of a kernel launch through the interposer, without a GPU.
//
//   XSCHED_REAL_LIBCUDA=<driver.so> launch_cost_cpu <library.so> [legacy|own|beside] [launches] [bursts]
//
// library.so is the interposer (libxsched_cuda.so, which finds the driver
// through XSCHED_REAL_LIBCUDA), or the driver itself for the native cost.
// The driver is the stub next to this file (libstub_cuda.so: a launch does
// nothing, so what is measured is the interposer's own work) or the fake
// CUDA driver of the tests (libfake_cuda.so: a launch hands the kernel to a
// worker thread). Bursts of launches of an empty kernel on the legacy
// stream, on a non-blocking stream of its own, or on the legacy stream
// beside a blocking stream that has launched once (`beside`: as under
// PyTorch, where the legacy stream then keeps the implicit order with it);
// prints two medians over the bursts, in
// ns per launch: the launching thread's CPU time, and the process's (every
// thread, the interposer's workers and the burst's final synchronisation
// included, as a program's CPU time would count them). compare.py runs it
// for several builds and levels, interleaved.
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>
#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fake_kernel.h"

namespace {

double cpu_ns(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void nothing(void* const*, const FakeLaunch&) {}

struct Entry {
  decltype(&::cuInit) init;
  decltype(&::cuDeviceGet) device_get;
  decltype(&::cuDevicePrimaryCtxRetain) retain;
  decltype(&::cuCtxSetCurrent) set_current;
  decltype(&::cuStreamCreate) stream_create;
  decltype(&::cuLaunchKernel) launch;
  decltype(&::cuStreamSynchronize) sync;
};

template <class F>
bool resolve(void* lib, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  if (*out == nullptr) std::fprintf(stderr, "launch_cost_cpu: the library has no %s\n", name);
  return *out != nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: launch_cost_cpu <library.so> [legacy|own] [launches] [bursts]\n");
    return 2;
  }
  const char* scenario = argc > 2 ? argv[2] : "legacy";
  const bool own = std::strcmp(scenario, "own") == 0;
  const bool beside = std::strcmp(scenario, "beside") == 0;
  if (!own && !beside && std::strcmp(scenario, "legacy") != 0) {
    std::fprintf(stderr, "launch_cost_cpu: no scenario %s\n", scenario);
    return 2;
  }
  const int launches = argc > 3 ? std::atoi(argv[3]) : 20000;
  const int bursts = argc > 4 ? std::atoi(argv[4]) : 31;
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::fprintf(stderr, "launch_cost_cpu: %s\n", dlerror());
    return 1;
  }
  Entry e{};
  if (!resolve(lib, "cuInit", &e.init) || !resolve(lib, "cuDeviceGet", &e.device_get) ||
      !resolve(lib, "cuDevicePrimaryCtxRetain", &e.retain) || !resolve(lib, "cuCtxSetCurrent", &e.set_current) ||
      !resolve(lib, "cuStreamCreate", &e.stream_create) || !resolve(lib, "cuLaunchKernel", &e.launch) ||
      !resolve(lib, "cuStreamSynchronize", &e.sync)) {
    return 1;
  }
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
  if (e.init(0) != CUDA_SUCCESS || e.device_get(&dev, 0) != CUDA_SUCCESS || e.retain(&ctx, dev) != CUDA_SUCCESS ||
      e.set_current(ctx) != CUDA_SUCCESS) {
    std::fprintf(stderr, "launch_cost_cpu: no context\n");
    return 1;
  }
  CUstream s = nullptr;
  if (own && e.stream_create(&s, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS) {
    std::fprintf(stderr, "launch_cost_cpu: no stream\n");
    return 1;
  }
  static const FakeKernel kernel{&nothing, 1, {sizeof(int)}, "nothing", -1, {}};
  CUfunction f = fake_kernel_function(&kernel);
  int arg = 0;
  void* params[] = {&arg};
  if (beside) {
    CUstream blocking = nullptr;
    if (e.stream_create(&blocking, CU_STREAM_DEFAULT) != CUDA_SUCCESS ||
        e.launch(f, 1, 1, 1, 1, 1, 1, 0, blocking, params, nullptr) != CUDA_SUCCESS || e.sync(blocking) != CUDA_SUCCESS) {
      std::fprintf(stderr, "launch_cost_cpu: no blocking stream\n");
      return 1;
    }
  }
  // Warm: the queue is made, caches filled, the worker thread settled.
  for (int i = 0; i < 2000; ++i) e.launch(f, 1, 1, 1, 1, 1, 1, 0, s, params, nullptr);
  e.sync(s);
  // The launching thread's CPU time over the launches, and the whole
  // process's (the interposer's worker threads included) over the launches
  // and the synchronisation that ends the burst, as a program's would count.
  std::vector<double> thread_ns, process_ns;
  for (int b = 0; b < bursts; ++b) {
    const double p0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    const double t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < launches; ++i) {
      arg = i;
      if (e.launch(f, 1, 1, 1, 1, 1, 1, 0, s, params, nullptr) != CUDA_SUCCESS) {
        std::fprintf(stderr, "launch_cost_cpu: a launch failed\n");
        return 1;
      }
    }
    const double t1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    e.sync(s);
    const double p1 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    thread_ns.push_back((t1 - t0) / launches);
    process_ns.push_back((p1 - p0) / launches);
  }
  std::printf("%.1f %.1f\n", median(thread_ns), median(process_ns));
  return 0;
}

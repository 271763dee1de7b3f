// Launch cost seen by the application thread: bursts of empty-kernel launches
// on the legacy stream (no argument) or a stream of its own (any argument);
// prints the median thread-CPU and wall time per launch. Compare natively and
// under the interposer: nvcc -O2 -arch=sm_90 -o launch_cost launch_cost.cu &&
// ./launch_cost && xsched run -- ./launch_cost
#include <cuda_runtime.h>
#include <cstdio>
#include <ctime>
#include <algorithm>
#include <vector>
__global__ void empty(int) {}
static double tcpu_us() { timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static double wall_us() { timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
int main(int argc, char** argv) {
  cudaStream_t s = 0;
  if (argc > 1) cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  for (int i = 0; i < 1000; ++i) empty<<<1, 1, 0, s>>>(i);
  cudaDeviceSynchronize();
  std::vector<double> cpu, wall;
  for (int rep = 0; rep < 9; ++rep) {
    const int n = 2000;  // a burst: the GPU keeps up (empty kernels), as a launch-bound model
    double c0 = tcpu_us(), w0 = wall_us();
    for (int i = 0; i < n; ++i) empty<<<1, 1, 0, s>>>(i);
    double c1 = tcpu_us(), w1 = wall_us();
    cudaStreamSynchronize(s);
    cpu.push_back((c1 - c0) / n); wall.push_back((w1 - w0) / n);
  }
  std::sort(cpu.begin(), cpu.end()); std::sort(wall.begin(), wall.end());
  printf("%s stream: launch thread-cpu %.3f us, wall %.3f us (medians)\n", argc > 1 ? "own" : "legacy", cpu[4], wall[4]);
}

// A CUDA program for the fake driver's several GPUs (FAKE_CUDA_DEVICES), run
// under the interposer by multi_device_cuda_test: on the GPU with the given
// ordinal (as this process's CUDA_VISIBLE_DEVICES numbers them), it launches
// 1 ms kernels on one stream, one at a time, until killed or `seconds` pass.
//   multi_device_cuda_prog ORDINAL SECONDS PROGRESS_FILE
// Prints "ordinal N uuid <16 bytes>" once its stream has run a kernel, and
// writes the number of completed kernels to PROGRESS_FILE every 5 ms.
#include <cuda.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fake_kernel.h"

namespace {

bool check(CUresult r, const char* what) {
  if (r == CUDA_SUCCESS) return true;
  std::fprintf(stderr, "multi_device_cuda_prog: %s failed: %d\n", what, static_cast<int>(r));
  return false;
}

void write_progress(const char* path, unsigned long long n) {
  const std::string tmp = std::string(path) + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return;
  std::fprintf(f, "%llu\n", n);
  std::fclose(f);
  std::rename(tmp.c_str(), path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: multi_device_cuda_prog ORDINAL SECONDS PROGRESS_FILE\n");
    return 2;
  }
  const int ordinal = std::atoi(argv[1]);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[2]));
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
  CUstream s = nullptr;
  if (!check(cuInit(0), "cuInit") || !check(cuDeviceGet(&dev, ordinal), "cuDeviceGet") ||
      !check(cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain") || !check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent") ||
      !check(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), "cuStreamCreate")) {
    return 1;
  }
  CUuuid uuid{};
  if (!check(cuDeviceGetUuid_v2(&uuid, dev), "cuDeviceGetUuid_v2")) return 1;
  unsigned us = 1000;
  void* params[] = {&us};
  unsigned long long done = 0;
  auto last_write = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < end) {
    if (!check(cuLaunchKernel(fake_kernel_sleep(), 1, 1, 1, 1, 1, 1, 0, s, params, nullptr), "cuLaunchKernel") ||
        !check(cuStreamSynchronize(s), "cuStreamSynchronize")) {
      return 1;
    }
    if (++done == 1) {
      std::printf("ordinal %d uuid %.16s\n", ordinal, reinterpret_cast<const char*>(uuid.bytes));
      std::fflush(stdout);
    }
    if (std::chrono::steady_clock::now() - last_write > std::chrono::milliseconds(5)) {
      write_progress(argv[3], done);
      last_write = std::chrono::steady_clock::now();
    }
  }
  return 0;
}

// A small program that uses the driver API like a program linked with
// -lcuda: interpose_process_test runs it under various environments
// (XSCHED_REAL_LIBCUDA, XSCHED_TRACE, LD_PRELOAD) and reads what it prints.
//   interpose_probe                   a few calls, one summary line on stdout
//   interpose_probe threads N M       N threads make M cuGetProcAddress_v2 calls each
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  // Whether the libcuda.so.1 this program got is the interposer.
  const int interposer = dlsym(RTLD_DEFAULT, "xsched_interposer_abi") != nullptr;

  if (argc == 4 && std::strcmp(argv[1], "threads") == 0) {
    const int threads = std::atoi(argv[2]);
    const int calls = std::atoi(argv[3]);
    std::vector<std::thread> pool;
    std::vector<int> ok(static_cast<size_t>(threads), 0);
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([t, calls, &ok] {
        for (int i = 0; i < calls; ++i) {
          void* p = nullptr;
          CUdriverProcAddressQueryResult st;
          if (cuGetProcAddress_v2("cuDeviceGetCount", &p, 12000, 0, &st) == CUDA_SUCCESS) ++ok[static_cast<size_t>(t)];
        }
      });
    }
    int total = 0;
    for (int t = 0; t < threads; ++t) {
      pool[static_cast<size_t>(t)].join();
      total += ok[static_cast<size_t>(t)];
    }
    std::printf("probe interposer=%d threads=%d ok=%d\n", interposer, threads, total);
    return 0;
  }

  int count = -1;
  const CUresult rc = cuDeviceGetCount(&count);  // a forwarded call
  void* p = nullptr;
  CUdriverProcAddressQueryResult st;
  const CUresult g1 = cuGetProcAddress_v2("cuDeviceGetCount", &p, 12000, 0, &st);
  const CUresult g2 = cuGetProcAddress_v2("cuDeviceGetCount", &p, 12000, 0, &st);
  const CUresult g3 = cuGetProcAddress("cuDriverGetVersion", &p, 11030, 0);
  const CUresult g4 = cuGetProcAddress_v2("cuNoSuchCall", &p, 12000, 0, &st);
  std::printf("probe interposer=%d count=%d/%d gpa=%d,%d,%d,%d\n", interposer, rc, count, g1, g2, g3, g4);
  return 0;
}

// A program for metrics_file_test: on a CPU reference device, a queue at
// priority 0 and one at priority 10 run LOW and HIGH short kernels; then the
// program holds the low queue itself (xs_queue_suspend) and waits until the
// file STOP exists before it cleans up and exits; with STOP "-" it exits at
// once, its queues still there (the file's write at exit shows them). It
// prints "metrics thread: yes" or "no" (whether an xsched-metrics thread
// runs) and "held" once the low queue is held. Run with XSCHED_METRICS_FILE.
//
//   metrics_file_prog LOW HIGH STOP
#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "c_api_helpers.h"
#include "xsched/xsched.h"

namespace {

bool metrics_thread_runs() {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = readdir(d)) {
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string comm;
    if (std::getline(f, comm) && comm == "xsched-metrics") found = true;
  }
  closedir(d);
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: metrics_file_prog LOW HIGH STOP\n");
    return 2;
  }
  const int n_low = std::atoi(argv[1]), n_high = std::atoi(argv[2]);
  const std::string stop = argv[3];
  xs_host_device_t dev = nullptr;
  xs_host_stream_t s_low = nullptr, s_high = nullptr;
  xs_queue_t low = nullptr, high = nullptr;
  if (xs_host_device_create(1, &dev) != XS_OK || xs_host_stream_create(dev, &s_low) != XS_OK ||
      xs_host_stream_create(dev, &s_high) != XS_OK || xs_queue_create(XS_PLATFORM_HOST, s_low, nullptr, &low) != XS_OK ||
      xs_queue_create(XS_PLATFORM_HOST, s_high, nullptr, &high) != XS_OK || xs_queue_set_priority(high, 10) != XS_OK) {
    std::fprintf(stderr, "metrics_file_prog: setup failed\n");
    return 1;
  }
  const xs_host_kernel_t kernel{100'000, nullptr, nullptr};  // 0.1 ms
  const xs_command_t k = xsched::testing::host_kernel(&kernel);
  for (int i = 0; i < n_low; ++i) {
    if (xs_queue_submit(low, &k, nullptr) != XS_OK) return 1;
  }
  for (int i = 0; i < n_high; ++i) {
    if (xs_queue_submit(high, &k, nullptr) != XS_OK) return 1;
  }
  if (xs_queue_wait_all(high, XS_WAIT_FOREVER) != XS_OK || xs_queue_wait_all(low, XS_WAIT_FOREVER) != XS_OK) return 1;
  std::printf("metrics thread: %s\n", metrics_thread_runs() ? "yes" : "no");
  if (xs_queue_suspend(low, 0) != XS_OK) return 1;
  std::printf("held\n");
  std::fflush(stdout);
  if (stop == "-") return 0;
  for (int i = 0; i < 120'000 && access(stop.c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  xs_queue_resume(low);
  xs_queue_destroy(high);
  xs_queue_destroy(low);
  xs_host_stream_destroy(s_high);
  xs_host_stream_destroy(s_low);
  xs_host_device_destroy(dev);
  return 0;
}

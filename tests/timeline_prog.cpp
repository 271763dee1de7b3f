// A scenario for the timeline test (timeline_check.py): on a CPU reference
// device, a low queue runs 2 ms kernels (400 ms of them) while an urgent queue's requests come
// three times; then a user's suspend and resume of the low queue. Run with
// XSCHED_TIMELINE=FILE; the file is written at exit.
#include <chrono>
#include <cstdio>
#include <thread>

#include "c_api_helpers.h"
#include "xsched/xsched.h"

int main() {
  xs_host_device_t dev = nullptr;
  xs_host_stream_t s_low = nullptr, s_high = nullptr;
  xs_queue_t low = nullptr, high = nullptr;
  if (xs_host_device_create(1, &dev) != XS_OK || xs_host_stream_create(dev, &s_low) != XS_OK ||
      xs_host_stream_create(dev, &s_high) != XS_OK || xs_queue_create(XS_PLATFORM_HOST, s_low, nullptr, &low) != XS_OK ||
      xs_queue_create(XS_PLATFORM_HOST, s_high, nullptr, &high) != XS_OK || xs_queue_set_priority(high, 10) != XS_OK) {
    std::fprintf(stderr, "timeline_prog: setup failed\n");
    return 1;
  }
  const xs_host_kernel_t low_kernel{2'000'000, nullptr, nullptr};
  const xs_host_kernel_t high_kernel{500'000, nullptr, nullptr};
  const xs_command_t k_low = xsched::testing::host_kernel(&low_kernel);
  const xs_command_t k_high = xsched::testing::host_kernel(&high_kernel);
  // 400 ms of low work: it is still running at every request, however late a busy machine wakes this thread.
  for (int i = 0; i < 200; ++i) xs_queue_submit(low, &k_low, nullptr);
  for (int request = 0; request < 3; ++request) {
    std::this_thread::sleep_for(std::chrono::milliseconds(8));
    for (int i = 0; i < 2; ++i) xs_queue_submit(high, &k_high, nullptr);
    if (xs_queue_wait_all(high, XS_WAIT_FOREVER) != XS_OK) return 1;
  }
  // The urgent queue's worker reports it idle after wait_all may return: let
  // the policy's hold end first, so that the user's hold is a span of its own.
  for (int i = 0; i < 2000; ++i) {
    xs_queue_info_t info;
    xs_queue_info_init(&info);
    if (xs_queue_query(low, &info) == XS_OK && info.suspended == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  xs_queue_suspend(low, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  xs_queue_resume(low);
  if (xs_queue_wait_all(low, XS_WAIT_FOREVER) != XS_OK) return 1;
  xs_queue_destroy(high);
  xs_queue_destroy(low);
  xs_host_stream_destroy(s_high);
  xs_host_stream_destroy(s_low);
  xs_host_device_destroy(dev);
  return 0;
}

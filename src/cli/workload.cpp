#include "cli/workload.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "cli/demo_device.h"
#include "cli/steal.h"

namespace xsched::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWarmupRequests = 2;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// Keeps the device busy: submits kernels, never more than `outstanding`
// ahead of the completions. Returns the first error.
xs_result_t run_nonstop(DemoDevice& dev, xs_queue_t q, int64_t kernel_ns, int outstanding,
                        const std::atomic<bool>& stop) {
  dev.enter_thread();
  const std::unique_ptr<KernelCommand> k = dev.kernel(kernel_ns);
  const xs_command_t& cmd = k->command();
  uint64_t id = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    if (xs_result_t r = xs_queue_submit(q, &cmd, &id); r != XS_OK) return r;
    if (id > static_cast<uint64_t>(outstanding)) {
      if (xs_result_t r = xs_queue_wait(q, id - static_cast<uint64_t>(outstanding), XS_WAIT_FOREVER); r != XS_OK) {
        return r;
      }
    }
  }
  return XS_OK;
}

// Submits one request per period and waits for it; latency is measured from
// the request's scheduled arrival, so a late request counts its queueing.
xs_result_t run_periodic(DemoDevice& dev, xs_queue_t q, const HighTask& h, const std::atomic<bool>& stop,
                         std::vector<double>* latencies_ms) {
  dev.enter_thread();
  const std::unique_ptr<KernelCommand> k = dev.kernel(h.kernel_ns);
  const xs_command_t& cmd = k->command();
  const Clock::time_point start = Clock::now();
  for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
    const Clock::time_point arrival = start + std::chrono::nanoseconds(h.period_ns) * i;
    std::this_thread::sleep_until(arrival);
    if (stop.load(std::memory_order_relaxed)) break;
    uint64_t last = 0;
    for (int j = 0; j < h.kernels; ++j) {
      if (xs_result_t r = xs_queue_submit(q, &cmd, &last); r != XS_OK) return r;
    }
    if (xs_result_t r = xs_queue_wait(q, last, XS_WAIT_FOREVER); r != XS_OK) return r;
    if (i >= kWarmupRequests) latencies_ms->push_back(ms_since(arrival));
  }
  return XS_OK;
}

xs_result_t open_lane(DemoDevice& dev, const Scenario& s, int32_t priority, uint32_t share, xs_queue_t* q) {
  xs_queue_config_t cfg;
  xs_queue_config_init(&cfg);
  cfg.level = s.level;
  cfg.window = s.window;
  if (xs_result_t r = dev.open_queue(cfg, q); r != XS_OK) return r;
  const xs_hints_t hints{priority, share, 0, 0};
  return xs_queue_set_hints(*q, &hints);
}

uint64_t completed(xs_queue_t q) {
  xs_queue_info_t info;
  xs_queue_info_init(&info);
  return xs_queue_query(q, &info) == XS_OK ? info.completed : 0;
}

}  // namespace

double ScenarioResult::high_busy_fraction() const {
  if (elapsed_s <= 0 || high_spec == nullptr) return 0;
  return static_cast<double>(high_kernels) * static_cast<double>(high_spec->kernel_ns) / 1e9 / elapsed_s;
}

double ScenarioResult::low_busy_fraction() const {
  if (elapsed_s <= 0 || low_spec == nullptr) return 0;
  return static_cast<double>(low_kernels) * static_cast<double>(low_spec->kernel_ns) / 1e9 / elapsed_s;
}

double ScenarioResult::low_use_of_idle() const {
  const double idle = 1.0 - high_busy_fraction();
  return idle > 0 ? low_busy_fraction() / idle : 0;
}

ScenarioResult run_scenario(const Scenario& s, const HighTask& high, const LowTask& low, double seconds) {
  const std::unique_ptr<DemoDevice> dev = host_demo_device();
  return run_scenario(*dev, s, high, low, seconds);
}

ScenarioResult run_scenario(DemoDevice& dev, const Scenario& s, const HighTask& high, const LowTask& low,
                            double seconds) {
  ScenarioResult res;
  res.high_spec = &high;
  res.low_spec = &low;
  auto fail = [&](xs_result_t r) {
    if (res.error == XS_OK) res.error = r;
  };
  if (xs_result_t r = xs_set_policy(s.policy); r != XS_OK) fail(r);
  xs_queue_t hi = nullptr, lo = nullptr;
  if (s.high) {
    if (xs_result_t r = open_lane(dev, s, high.priority, high.share, &hi); r != XS_OK) fail(r);
  }
  if (s.low) {
    if (xs_result_t r = open_lane(dev, s, low.priority, low.share, &lo); r != XS_OK) fail(r);
  }

  if (res.error == XS_OK) {
    std::atomic<bool> stop{false};
    xs_result_t hi_result = XS_OK, lo_result = XS_OK;
    std::thread lo_thread, hi_thread;
    if (s.low) {
      lo_thread = std::thread([&] { lo_result = run_nonstop(dev, lo, low.kernel_ns, low.outstanding, stop); });
    }
    if (s.high) {
      hi_thread = std::thread([&] {
        hi_result = s.high_nonstop ? run_nonstop(dev, hi, high.kernel_ns, low.outstanding, stop)
                                   : run_periodic(dev, hi, high, stop, &res.high_latency_ms);
      });
    }
    // Throughput is counted over a window that starts after the warm-up.
    const auto warmup = std::chrono::nanoseconds(high.period_ns * kWarmupRequests);
    std::this_thread::sleep_for(warmup);
    const uint64_t hi0 = s.high ? completed(hi) : 0;
    const uint64_t lo0 = s.low ? completed(lo) : 0;
    const Clock::time_point t0 = Clock::now();
    const StealMeter steal;
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    res.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
    res.steal = steal.fraction();
    res.high_kernels = s.high ? completed(hi) - hi0 : 0;
    res.low_kernels = s.low ? completed(lo) - lo0 : 0;
    stop = true;
    if (lo_thread.joinable()) lo_thread.join();
    if (hi_thread.joinable()) hi_thread.join();
    fail(hi_result);
    fail(lo_result);
  }
  if (hi != nullptr) dev.close_queue(hi);
  if (lo != nullptr) dev.close_queue(lo);
  return res;
}

}  // namespace xsched::cli

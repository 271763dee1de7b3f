#include "cli/workload.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "cli/steal.h"

namespace xsched::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWarmupRequests = 2;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

xs_command_t kernel_command(const xs_host_kernel_t& k) {
  xs_command_t c{};
  c.kind = XS_CMD_KERNEL;
  c.est_ns = static_cast<int64_t>(k.duration_ns);
  c.u.kernel.desc = &k;
  c.u.kernel.desc_size = sizeof(k);
  return c;
}

// Keeps the device busy: submits kernels, never more than `outstanding`
// ahead of the completions. Returns the first error.
xs_result_t run_nonstop(xs_queue_t q, int64_t kernel_ns, int outstanding, const std::atomic<bool>& stop) {
  const xs_host_kernel_t k{static_cast<uint64_t>(kernel_ns), nullptr, nullptr};
  const xs_command_t cmd = kernel_command(k);
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
xs_result_t run_periodic(xs_queue_t q, const HighTask& h, const std::atomic<bool>& stop,
                         std::vector<double>* latencies_ms) {
  const xs_host_kernel_t k{static_cast<uint64_t>(h.kernel_ns), nullptr, nullptr};
  const xs_command_t cmd = kernel_command(k);
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

struct Lane {
  xs_host_stream_t stream = nullptr;
  xs_queue_t queue = nullptr;
};

xs_result_t open_lane(xs_host_device_t dev, const Scenario& s, int32_t priority, uint32_t share, Lane* lane) {
  if (xs_result_t r = xs_host_stream_create(dev, &lane->stream); r != XS_OK) return r;
  xs_queue_config_t cfg;
  xs_queue_config_init(&cfg);
  cfg.level = s.level;
  cfg.window = s.window;
  if (xs_result_t r = xs_queue_create(XS_PLATFORM_HOST, lane->stream, &cfg, &lane->queue); r != XS_OK) return r;
  const xs_hints_t hints{priority, share, 0, 0};
  return xs_queue_set_hints(lane->queue, &hints);
}

void close_lane(Lane& lane) {
  if (lane.queue != nullptr) xs_queue_destroy(lane.queue);
  if (lane.stream != nullptr) xs_host_stream_destroy(lane.stream);
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
  ScenarioResult res;
  res.high_spec = &high;
  res.low_spec = &low;
  auto fail = [&](xs_result_t r) {
    if (res.error == XS_OK) res.error = r;
  };
  xs_host_device_t dev = nullptr;
  if (xs_result_t r = xs_host_device_create(1, &dev); r != XS_OK) {
    fail(r);
    return res;
  }
  if (xs_result_t r = xs_set_policy(s.policy); r != XS_OK) fail(r);
  Lane hi, lo;
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
    if (s.low) lo_thread = std::thread([&] { lo_result = run_nonstop(lo.queue, low.kernel_ns, low.outstanding, stop); });
    if (s.high) {
      hi_thread = std::thread([&] {
        hi_result = s.high_nonstop ? run_nonstop(hi.queue, high.kernel_ns, low.outstanding, stop)
                                   : run_periodic(hi.queue, high, stop, &res.high_latency_ms);
      });
    }
    // Throughput is counted over a window that starts after the warm-up.
    const auto warmup = std::chrono::nanoseconds(high.period_ns * kWarmupRequests);
    std::this_thread::sleep_for(warmup);
    const uint64_t hi0 = s.high ? completed(hi.queue) : 0;
    const uint64_t lo0 = s.low ? completed(lo.queue) : 0;
    const Clock::time_point t0 = Clock::now();
    const StealMeter steal;
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    res.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
    res.steal = steal.fraction();
    res.high_kernels = s.high ? completed(hi.queue) - hi0 : 0;
    res.low_kernels = s.low ? completed(lo.queue) - lo0 : 0;
    stop = true;
    if (lo_thread.joinable()) lo_thread.join();
    if (hi_thread.joinable()) hi_thread.join();
    fail(hi_result);
    fail(lo_result);
  }
  close_lane(hi);
  close_lane(lo);
  xs_host_device_destroy(dev);
  return res;
}

}  // namespace xsched::cli

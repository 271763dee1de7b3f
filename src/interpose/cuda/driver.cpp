#include "interpose/cuda/driver.h"

#include <mutex>
#include <new>

#include "core/log.h"
#include "interpose/cuda/real_driver.h"

namespace xsched::interpose {
namespace detail {
constinit std::atomic<const cuda::Driver*> g_entry_points{nullptr};
constinit std::atomic<const cuda::Driver*> g_queue_driver{nullptr};
}  // namespace detail

namespace {

constinit std::mutex g_load_mutex;
constinit std::atomic<bool> g_settled{false};  // loaded, or known to be impossible
constinit const char* g_missing = nullptr;     // the first entry point queues need that the driver lacks

// Never freed: threads and exit handlers may call in until the very end.
void load_once() {
  auto* d = new (std::nothrow) cuda::Driver;
  if (d == nullptr) {
    log(LogLevel::kError, "out of memory loading the CUDA driver's entry points: calls fail");
    return;
  }
  g_missing = d->load(&real_symbol);
  if (g_missing == nullptr) detail::g_queue_driver.store(d, std::memory_order_release);
  detail::g_entry_points.store(d, std::memory_order_release);
}

}  // namespace

const cuda::Driver* detail::load_entry_points() noexcept {
  if (g_settled.load(std::memory_order_acquire)) return g_entry_points.load(std::memory_order_acquire);
  // Either there is none (real_driver said why), or the search is running
  // and a candidate's constructor called in: then nothing is remembered.
  if (real_driver() == nullptr) {
    if (real_driver_searched()) g_settled.store(true, std::memory_order_release);
    return nullptr;
  }
  std::lock_guard lk(g_load_mutex);
  if (!g_settled.load(std::memory_order_relaxed)) {
    load_once();
    g_settled.store(true, std::memory_order_release);
  }
  return g_entry_points.load(std::memory_order_acquire);
}

// Said once, by the first call that wanted a queue.
const cuda::Driver* detail::no_queue_driver() noexcept {
  static std::atomic<bool> said{false};
  const cuda::Driver* d = load_entry_points();
  if (!real_driver_searched() || said.exchange(true)) return nullptr;
  if (d == nullptr) {
    log(LogLevel::kError, "no CUDA driver: %s", real_driver_error());
  } else if (g_missing != nullptr) {
    log(LogLevel::kError, "the CUDA driver at %s lacks %s: calls pass through unscheduled", real_driver_path(), g_missing);
  }
  return nullptr;
}

}  // namespace xsched::interpose

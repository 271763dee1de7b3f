// The real driver's entry points as one table (cuda::Driver), loaded once
// from the library real_driver() found: the interposer's one way to the
// driver, for the calls it forwards and for its queues. (The trampolines of
// the calls it does not wrap resolve their own targets: export_table.h.)
#pragma once

#include <atomic>

#include "hal/cuda/cuda_driver.h"

namespace xsched::interpose {
namespace detail {
extern std::atomic<const cuda::Driver*> g_entry_points;  // set once loaded
extern std::atomic<const cuda::Driver*> g_queue_driver;  // set once loaded, if complete
// Loads the table on first use; nullptr while there is no driver (or while
// the driver search runs: a candidate's constructor that calls in gets none).
const cuda::Driver* load_entry_points() noexcept;
// driver()'s slow path: the table once loaded complete, else nullptr (and
// why, said once).
const cuda::Driver* no_queue_driver() noexcept;
}  // namespace detail

// Every entry point of the driver (null where it lacks one); nullptr when
// there is no driver. For calls that only forward.
inline const cuda::Driver* driver_entry_points() {
  if (const cuda::Driver* d = detail::g_entry_points.load(std::memory_order_acquire)) [[likely]] return d;
  return detail::load_entry_points();
}

// The table if it has every entry point the queues need
// (XS_CUDA_DRIVER_REQUIRED), else nullptr: the interposer then passes calls
// through unscheduled, and says why once.
inline const cuda::Driver* driver() {
  if (const cuda::Driver* d = detail::g_queue_driver.load(std::memory_order_acquire)) [[likely]] return d;
  detail::load_entry_points();
  if (const cuda::Driver* d = detail::g_queue_driver.load(std::memory_order_acquire)) return d;
  return detail::no_queue_driver();
}

// The driver's entry point `entry` called with args, or
// CUDA_ERROR_NOT_INITIALIZED when there is no driver or it lacks that call.
template <class Fn, class... Args>
CUresult forward(Fn cuda::Driver::*entry, Args... args) {
  const cuda::Driver* d = driver_entry_points();
  if (d == nullptr || d->*entry == nullptr) return CUDA_ERROR_NOT_INITIALIZED;
  return (d->*entry)(args...);
}

}  // namespace xsched::interpose

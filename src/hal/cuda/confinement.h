// A hardware queue's kernels on a partition of the device (partition.h)
// while a more urgent queue may come: HwQueueOps::confine.
//
// A confined kernel runs on a stream of ours in the partition's green
// context, bracketed by two events so that the application's stream still
// holds everything in order: our stream waits for what the application's
// stream had before the kernel (its gate included), and the application's
// stream waits for the kernel. Whatever waits for the application's stream
// (a synchronisation, a query, the legacy stream's implicit order, a memory
// free, the next command) therefore waits for the kernel too, and a closed
// gate holds confined kernels as it holds the others. Only kernels move:
// copies, memsets, event records and waits, host functions stay on the
// application's stream.
#pragma once

#include <atomic>
#include <cstdint>

#include "hal/cuda/call.h"
#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

struct Partition;

class Confinement {
 public:
  // reserve_sms 0: never confines.
  Confinement(const Driver& d, CUcontext ctx, CUstream stream, unsigned reserve_sms)
      : d_(d), ctx_(ctx), stream_(stream), reserve_sms_(reserve_sms) {}
  Confinement(const Confinement&) = delete;
  Confinement& operator=(const Confinement&) = delete;

  bool possible() const { return reserve_sms_ > 0; }
  // Kernels launched before until_ns (steady clock) are confined; 0: none. Any thread.
  void set_until(int64_t until_ns) { until_ns_.store(until_ns, std::memory_order_relaxed); }

  // Issues kernel call c confined if the queue is confined now, and returns
  // true with the driver's result in *r; false: the caller issues it on the
  // application's stream. Serialised by the queue (its launch lock), in the
  // stream's context or the caller's own. Inline: most queues never
  // confine, and every kernel launch asks.
  bool try_issue(const Call& c, CUresult* r) { return possible() && try_issue_confined(c, r); }

  // Kernels that ran confined so far (for tests and the trace).
  uint64_t confined_launches() const { return launches_.load(std::memory_order_relaxed); }

  // Destroys our stream and events; called once, at the queue's release.
  void release();

 private:
  bool try_issue_confined(const Call& c, CUresult* r);
  bool ready_to_confine();
  CUresult open();

  const Driver& d_;
  const CUcontext ctx_;
  const CUstream stream_;
  const unsigned reserve_sms_;
  std::atomic<int64_t> until_ns_{0};
  std::atomic<uint64_t> launches_{0};
  // Under the queue's launch lock:
  const Partition* partition_ = nullptr;
  bool failed_ = false;  // the partition or our stream could not be made, or ordering failed: never again
  bool refused_said_ = false;
  CUstream confined_ = nullptr;
  CUevent fork_ = nullptr;  // recorded on the application's stream, waited for by ours
  CUevent join_ = nullptr;  // recorded on ours, waited for by the application's stream
};

}  // namespace xsched::cuda

// The HIP interposer's streams and their queues: an XQueue over the HIP
// hardware queue (hal/hip) for each stream a wrapper schedules, made at the
// stream's first scheduled call. A stream's device is the one current when
// it was created (noted by the creation wrappers), never the device current
// in the thread that uses it: a stream made by one thread and used by
// another keeps its device (the field report's error 709). The null stream
// is one per device.
#pragma once

#include <memory>
#include <vector>

#include "core/xqueue.h"
#include "hal/hip/hip_api.h"

namespace xsched::interpose::hip {

struct StreamQueue {
  hipStream_t stream = nullptr;
  int device = 0;
  bool blocking = true;  // ordered with the null stream (made without hipStreamNonBlocking, or the null stream itself)
  std::shared_ptr<XQueue> xq;
};

// The queue of s (0: the current device's null stream); null when the
// stream goes unscheduled (no runtime, or no queue could be made).
std::shared_ptr<StreamQueue> stream_queue(hipStream_t s);
// A stream made by the program: its device, flags and HIP priority.
void note_stream(hipStream_t s, int device, unsigned flags, int priority);
// Before an operation on sq's stream: the null stream and the blocking
// streams of a device are ordered with each other by the runtime (the
// legacy default stream's rule), so what the others of them hold is
// launched first (an operation on the null stream launches what every
// blocking stream holds; one on a blocking stream, what the null stream holds).
void order_implicitly(const StreamQueue& sq);
// The program destroys s: its queue leaves the scheduler (null: it had none).
std::shared_ptr<StreamQueue> forget_stream(hipStream_t s);
// The queues of one device.
std::vector<std::shared_ptr<StreamQueue>> device_queues(int device);

}  // namespace xsched::interpose::hip

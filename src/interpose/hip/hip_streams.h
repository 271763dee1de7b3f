// The HIP interposer's streams and their queues: an XQueue over the HIP
// hardware queue (hal/hip) for each stream a wrapper schedules, made at the
// stream's first scheduled call. A stream's device is the one current when
// it was created (noted by the creation wrappers), never the device current
// in the thread that uses it: a stream made by one thread and used by
// another keeps its device (the field report's error 709). The null stream
// is one per device.
//
// Every stream operation looks its queue up and orders it with the others
// of its device: both without a lock on the common path (the streams are a
// StreamTable, interpose/common/stream_table.h; each device keeps its null
// stream's queue and its blocking streams' queues at hand).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/xqueue.h"
#include "hal/hip/hip_api.h"

namespace xsched::interpose::hip {

struct DeviceStreams;  // a device's null stream and blocking streams (hip_streams.cpp)

struct StreamQueue {
  hipStream_t stream = nullptr;
  int device = 0;
  int priority = 0;      // HIP's: lower runs first
  bool blocking = true;  // ordered with the null stream (made without hipStreamNonBlocking, or the null stream itself)
  DeviceStreams* on = nullptr;
  // Made at the stream's first scheduled call; set once, before `state`
  // says kScheduled, and kept until the queue goes.
  std::shared_ptr<XQueue> xq;

  enum State : uint8_t { kFresh, kScheduled, kUnscheduled };
  std::atomic<uint8_t> state{kFresh};  // kUnscheduled: no queue could be made, or the stream went first
  std::mutex making;                   // the change from kFresh, and the stream's going
};

// The queue of s (0: the current device's null stream); null when the
// stream goes unscheduled (no runtime, a stream not made through the
// interposer, or no queue could be made).
std::shared_ptr<StreamQueue> stream_queue(hipStream_t s);
// The queue of device's null stream, as stream_queue(0) on that device.
std::shared_ptr<StreamQueue> null_stream_queue(int device);
// Whether s (not 0) was made through the interposer and not destroyed.
bool stream_noted(hipStream_t s);
// A stream made by the program: its device, flags and HIP priority.
void note_stream(hipStream_t s, int device, unsigned flags, int priority);
// Before an operation on sq's stream: the null stream and the blocking
// streams of a device are ordered with each other by the runtime (the
// legacy default stream's rule), so what the others of them hold is
// launched first (an operation on the null stream launches what every
// blocking stream holds; one on a blocking stream, what the null stream holds).
void order_implicitly(const StreamQueue& sq);
// Before an operation on the calling thread's per-thread default stream,
// which the interposer does not schedule: the runtime orders it after the
// null stream's earlier work, so what the current device's null stream
// holds is launched first.
void order_per_thread();
// After sq's queue took a command: if a blocking stream's queue holds it,
// the device's next null-stream operation must launch it first.
void note_persisted(const StreamQueue& sq);
// The program destroys s: its queue leaves the scheduler (null: it had none).
std::shared_ptr<StreamQueue> forget_stream(hipStream_t s);
// The queues of one device (-1: of every device) whose streams exist.
std::vector<std::shared_ptr<StreamQueue>> device_queues(int device);
// The queue whose XQueue has this id, among those; null if none.
std::shared_ptr<StreamQueue> queue_by_id(uint64_t id);

}  // namespace xsched::interpose::hip

#include "interpose/hip/hip_streams.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/config.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "hal/hip/hip_queue.h"
#include "interpose/common/stream_table.h"
#include "interpose/hip/runtime.h"
#include "sched/local_scheduler.h"

namespace xsched::interpose::hip {

using QueueList = std::vector<std::shared_ptr<StreamQueue>>;

// What implicit ordering needs of a device, at hand: its null stream's
// queue, and its blocking streams' queues as a list replaced whole when one
// is made or goes, so a null-stream operation scans a list no one changes
// under it. Immortal: threads may hold it.
struct DeviceStreams {
  explicit DeviceStreams(int d) : device(d) {
    null_stream->device = d;
    null_stream->on = this;
  }
  const int device;
  DeviceStreams* next = nullptr;  // the next device's, for the list of devices
  const std::shared_ptr<StreamQueue> null_stream = std::make_shared<StreamQueue>();
  // Some blocking stream's queue may hold commands: the next null-stream
  // operation must launch them first. Cleared by the scan that follows.
  std::atomic<bool> blocking_persisted{false};

  std::shared_ptr<const QueueList> blocking_now() const {
    std::lock_guard lk(mu);
    return blocking;
  }
  void add_blocking(const std::shared_ptr<StreamQueue>& q) {
    std::lock_guard lk(mu);
    auto next_list = std::make_shared<QueueList>(*blocking);
    next_list->push_back(q);
    blocking = std::move(next_list);
  }
  void drop_blocking(const StreamQueue& q) {
    std::lock_guard lk(mu);
    auto next_list = std::make_shared<QueueList>(*blocking);
    std::erase_if(*next_list, [&](const auto& p) { return p.get() == &q; });
    blocking = std::move(next_list);
  }

 private:
  // Held only to read or replace the pointer: the list itself is never
  // changed, and the scan runs without it.
  mutable std::mutex mu;
  std::shared_ptr<const QueueList> blocking = std::make_shared<const QueueList>();
};

namespace {

struct Registry {
  StreamTable<hipStream_t, StreamQueue> streams;  // made through the interposer
  std::atomic<DeviceStreams*> devices{nullptr};  // a list, newest first; never shrinks
  std::mutex devices_mu;                          // adding to it
};

Registry& registry() {
  static Registry* r = new Registry;  // immortal: streams are used while the process exits
  return *r;
}

DeviceStreams* find_device(int device) {
  for (DeviceStreams* d = registry().devices.load(std::memory_order_acquire); d != nullptr; d = d->next) {
    if (d->device == device) return d;
  }
  return nullptr;
}

DeviceStreams& device_streams(int device) {
  if (DeviceStreams* d = find_device(device)) return *d;
  Registry& r = registry();
  std::lock_guard lk(r.devices_mu);
  if (DeviceStreams* d = find_device(device)) return *d;  // another thread added it first
  auto* made = new DeviceStreams(device);
  made->next = r.devices.load(std::memory_order_relaxed);
  r.devices.store(made, std::memory_order_release);
  return *made;
}

int current_device(const xsched::hip::Runtime& rt) {
  int d = 0;
  return rt.hipGetDevice(&d) == hipSuccess ? d : 0;
}

// Once per device, where announcements are on (as the CUDA interposer's).
void announce(const XQueueOptions& o) {
  static const bool on = env_switch("XSCHED_ANNOUNCE");
  static std::mutex mu;
  static std::vector<int> seen;
  if (!on) return;
  std::lock_guard lk(mu);
  if (std::find(seen.begin(), seen.end(), o.device) != seen.end()) return;
  seen.push_back(o.device);
  std::fprintf(stderr, "xsched: pid %d: HIP device %d, %s, %s (its own scheduling domain), queues at level %d\n",
               static_cast<int>(getpid()), static_cast<int>(o.device),
               o.device_name[0] != '\0' ? o.device_name.data() : "(no name)", o.device_id.text("hip").c_str(),
               static_cast<int>(o.level));
}

// sq.xq, in the scheduler; false when no queue could be made.
bool make_xqueue(StreamQueue& sq) {
  const xsched::hip::Runtime* rt = runtime();
  if (rt == nullptr) return false;
  const Config& cfg = process_config();
  HwQueue hw;
  if (xsched::hip::make_hw_queue({rt, sq.device, sq.stream, cfg.level != XS_LEVEL_BLOCK}, &hw) != XS_OK) return false;
  const xs_level_t supported = max_level(hw);
  XQueueOptions o;
  o.level = cfg.level == XS_LEVEL_AUTO ? supported : std::min(cfg.level, supported);
  o.window = o.level >= XS_LEVEL_DEACTIVATE ? cfg.gated_window : cfg.window;
  o.window_ns = cfg.window_ns;
  o.backpressure = cfg.backpressure < 0 ? 0u : static_cast<uint32_t>(cfg.backpressure);
  o.request_grace_ns = cfg.request_grace_ns;
  o.hints = xs_hints_t{clamp_priority(int64_t{cfg.priority} - sq.priority), cfg.share, 0, cfg.deadline_ns};
  o.device = sq.device;
  hipUUID uuid{};
  if (rt->hipDeviceGetUuid != nullptr && rt->hipDeviceGetUuid(&uuid, sq.device) == hipSuccess) {
    std::memcpy(o.device_id.uuid.data(), uuid.bytes, o.device_id.uuid.size());
  }
  char name[sizeof o.device_name] = {};
  if (rt->hipDeviceGetName != nullptr && rt->hipDeviceGetName(name, sizeof name - 1, sq.device) == hipSuccess) {
    set_device_name(&o.device_name, name);
  }
  if (XQueue::create(hw, o, &sq.xq) != XS_OK) return false;  // create released hw
  process_scheduler().add(*sq.xq);
  announce(o);
  log(LogLevel::kInfo, "queue %llu: HIP stream %p of device %d, HIP priority %d -> priority %d, level %d",
      static_cast<unsigned long long>(sq.xq->id()), static_cast<void*>(sq.stream), sq.device, sq.priority,
      o.hints.priority, static_cast<int>(sq.xq->level()));
  return true;
}

// sq if its stream is scheduled, making its queue at the first call.
std::shared_ptr<StreamQueue> scheduled(std::shared_ptr<StreamQueue> sq) {
  uint8_t state = sq->state.load(std::memory_order_acquire);
  if (state == StreamQueue::kFresh) {
    std::lock_guard lk(sq->making);
    state = sq->state.load(std::memory_order_relaxed);
    if (state == StreamQueue::kFresh) {
      state = make_xqueue(*sq) ? StreamQueue::kScheduled : StreamQueue::kUnscheduled;
      if (state == StreamQueue::kScheduled && sq->blocking && sq->stream != nullptr) sq->on->add_blocking(sq);
      sq->state.store(state, std::memory_order_release);
    }
  }
  return state == StreamQueue::kScheduled ? std::move(sq) : nullptr;
}

// sq's stream goes: its queue, if it has one, leaves the scheduler and the
// device's list; none is made for it any more. Whether it had one.
bool retire(StreamQueue& sq) {
  std::lock_guard lk(sq.making);
  if (sq.state.load(std::memory_order_relaxed) != StreamQueue::kScheduled) {
    sq.state.store(StreamQueue::kUnscheduled, std::memory_order_release);
    return false;
  }
  if (sq.blocking) sq.on->drop_blocking(sq);
  process_scheduler().remove(*sq.xq);
  return true;
}

}  // namespace

std::shared_ptr<StreamQueue> stream_queue(hipStream_t s) {
  const xsched::hip::Runtime* rt = runtime();
  if (rt == nullptr) return nullptr;
  if (s == nullptr) return scheduled(device_streams(current_device(*rt)).null_stream);
  auto sq = registry().streams.get(s);
  return sq != nullptr ? scheduled(std::move(sq)) : nullptr;  // null: not made through the interposer, left alone
}

std::shared_ptr<StreamQueue> null_stream_queue(int device) {
  if (runtime() == nullptr) return nullptr;
  return scheduled(device_streams(device).null_stream);
}

bool stream_noted(hipStream_t s) { return registry().streams.find(s) != nullptr; }

void note_stream(hipStream_t s, int device, unsigned flags, int priority) {
  auto sq = std::make_shared<StreamQueue>();
  sq->stream = s;
  sq->device = device;
  sq->priority = priority;
  sq->blocking = (flags & hipStreamNonBlocking) == 0;
  sq->on = &device_streams(device);
  // A handle the runtime reused without the program destroying its stream
  // through us (nothing else does): the old stream's queue goes as at hipStreamDestroy.
  if (auto old = registry().streams.replace(s, std::move(sq)); old != nullptr) retire(*old);
}

void order_implicitly(const StreamQueue& sq) {
  if (!sq.blocking) return;
  DeviceStreams& d = *sq.on;
  if (sq.stream != nullptr) {
    const StreamQueue& null_stream = *d.null_stream;
    if (null_stream.state.load(std::memory_order_acquire) != StreamQueue::kScheduled) return;
    if (null_stream.xq->has_unlaunched()) null_stream.xq->flush();
    return;
  }
  // A plain load first: the flag is almost always clear, and an exchange on
  // every null-stream operation would bounce its cache line between threads.
  if (!d.blocking_persisted.load(std::memory_order_acquire)) return;
  if (!d.blocking_persisted.exchange(false, std::memory_order_acq_rel)) return;
  const std::shared_ptr<const QueueList> blocking = d.blocking_now();  // kept while the scan runs
  for (const auto& q : *blocking) {
    if (q->xq->has_unlaunched()) q->xq->flush();
  }
}

void order_per_thread() {
  const xsched::hip::Runtime* rt = runtime();
  if (rt == nullptr) return;
  DeviceStreams* d = find_device(current_device(*rt));
  if (d == nullptr) return;  // no null stream was scheduled on it
  const StreamQueue& null_stream = *d->null_stream;
  if (null_stream.state.load(std::memory_order_acquire) != StreamQueue::kScheduled) return;
  if (null_stream.xq->has_unlaunched()) null_stream.xq->flush();
}

void note_persisted(const StreamQueue& sq) {
  if (sq.blocking && sq.stream != nullptr && sq.xq->has_unlaunched()) {
    sq.on->blocking_persisted.store(true, std::memory_order_release);
  }
}

std::shared_ptr<StreamQueue> forget_stream(hipStream_t s) {
  auto sq = registry().streams.erase(s);
  return sq != nullptr && retire(*sq) ? sq : nullptr;
}

std::vector<std::shared_ptr<StreamQueue>> device_queues(int device) {
  std::vector<std::shared_ptr<StreamQueue>> out;
  auto take = [&](const std::shared_ptr<StreamQueue>& sq) {
    if ((device < 0 || sq->device == device) && sq->state.load(std::memory_order_acquire) == StreamQueue::kScheduled) {
      out.push_back(sq);
    }
  };
  registry().streams.for_each(take);  // a destroyed stream left it before its queue retired
  for (DeviceStreams* d = registry().devices.load(std::memory_order_acquire); d != nullptr; d = d->next) {
    take(d->null_stream);
  }
  return out;
}

std::shared_ptr<StreamQueue> queue_by_id(uint64_t id) {
  for (auto& sq : device_queues(-1)) {
    if (sq->xq->id() == id) return std::move(sq);
  }
  return nullptr;
}

}  // namespace xsched::interpose::hip

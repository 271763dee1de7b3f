#include "interpose/hip/hip_streams.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

#include "core/config.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "hal/hip/hip_queue.h"
#include "interpose/hip/runtime.h"
#include "sched/local_scheduler.h"

namespace xsched::interpose::hip {
namespace {

struct Known {
  int device = 0;
  int priority = 0;  // HIP's: lower runs first
  bool blocking = true;
  std::shared_ptr<StreamQueue> queue;
  bool tried = false;  // a queue was tried for it (made or not)
};

struct Registry {
  std::mutex mu;
  std::map<hipStream_t, Known> streams;  // made through the interposer
  std::map<int, Known> null_streams;     // per device
};

Registry& registry() {
  static Registry* r = new Registry;  // immortal: streams are used while the process exits
  return *r;
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

std::shared_ptr<StreamQueue> make_queue(hipStream_t s, const Known& k) {
  const xsched::hip::Runtime* rt = runtime();
  if (rt == nullptr) return nullptr;
  const Config& cfg = process_config();
  HwQueue hw;
  if (xsched::hip::make_hw_queue({rt, k.device, s, cfg.level != XS_LEVEL_BLOCK}, &hw) != XS_OK) return nullptr;
  const xs_level_t supported = max_level(hw);
  XQueueOptions o;
  o.level = cfg.level == XS_LEVEL_AUTO ? supported : std::min(cfg.level, supported);
  o.window = o.level >= XS_LEVEL_DEACTIVATE ? cfg.gated_window : cfg.window;
  o.window_ns = cfg.window_ns;
  o.backpressure = cfg.backpressure < 0 ? 0u : static_cast<uint32_t>(cfg.backpressure);
  o.request_grace_ns = cfg.request_grace_ns;
  o.hints = xs_hints_t{clamp_priority(int64_t{cfg.priority} - k.priority), cfg.share, 0, cfg.deadline_ns};
  o.device = k.device;
  hipUUID uuid{};
  if (rt->hipDeviceGetUuid != nullptr && rt->hipDeviceGetUuid(&uuid, k.device) == hipSuccess) {
    std::memcpy(o.device_id.uuid.data(), uuid.bytes, o.device_id.uuid.size());
  }
  char name[sizeof o.device_name] = {};
  if (rt->hipDeviceGetName != nullptr && rt->hipDeviceGetName(name, sizeof name - 1, k.device) == hipSuccess) {
    set_device_name(&o.device_name, name);
  }
  auto sq = std::make_shared<StreamQueue>();
  sq->stream = s;
  sq->device = k.device;
  sq->blocking = k.blocking;
  if (XQueue::create(hw, o, &sq->xq) != XS_OK) return nullptr;  // create released hw
  process_scheduler().add(*sq->xq);
  announce(o);
  log(LogLevel::kInfo, "queue %llu: HIP stream %p of device %d, HIP priority %d -> priority %d, level %d",
      static_cast<unsigned long long>(sq->xq->id()), static_cast<void*>(s), k.device, k.priority, o.hints.priority,
      static_cast<int>(sq->xq->level()));
  return sq;
}

}  // namespace

std::shared_ptr<StreamQueue> stream_queue(hipStream_t s) {
  const xsched::hip::Runtime* rt = runtime();
  if (rt == nullptr) return nullptr;
  Registry& r = registry();
  Known* k = nullptr;
  std::lock_guard lk(r.mu);
  if (s == nullptr) {
    const int device = current_device(*rt);
    k = &r.null_streams[device];
    k->device = device;
  } else {
    auto it = r.streams.find(s);
    if (it == r.streams.end()) return nullptr;  // not made through the interposer: left alone
    k = &it->second;
  }
  if (!k->tried) {
    k->tried = true;
    k->queue = make_queue(s, *k);
  }
  return k->queue;
}

void note_stream(hipStream_t s, int device, unsigned flags, int priority) {
  Registry& r = registry();
  std::lock_guard lk(r.mu);
  r.streams[s] = Known{device, priority, (flags & hipStreamNonBlocking) == 0, nullptr, false};
}

void order_implicitly(const StreamQueue& sq) {
  if (!sq.blocking) return;
  std::vector<std::shared_ptr<StreamQueue>> before;
  {
    Registry& r = registry();
    std::lock_guard lk(r.mu);
    if (sq.stream == nullptr) {
      for (const auto& [s, k] : r.streams) {
        if (k.queue != nullptr && k.blocking && k.device == sq.device) before.push_back(k.queue);
      }
    } else if (auto it = r.null_streams.find(sq.device); it != r.null_streams.end() && it->second.queue != nullptr) {
      before.push_back(it->second.queue);
    }
  }
  for (const auto& q : before) {
    if (q->xq->has_unlaunched()) q->xq->flush();
  }
}

std::shared_ptr<StreamQueue> forget_stream(hipStream_t s) {
  Registry& r = registry();
  std::shared_ptr<StreamQueue> q;
  {
    std::lock_guard lk(r.mu);
    auto it = r.streams.find(s);
    if (it == r.streams.end()) return nullptr;
    q = std::move(it->second.queue);
    r.streams.erase(it);
  }
  if (q != nullptr) process_scheduler().remove(*q->xq);
  return q;
}

std::vector<std::shared_ptr<StreamQueue>> device_queues(int device) {
  Registry& r = registry();
  std::vector<std::shared_ptr<StreamQueue>> out;
  std::lock_guard lk(r.mu);
  for (const auto& [s, k] : r.streams) {
    if (k.queue != nullptr && k.device == device) out.push_back(k.queue);
  }
  if (auto it = r.null_streams.find(device); it != r.null_streams.end() && it->second.queue != nullptr) {
    out.push_back(it->second.queue);
  }
  return out;
}

}  // namespace xsched::interpose::hip

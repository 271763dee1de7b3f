#include "interpose/cuda/new_stream_queue.h"

#include <algorithm>
#include <cstring>

#include "core/config.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "hal/cuda/cuda_queue.h"
#include "hal/cuda/device_of.h"
#include "interpose/cuda/driver.h"
#include "interpose/cuda/level_notices.h"
#include "interpose/cuda/stream_registry.h"
#include "interpose/common/trace.h"
#include "sched/local_scheduler.h"

namespace xsched::interpose {
namespace {

constexpr const char* kKindNames[] = {"stream", "legacy default stream", "per-thread default stream"};

// The XQueue's options: the level the device allows (Level 2 where it can
// gate the stream, unless configured lower), the window for that level, and
// the hints, where a higher CUDA priority (a lower number) is a higher
// xsched priority, kept in range.
XQueueOptions queue_options(const Config& cfg, const HwQueue& hw, int cuda_priority) {
  const xs_level_t supported = max_level(hw);
  XQueueOptions o;
  o.level = cfg.level == XS_LEVEL_AUTO ? supported : std::min(cfg.level, supported);
  if (o.level != cfg.level && cfg.level != XS_LEVEL_AUTO) warn_level_lowered(cfg.level, o.level);
  o.window = o.level >= XS_LEVEL_DEACTIVATE ? cfg.gated_window : cfg.window;
  o.window_ns = cfg.window_ns;
  o.backpressure = cfg.backpressure < 0 ? kDefaultCudaBackpressure : static_cast<uint32_t>(cfg.backpressure);
  o.request_grace_ns = cfg.request_grace_ns;
  o.hints = xs_hints_t{clamp_priority(int64_t{cfg.priority} - cuda_priority), cfg.share, 0, cfg.deadline_ns};
  return o;
}

// sq joins the scheduler and its context's lists.
void join(const std::shared_ptr<StreamQueue>& sq) {
  process_scheduler().add(*sq->xq);
  std::lock_guard lk(sq->context->mu);
  sq->context->queues.push_back(sq);
  if (sq->kind != StreamKind::kLegacy && sq->blocking) sq->context->blocking.push_back(sq.get());
}

void say_made(const StreamQueue& sq, const XQueueOptions& o) {
  const char* kind = kKindNames[static_cast<int>(sq.kind)];
  const auto id = static_cast<unsigned long long>(sq.xq->id());
  if (trace_enabled()) {
    trace_call("xsched-queue", CUDA_SUCCESS, "queue=%llu stream=%p ctx=%p kind=%s cuda_priority=%d priority=%d level=%d window=%u",
               id, static_cast<void*>(sq.stream), static_cast<void*>(sq.ctx), kind, sq.cuda_priority, o.hints.priority,
               static_cast<int>(sq.xq->level()), o.window);
  }
  log(LogLevel::kInfo, "queue %llu: %s %p of context %p, CUDA priority %d -> priority %d, level %d", id, kind,
      static_cast<void*>(sq.stream), static_cast<void*>(sq.ctx), sq.cuda_priority, o.hints.priority,
      static_cast<int>(sq.xq->level()));
}

}  // namespace

std::shared_ptr<StreamQueue> new_stream_queue(CUcontext ctx, CUstream stream, StreamKind kind, bool blocking,
                                              int cuda_priority, bool owns_stream) {
  const cuda::Driver* d = driver();
  const Config& cfg = process_config();
  auto sq = std::make_shared<StreamQueue>();
  sq->ctx = ctx;
  sq->stream = stream;
  sq->kind = kind;
  sq->blocking = blocking;
  sq->cuda_priority = cuda_priority;
  sq->context = &context_state(ctx);

  cuda::QueueSpec spec{d, ctx, stream, owns_stream};
  spec.gate = cfg.level != XS_LEVEL_BLOCK;
  spec.reserve_sms = cfg.reserve_sms;
  HwQueue hw;
  if (cuda::make_hw_queue(spec, &hw) != XS_OK) return nullptr;
  XQueueOptions o = queue_options(cfg, hw, cuda_priority);
  // Legacy-stream operations lend their urgency to a gated blocking stream's
  // launched work (implicit_order.h): its launches tell them when to look.
  if (kind != StreamKind::kLegacy && blocking && o.level >= XS_LEVEL_DEACTIVATE) {
    o.launch_flag = &sq->context->blocking_launched;
  }
  cuda::describe_device(*d, ctx, o);
  if (XQueue::create(hw, o, &sq->xq) != XS_OK) return nullptr;  // hw is released either way
  sq->hw = hw;
  announce_level(o.level, o.window);
  announce_device(o.device, o.device_id, o.device_name.data());
  if (sq->xq == nullptr) return nullptr;
  join(sq);
  say_made(*sq, o);
  return sq;
}

}  // namespace xsched::interpose

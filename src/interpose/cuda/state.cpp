#include "interpose/cuda/state.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <unordered_map>

#include "core/config.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "hal/cuda/cuda_command.h"
#include "hal/cuda/context_scope.h"
#include "hal/cuda/cuda_queue.h"
#include "hal/cuda/gates.h"
#include "interpose/cuda/level_notices.h"
#include "interpose/cuda/real_driver.h"
#include "interpose/cuda/trace.h"
#include "sched/local_scheduler.h"

namespace xsched::interpose {
namespace {

// ---- explicit streams: a sharded map, and a one-entry cache per thread ----

constexpr std::size_t kShards = 64;

struct Shard {
  std::mutex mu;
  std::unordered_map<CUstream, std::shared_ptr<StreamQueue>> queues;
};

// What the registry keeps of an event's latest record: weak references, so
// that a record never keeps a destroyed stream's queue alive (or destroys it
// under the shard's lock).
struct RecordEntry {
  std::weak_ptr<StreamQueue> queue;  // expired: none of ours outstanding
  uint64_t seq = 0;
  std::weak_ptr<StreamQueue> capture_root;
};

struct EventShard {
  std::mutex mu;
  std::unordered_map<CUevent, RecordEntry> records;
};

struct Registry {
  std::array<Shard, kShards> streams;
  // Bumped whenever a stream is forgotten: per-thread caches older than it are stale.
  std::atomic<uint64_t> generation{1};

  std::mutex contexts_mu;
  std::unordered_map<CUcontext, ContextState*> contexts;  // never freed: threads may hold them

  std::array<EventShard, kShards> events;
};

// Immortal: queues and threads may still call in while the process exits.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

template <class S>
S& shard_of(std::array<S, kShards>& shards, const void* key) {
  return shards[(reinterpret_cast<uintptr_t>(key) >> 4) % kShards];
}

// The queue this thread used last: most calls name the same stream again.
// For default streams the key is the special handle and the context.
struct StreamCache {
  CUstream stream = nullptr;
  CUcontext ctx = nullptr;
  uint64_t generation = 0;
  std::shared_ptr<StreamQueue> queue;

  std::shared_ptr<StreamQueue> get(CUstream s, CUcontext c, uint64_t gen) const {
    return stream == s && ctx == c && generation == gen ? queue : nullptr;
  }
};
thread_local StreamCache t_cache;

ContextState& context_state(CUcontext ctx) {
  Registry& r = registry();
  std::lock_guard lk(r.contexts_mu);
  ContextState*& cs = r.contexts[ctx];
  if (cs == nullptr) {
    cs = new ContextState;
    cs->ctx = ctx;
  }
  return *cs;
}

// An XQueue for a CUDA stream, registered with the process's scheduler and
// its context. nullptr when it cannot be made (the call then goes through).
std::shared_ptr<StreamQueue> make_queue(CUcontext ctx, CUstream stream, StreamKind kind, bool blocking, int cuda_priority,
                                        bool owns_stream) {
  const cuda::Driver* d = driver();
  const Config& cfg = process_config();
  auto sq = std::make_shared<StreamQueue>();
  sq->ctx = ctx;
  sq->stream = stream;
  sq->kind = kind;
  sq->blocking = blocking;
  sq->cuda_priority = cuda_priority;
  sq->context = &context_state(ctx);

  // Level 2 where the device can gate the stream, unless configured lower.
  cuda::QueueSpec spec{d, ctx, stream, owns_stream};
  spec.gate = cfg.level != XS_LEVEL_BLOCK;
  spec.reserve_sms = cfg.reserve_sms;
  HwQueue hw;
  if (cuda::make_hw_queue(spec, &hw) != XS_OK) return nullptr;
  const xs_level_t supported = max_level(hw);
  XQueueOptions o;
  o.level = cfg.level == XS_LEVEL_AUTO ? supported : std::min(cfg.level, supported);
  if (o.level != cfg.level && cfg.level != XS_LEVEL_AUTO) warn_level_lowered(cfg.level, o.level);
  o.window = o.level >= XS_LEVEL_DEACTIVATE ? cfg.gated_window : cfg.window;
  o.window_ns = cfg.window_ns;
  o.backpressure = cfg.backpressure < 0 ? kDefaultCudaBackpressure : static_cast<uint32_t>(cfg.backpressure);
  o.request_grace_ns = cfg.request_grace_ns;
  if (d->cuCtxGetDevice != nullptr) {
    // For `xsched list`: the stream's context, not the calling thread's.
    cuda::ContextScope scope(*d, ctx);
    CUdevice dev = -1;
    if (d->cuCtxGetDevice(&dev) == CUDA_SUCCESS) {
      o.device = dev;
      // The scheduling domain: the GPU's UUID (a MIG instance's own), the same in every process.
      CUuuid uuid{};
      if (d->cuDeviceGetUuid_v2 != nullptr && d->cuDeviceGetUuid_v2(&uuid, dev) == CUDA_SUCCESS) {
        std::memcpy(o.device_id.uuid.data(), uuid.bytes, o.device_id.uuid.size());
      }
      if (d->cuDeviceGetName != nullptr) {
        char name[sizeof o.device_name] = {};
        if (d->cuDeviceGetName(name, sizeof name - 1, dev) == CUDA_SUCCESS) set_device_name(&o.device_name, name);
      }
    }
  }
  // A higher CUDA priority (a lower number) is a higher xsched priority, kept in range.
  o.hints = xs_hints_t{clamp_priority(int64_t{cfg.priority} - cuda_priority), cfg.share, 0, cfg.deadline_ns};
  if (XQueue::create(hw, o, &sq->xq) != XS_OK) return nullptr;  // hw is released either way
  sq->hw = hw;
  announce_level(o.level, o.window);
  announce_device(o.device, o.device_id, o.device_name.data());
  if (sq->xq == nullptr) return nullptr;
  process_scheduler().add(*sq->xq);
  {
    std::lock_guard lk(sq->context->mu);
    sq->context->queues.push_back(sq);
    if (kind != StreamKind::kLegacy && blocking) {
      sq->context->blocking.push_back(sq.get());
      sq->context->blocking_queues.fetch_add(1, std::memory_order_acq_rel);
    }
  }
  static const char* const kKinds[] = {"stream", "legacy default stream", "per-thread default stream"};
  if (trace_enabled()) {
    trace_call("xsched-queue", CUDA_SUCCESS, "queue=%llu stream=%p ctx=%p kind=%s cuda_priority=%d priority=%d level=%d window=%u",
               static_cast<unsigned long long>(sq->xq->id()), static_cast<void*>(stream), static_cast<void*>(ctx),
               kKinds[static_cast<int>(kind)], cuda_priority, o.hints.priority, static_cast<int>(sq->xq->level()), o.window);
  }
  log(LogLevel::kInfo, "queue %llu: %s %p of context %p, CUDA priority %d -> priority %d, level %d",
      static_cast<unsigned long long>(sq->xq->id()), kKinds[static_cast<int>(kind)], static_cast<void*>(stream),
      static_cast<void*>(ctx), cuda_priority, o.hints.priority, static_cast<int>(sq->xq->level()));
  return sq;
}

std::shared_ptr<StreamQueue> explicit_queue(CUstream s, bool create) {
  Registry& r = registry();
  const uint64_t gen = r.generation.load(std::memory_order_acquire);
  if (auto cached = t_cache.get(s, nullptr, gen)) return cached;
  Shard& sh = shard_of(r.streams, s);
  std::shared_ptr<StreamQueue> sq;
  {
    std::lock_guard lk(sh.mu);
    auto it = sh.queues.find(s);
    if (it != sh.queues.end()) sq = it->second;
  }
  if (sq == nullptr) {
    if (!create) return nullptr;
    // The stream's own context, never the calling thread's: a stream made on
    // one thread is used from others.
    const cuda::Driver* d = driver();
    CUcontext ctx = nullptr;
    unsigned flags = 0;
    int priority = 0;
    if (d->cuStreamGetCtx(s, &ctx) != CUDA_SUCCESS || ctx == nullptr) return nullptr;
    if (d->cuStreamGetFlags(s, &flags) != CUDA_SUCCESS) return nullptr;
    if (d->cuStreamGetPriority(s, &priority) != CUDA_SUCCESS) priority = 0;
    auto made = make_queue(ctx, s, StreamKind::kExplicit, (flags & CU_STREAM_NON_BLOCKING) == 0, priority, false);
    if (made == nullptr) return nullptr;
    std::lock_guard lk(sh.mu);
    auto [it, inserted] = sh.queues.try_emplace(s, made);
    sq = it->second;  // another thread may have made one first: use theirs
  }
  t_cache = StreamCache{s, nullptr, gen, sq};
  return sq;
}

std::shared_ptr<StreamQueue> legacy_queue(CUcontext ctx, bool create) {
  const uint64_t gen = registry().generation.load(std::memory_order_acquire);
  if (auto cached = t_cache.get(CU_STREAM_LEGACY, ctx, gen)) return cached;
  ContextState& cs = context_state(ctx);
  std::shared_ptr<StreamQueue> sq;
  {
    std::lock_guard lk(cs.mu);
    sq = cs.legacy;
  }
  if (sq == nullptr) {
    if (!create) return nullptr;
    auto made = make_queue(ctx, CU_STREAM_LEGACY, StreamKind::kLegacy, true, 0, false);
    if (made == nullptr) return nullptr;
    std::lock_guard lk(cs.mu);
    if (cs.legacy == nullptr) {
      cs.legacy = made;
      cs.legacy_raw.store(made.get(), std::memory_order_release);
    }
    sq = cs.legacy;  // another thread may have made one first: use theirs
  }
  t_cache = StreamCache{CU_STREAM_LEGACY, ctx, gen, sq};
  return sq;
}

// The calling thread's per-thread default streams: one private blocking
// stream per context stands in for it, since our worker threads cannot name
// another thread's per-thread stream. Every call that names it is routed there.
struct PerThreadQueues {
  std::vector<std::shared_ptr<StreamQueue>> queues;
  ~PerThreadQueues() {
    for (auto& q : queues) {
      q->xq->expedite(UINT64_MAX);  // the thread is going: its work runs now, held or not
      q->xq->wait_all(-1);
    }
  }
};
thread_local PerThreadQueues t_per_thread;

std::shared_ptr<StreamQueue> per_thread_queue(CUcontext ctx, bool create) {
  for (auto& q : t_per_thread.queues) {
    // A retired one belongs to a destroyed context whose handle was reused.
    if (q->ctx == ctx && !q->retired.load(std::memory_order_acquire)) return q;
  }
  if (!create) return nullptr;
  const cuda::Driver* d = driver();
  CUstream own = nullptr;
  {
    // In ctx, not the calling thread's current context: the control API
    // names the context (by device) from threads with none or another current.
    cuda::ContextScope scope(*d, ctx);
    if (d->cuStreamCreate(&own, CU_STREAM_DEFAULT) != CUDA_SUCCESS) return nullptr;
  }
  auto made = make_queue(ctx, own, StreamKind::kPerThread, true, 0, true);
  if (made == nullptr) return nullptr;
  std::erase_if(t_per_thread.queues, [](const auto& q) { return q->retired.load(std::memory_order_acquire); });
  t_per_thread.queues.push_back(made);
  return made;
}

std::shared_ptr<StreamQueue> lookup(CUstream s, Flavor f, bool create) {
  if (driver() == nullptr) return nullptr;
  if (s != nullptr && s != CU_STREAM_LEGACY && s != CU_STREAM_PER_THREAD) return explicit_queue(s, create);
  CUcontext ctx = nullptr;
  if (driver()->cuCtxGetCurrent(&ctx) != CUDA_SUCCESS || ctx == nullptr) return nullptr;
  const bool per_thread = s == CU_STREAM_PER_THREAD || (s == nullptr && f == Flavor::kPerThread);
  return per_thread ? per_thread_queue(ctx, create) : legacy_queue(ctx, create);
}

template <class F>
void for_each_queue(CUcontext ctx, F&& f) {
  std::vector<ContextState*> states;
  {
    Registry& r = registry();
    std::lock_guard lk(r.contexts_mu);
    for (auto& [c, cs] : r.contexts) {
      if (ctx == nullptr || c == ctx) states.push_back(cs);
    }
  }
  for (ContextState* cs : states) {
    std::vector<std::shared_ptr<StreamQueue>> live;
    {
      std::lock_guard lk(cs->mu);
      std::erase_if(cs->queues, [](const std::weak_ptr<StreamQueue>& w) { return w.expired(); });
      for (auto& w : cs->queues) {
        if (auto q = w.lock()) live.push_back(std::move(q));
      }
    }
    for (auto& q : live) f(*q);
  }
}

}  // namespace

std::shared_ptr<StreamQueue> StreamQueue::capture_root() const {
  std::lock_guard lk(capture_mu_);
  return capturing() ? capture_root_.lock() : nullptr;
}

void StreamQueue::join_capture(const std::shared_ptr<StreamQueue>& root) {
  std::lock_guard lk(capture_mu_);
  capture_root_ = root;
  capturing_.store(true, std::memory_order_release);
}

void StreamQueue::leave_capture() {
  std::lock_guard lk(capture_mu_);
  capture_root_.reset();
  capturing_.store(false, std::memory_order_release);
}

void end_capture(const StreamQueue& root) {
  for_each_queue(nullptr, [&](StreamQueue& q) {
    if (q.capturing() && (&q == &root || q.capture_root().get() == &root)) q.leave_capture();
  });
}

StreamQueue::~StreamQueue() {
  if (xq == nullptr) return;
  if (kind != StreamKind::kLegacy && blocking) {
    std::lock_guard lk(context->mu);
    if (std::erase(context->blocking, this) != 0) context->blocking_queues.fetch_sub(1, std::memory_order_acq_rel);
  }
  process_scheduler().remove(*xq);
  xq->close();  // the XQueue's destructor then completes what it holds
}

const cuda::Driver* driver() {
  static const cuda::Driver* const d = []() -> const cuda::Driver* {
    if (real_driver() == nullptr) {
      log(LogLevel::kError, "no CUDA driver: %s", real_driver_error());
      return nullptr;
    }
    auto* drv = new (std::nothrow) cuda::Driver;
    if (drv == nullptr) return nullptr;
    if (const char* missing = drv->load(&real_symbol)) {
      log(LogLevel::kError, "the CUDA driver at %s lacks %s: calls pass through unscheduled", real_driver_path(), missing);
      delete drv;
      return nullptr;
    }
    return drv;
  }();
  return d;
}

std::shared_ptr<StreamQueue> stream_queue(CUstream s, Flavor f) {
  try {
    return lookup(s, f, true);
  } catch (const std::exception& e) {
    log(LogLevel::kWarn, "stream %p goes unscheduled: %s", static_cast<void*>(s), e.what());
    return nullptr;
  }
}

std::shared_ptr<StreamQueue> find_stream_queue(CUstream s, Flavor f) {
  try {
    return lookup(s, f, false);
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::shared_ptr<StreamQueue> default_stream_queue(CUcontext ctx, bool per_thread) {
  if (driver() == nullptr || ctx == nullptr) return nullptr;
  try {
    return per_thread ? per_thread_queue(ctx, true) : legacy_queue(ctx, true);
  } catch (const std::exception& e) {
    log(LogLevel::kWarn, "the default stream of context %p goes unscheduled: %s", static_cast<void*>(ctx), e.what());
    return nullptr;
  }
}

std::vector<std::shared_ptr<StreamQueue>> all_stream_queues() {
  std::vector<std::shared_ptr<StreamQueue>> out;
  for_each_queue(nullptr, [&](StreamQueue& q) {
    if (!q.retired.load(std::memory_order_acquire)) out.push_back(q.shared_from_this());
  });
  return out;
}

std::shared_ptr<StreamQueue> stream_queue_by_id(uint64_t id) {
  std::shared_ptr<StreamQueue> found;
  for_each_queue(nullptr, [&](StreamQueue& q) {
    if (found == nullptr && q.xq->id() == id && !q.retired.load(std::memory_order_acquire)) {
      found = q.shared_from_this();
    }
  });
  return found;
}

CUstream spelled_out(CUstream s, Flavor f) {
  if (s != nullptr) return s;
  return f == Flavor::kPerThread ? CU_STREAM_PER_THREAD : CU_STREAM_LEGACY;
}

void order_after_implicit_dependencies(StreamQueue& sq) {
  ContextState& cs = *sq.context;
  if (sq.kind == StreamKind::kLegacy) {
    // A plain load first: the flag is almost always clear, and an exchange
    // on every legacy-stream launch would bounce its cache line between threads.
    if (!cs.blocking_held.load(std::memory_order_acquire)) return;
    if (!cs.blocking_held.exchange(false, std::memory_order_acq_rel)) return;
    for_each_queue(sq.ctx, [&](StreamQueue& q) {
      if (&q != &sq && q.blocking && q.xq->has_unlaunched()) q.xq->flush();
    });
  } else if (sq.blocking) {
    StreamQueue* legacy = cs.legacy_raw.load(std::memory_order_acquire);
    if (legacy != nullptr && legacy->xq->has_unlaunched()) legacy->xq->flush();
  }
}

void lend_urgency_for_implicit_order(StreamQueue& sq) {
  if (!sq.blocking || !cuda::gates_in_use()) return;
  ContextState& cs = *sq.context;
  // Lock-free checks first: this runs after every launch of such a stream.
  auto lend = [](StreamQueue& q) {
    const uint64_t launched = q.xq->launched();
    if (q.xq->level() >= XS_LEVEL_DEACTIVATE && q.xq->completed() < launched && q.xq->expedited() < launched) {
      q.xq->expedite(launched);
    }
  };
  if (sq.kind == StreamKind::kLegacy) {
    if (cs.blocking_queues.load(std::memory_order_acquire) == 0) return;
    std::lock_guard lk(cs.mu);  // queues never call back into the interposer: no lock order to break
    for (StreamQueue* q : cs.blocking) lend(*q);
  } else if (StreamQueue* legacy = cs.legacy_raw.load(std::memory_order_acquire); legacy != nullptr) {
    lend(*legacy);
  }
}

void launch_everything_before(StreamQueue& sq) {
  order_after_implicit_dependencies(sq);
  sq.xq->flush();
  lend_urgency_for_implicit_order(sq);
}

void flush_all() {
  for_each_queue(nullptr, [](StreamQueue& q) { q.xq->flush(); });
}

void flush_launches_of(CUfunction f) {
  for_each_queue(nullptr, [&](StreamQueue& q) {
    if (!q.xq->has_unlaunched()) return;
    q.xq->flush_matching([&](const Command& c) {
      const cuda::Call& call = cuda::call_of(const_cast<Command&>(c));
      switch (call.op) {
        case cuda::Op::kLaunch:
        case cuda::Op::kLaunchCooperative: return call.launch.f == f;
        case cuda::Op::kLaunchEx: return call.launch_ex.f == f;
        default: return false;
      }
    });
  });
}

void expedite_launched_everywhere() {
  if (!cuda::gates_in_use()) return;
  for_each_queue(nullptr, [](StreamQueue& q) {
    const uint64_t launched = q.xq->launched();
    if (q.xq->completed() < launched && q.xq->expedited() < launched) q.xq->expedite(launched);
  });
}

CUresult wait_context(CUcontext ctx) {
  CUresult result = CUDA_SUCCESS;
  for_each_queue(ctx, [&](StreamQueue& q) {
    // What is launched, the caller's own driver wait covers.
    if (!q.xq->has_unlaunched()) return;
    const xs_result_t r = q.xq->wait_all(-1);
    if (r != XS_OK && result == CUDA_SUCCESS) result = to_cuda(r, &q);
  });
  return result;
}

std::vector<LaunchMark> mark_launched(CUcontext ctx) {
  std::vector<LaunchMark> marks;
  try {
    for_each_queue(ctx, [&](StreamQueue& q) { marks.push_back({q.shared_from_this(), q.xq->launched()}); });
  } catch (const std::bad_alloc&) {
    marks.clear();  // the queues then find out by themselves, a little later
  }
  return marks;
}

void caught_up(const std::vector<LaunchMark>& marks) {
  for (const LaunchMark& m : marks) m.queue->xq->device_caught_up(m.launched);
}

CUresult retire_stream(CUstream s) {
  Registry& r = registry();
  std::shared_ptr<StreamQueue> sq;
  {
    Shard& sh = shard_of(r.streams, s);
    std::lock_guard lk(sh.mu);
    auto it = sh.queues.find(s);
    if (it == sh.queues.end()) return CUDA_SUCCESS;
    sq = std::move(it->second);
    sh.queues.erase(it);
  }
  // Other threads' caches may keep the queue alive: the control API forgets it now.
  sq->retired.store(true, std::memory_order_release);
  r.generation.fetch_add(1, std::memory_order_acq_rel);
  if (t_cache.stream == s) t_cache = StreamCache{};
  // Held or not, its work runs now: the caller waits for it, not for the scheduler.
  sq->xq->expedite(UINT64_MAX);
  const xs_result_t w = sq->xq->wait_all(-1);
  return w == XS_OK ? CUDA_SUCCESS : to_cuda(w, sq.get());
}

void retire_context(CUcontext ctx) {
  // Held or not, the context's work runs now: destroying it waits for that, not for the scheduler.
  // Other threads' caches and per-thread streams may keep its queues alive:
  // the control API forgets them now.
  for_each_queue(ctx, [](StreamQueue& q) {
    q.retired.store(true, std::memory_order_release);
    q.xq->expedite(UINT64_MAX);
  });
  for_each_queue(ctx, [](StreamQueue& q) { q.xq->wait_all(-1); });
  Registry& r = registry();
  {
    for (Shard& sh : r.streams) {
      std::lock_guard lk(sh.mu);
      std::erase_if(sh.queues, [&](const auto& kv) { return kv.second->ctx == ctx; });
    }
  }
  r.generation.fetch_add(1, std::memory_order_acq_rel);
  t_cache = StreamCache{};
  ContextState& cs = context_state(ctx);
  std::shared_ptr<StreamQueue> legacy;
  {
    std::lock_guard lk(cs.mu);
    cs.legacy_raw.store(nullptr, std::memory_order_release);
    legacy = std::move(cs.legacy);
  }
  // Queues go outside the context's lock: their destructors take it.
  legacy.reset();
  std::erase_if(t_per_thread.queues, [&](const auto& q) { return q->ctx == ctx; });
  cuda::retire_gates(ctx);  // the driver frees the gate page with the context
  cuda::forget_loaded_kernels();
}

// ---- events ----

void note_event_record(CUevent e, const std::shared_ptr<StreamQueue>& q, uint64_t seq,
                       const std::shared_ptr<StreamQueue>& capture_root) {
  EventShard& sh = shard_of(registry().events, e);
  // A launched record still matters at Level 2 while it is incomplete: its
  // queue may be held behind its gate, and a waiter must lend it urgency.
  const bool tracked = q != nullptr && (q->xq->launched() < seq || q->xq->level() >= XS_LEVEL_DEACTIVATE);
  std::lock_guard lk(sh.mu);
  if (!tracked && capture_root == nullptr) {
    sh.records.erase(e);
    return;
  }
  try {
    RecordEntry& rec = sh.records[e];  // an event's entry is reused by its later records
    rec.queue = tracked ? q : nullptr;
    rec.seq = seq;
    rec.capture_root = capture_root;
  } catch (const std::bad_alloc&) {
    // Untracked, the record counts as reached: waits on it may then run
    // early, but the program goes on.
    log(LogLevel::kWarn, "out of memory: the record of event %p is not tracked", static_cast<void*>(e));
  }
}

PendingRecord pending_record(CUevent e) {
  EventShard& sh = shard_of(registry().events, e);
  PendingRecord out;
  std::lock_guard lk(sh.mu);
  auto it = sh.records.find(e);
  if (it == sh.records.end()) return out;
  RecordEntry& rec = it->second;
  out.queue = rec.queue.lock();
  out.recorder = out.queue;
  out.seq = rec.seq;
  out.capture_root = rec.capture_root;
  if (out.queue != nullptr) {
    out.held = out.queue->xq->launched() < rec.seq;
    if (out.queue->xq->completed() >= rec.seq) out.queue = nullptr;  // done: the driver has the rest to say
  }
  if (out.queue == nullptr) {
    rec.queue.reset();
    if (rec.capture_root.expired()) sh.records.erase(it);
  }
  return out;
}

void forget_event(CUevent e) {
  EventShard& sh = shard_of(registry().events, e);
  std::lock_guard lk(sh.mu);
  sh.records.erase(e);
}

}  // namespace xsched::interpose

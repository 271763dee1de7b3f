#include "interpose/cuda/stream_registry.h"

#include <array>
#include <exception>
#include <unordered_map>

#include "core/log.h"
#include "hal/cuda/context_scope.h"
#include "hal/cuda/gates.h"
#include "interpose/cuda/driver.h"
#include "interpose/common/stream_table.h"
#include "interpose/cuda/new_stream_queue.h"
#include "interpose/cuda/to_cuda.h"

namespace xsched::interpose {
namespace {

// ---- explicit streams: the common sharded map, and a one-entry cache per thread ----

struct Registry {
  // Its generation is bumped whenever a stream is forgotten: per-thread
  // caches older than it are stale. Its own cache is not used: ours holds
  // the queue, so that a launch borrows it without reference counting.
  StreamTable<CUstream, StreamQueue> streams;

  std::mutex contexts_mu;
  std::unordered_map<CUcontext, ContextState*> contexts;  // never freed: threads may hold them
};

// Immortal: queues and threads may still call in while the process exits.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

// The queue this thread used last: most calls name the same stream again.
// For default streams the key is the special handle and the context. The
// cache holds the queue alive (t_cache_hold), so that a lookup can lend it
// out without touching its reference count (borrowed_stream_queue). The key
// is a trivial thread-local, read without the guard that one with a
// destructor needs; only a change of the cache touches the holder.
struct StreamCache {
  CUstream stream = nullptr;
  CUcontext ctx = nullptr;
  uint64_t generation = 0;
  StreamQueue* queue = nullptr;

  StreamQueue* get(CUstream s, CUcontext c, uint64_t gen) const {
    return stream == s && ctx == c && generation == gen ? queue : nullptr;
  }
};
constinit thread_local StreamCache t_cache;

struct StreamCacheHold {
  std::shared_ptr<StreamQueue> queue;
  ~StreamCacheHold() { t_cache = StreamCache{}; }  // the thread ends: the key goes with the queue
};
thread_local StreamCacheHold t_cache_hold;

void cache(CUstream s, CUcontext ctx, uint64_t gen, const std::shared_ptr<StreamQueue>& sq) {
  t_cache_hold.queue = sq;
  t_cache = StreamCache{s, ctx, gen, sq.get()};
}

void forget_cached() {
  t_cache = StreamCache{};
  t_cache_hold.queue.reset();
}

// A queue for explicit stream s, in the stream's own context, never the
// calling thread's: a stream made on one thread is used from others.
std::shared_ptr<StreamQueue> new_explicit_queue(CUstream s) {
  const cuda::Driver* d = driver();
  CUcontext ctx = nullptr;
  unsigned flags = 0;
  int priority = 0;
  if (d->cuStreamGetCtx(s, &ctx) != CUDA_SUCCESS || ctx == nullptr) return nullptr;
  if (d->cuStreamGetFlags(s, &flags) != CUDA_SUCCESS) return nullptr;
  if (d->cuStreamGetPriority(s, &priority) != CUDA_SUCCESS) priority = 0;
  return new_stream_queue(ctx, s, StreamKind::kExplicit, (flags & CU_STREAM_NON_BLOCKING) == 0, priority, false);
}

// The lookups below return queues that the calling thread's cache (or its
// per-thread list) holds alive.
StreamQueue* explicit_queue(CUstream s, bool create) {
  auto& streams = registry().streams;
  const uint64_t gen = streams.generation();
  if (StreamQueue* cached = t_cache.get(s, nullptr, gen)) return cached;
  std::shared_ptr<StreamQueue> sq = streams.find(s);
  if (sq == nullptr) {
    if (!create) return nullptr;
    auto made = new_explicit_queue(s);
    if (made == nullptr) return nullptr;
    sq = streams.insert(s, std::move(made));  // another thread may have made one first: use theirs
  }
  cache(s, nullptr, gen, sq);
  return sq.get();
}

StreamQueue* legacy_queue(CUcontext ctx, bool create) {
  const uint64_t gen = registry().streams.generation();
  if (StreamQueue* cached = t_cache.get(CU_STREAM_LEGACY, ctx, gen)) return cached;
  ContextState& cs = context_state(ctx);
  std::shared_ptr<StreamQueue> sq;
  {
    std::lock_guard lk(cs.mu);
    sq = cs.legacy;
  }
  if (sq == nullptr) {
    if (!create) return nullptr;
    auto made = new_stream_queue(ctx, CU_STREAM_LEGACY, StreamKind::kLegacy, true, 0, false);
    if (made == nullptr) return nullptr;
    std::lock_guard lk(cs.mu);
    if (cs.legacy == nullptr) {
      cs.legacy = made;
      cs.legacy_raw.store(made.get(), std::memory_order_release);
    }
    sq = cs.legacy;  // another thread may have made one first: use theirs
  }
  cache(CU_STREAM_LEGACY, ctx, gen, sq);
  return sq.get();
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

StreamQueue* per_thread_queue(CUcontext ctx, bool create) {
  for (auto& q : t_per_thread.queues) {
    // A retired one belongs to a destroyed context whose handle was reused.
    if (q->ctx == ctx && !q->retired.load(std::memory_order_acquire)) return q.get();
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
  auto made = new_stream_queue(ctx, own, StreamKind::kPerThread, true, 0, true);
  if (made == nullptr) return nullptr;
  std::erase_if(t_per_thread.queues, [](const auto& q) { return q->retired.load(std::memory_order_acquire); });
  t_per_thread.queues.push_back(made);
  return made.get();
}

StreamQueue* lookup(CUstream s, StreamKind zero_is, bool create) {
  const cuda::Driver* d = driver();
  if (d == nullptr) return nullptr;
  if (s != nullptr && s != CU_STREAM_LEGACY && s != CU_STREAM_PER_THREAD) return explicit_queue(s, create);
  CUcontext ctx = nullptr;
  if (d->cuCtxGetCurrent(&ctx) != CUDA_SUCCESS || ctx == nullptr) return nullptr;
  const bool per_thread = s == CU_STREAM_PER_THREAD || (s == nullptr && zero_is == StreamKind::kPerThread);
  return per_thread ? per_thread_queue(ctx, create) : legacy_queue(ctx, create);
}

}  // namespace

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

StreamQueue* borrowed_stream_queue(CUstream s, StreamKind zero_is) {
  try {
    return lookup(s, zero_is, true);
  } catch (const std::exception& e) {
    log(LogLevel::kWarn, "stream %p goes unscheduled: %s", static_cast<void*>(s), e.what());
    return nullptr;
  }
}

std::shared_ptr<StreamQueue> stream_queue(CUstream s, StreamKind zero_is) {
  StreamQueue* sq = borrowed_stream_queue(s, zero_is);
  return sq != nullptr ? sq->weak_from_this().lock() : nullptr;
}

std::shared_ptr<StreamQueue> find_stream_queue(CUstream s, StreamKind zero_is) {
  try {
    StreamQueue* sq = lookup(s, zero_is, false);
    return sq != nullptr ? sq->weak_from_this().lock() : nullptr;
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::shared_ptr<StreamQueue> default_stream_queue(CUcontext ctx, bool per_thread) {
  if (driver() == nullptr || ctx == nullptr) return nullptr;
  try {
    StreamQueue* sq = per_thread ? per_thread_queue(ctx, true) : legacy_queue(ctx, true);
    return sq != nullptr ? sq->weak_from_this().lock() : nullptr;
  } catch (const std::exception& e) {
    log(LogLevel::kWarn, "the default stream of context %p goes unscheduled: %s", static_cast<void*>(ctx), e.what());
    return nullptr;
  }
}

std::vector<std::shared_ptr<StreamQueue>> live_queues(CUcontext ctx) {
  std::vector<ContextState*> states;
  {
    Registry& r = registry();
    std::lock_guard lk(r.contexts_mu);
    for (auto& [c, cs] : r.contexts) {
      if (ctx == nullptr || c == ctx) states.push_back(cs);
    }
  }
  std::vector<std::shared_ptr<StreamQueue>> live;
  for (ContextState* cs : states) {
    std::lock_guard lk(cs->mu);
    std::erase_if(cs->queues, [](const std::weak_ptr<StreamQueue>& w) { return w.expired(); });
    for (auto& w : cs->queues) {
      if (auto q = w.lock()) live.push_back(std::move(q));
    }
  }
  return live;
}

std::vector<std::shared_ptr<StreamQueue>> all_stream_queues() {
  std::vector<std::shared_ptr<StreamQueue>> out = live_queues(nullptr);
  std::erase_if(out, [](const auto& q) { return q->retired.load(std::memory_order_acquire); });
  return out;
}

std::shared_ptr<StreamQueue> stream_queue_by_id(uint64_t id) {
  for (auto& q : live_queues(nullptr)) {
    if (q->xq->id() == id && !q->retired.load(std::memory_order_acquire)) return q;
  }
  return nullptr;
}

CUresult retire_stream(CUstream s) {
  // Erasing bumps the generation: other threads' caches go stale.
  std::shared_ptr<StreamQueue> sq = registry().streams.erase(s);
  if (sq == nullptr) return CUDA_SUCCESS;
  // Other threads' caches may keep the queue alive: the control API forgets it now.
  sq->retired.store(true, std::memory_order_release);
  if (t_cache.stream == s) forget_cached();
  // Held or not, its work runs now: the caller waits for it, not for the scheduler.
  sq->xq->expedite(UINT64_MAX);
  return to_cuda(sq->xq->wait_all(-1), sq.get());
}

void retire_context(CUcontext ctx) {
  // Held or not, the context's work runs now: destroying it waits for that,
  // not for the scheduler. Other threads' caches and per-thread streams may
  // keep its queues alive: the control API forgets them now.
  {
    const std::vector<std::shared_ptr<StreamQueue>> queues = live_queues(ctx);
    for (auto& q : queues) {
      q->retired.store(true, std::memory_order_release);
      q->xq->expedite(UINT64_MAX);
    }
    for (auto& q : queues) q->xq->wait_all(-1);
  }
  registry().streams.erase_if([&](const std::shared_ptr<StreamQueue>& q) { return q->ctx == ctx; });
  forget_cached();
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

}  // namespace xsched::interpose

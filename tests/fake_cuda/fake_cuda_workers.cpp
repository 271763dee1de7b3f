// Streams at work: each stream runs its operations in FIFO order on a worker
// thread of its own; enqueue() adds CUDA's implicit synchronisation (legacy
// and blocking streams) and records what ran in the op log. Also the calling
// thread's current contexts and per-thread default streams, and the shutdown
// of every worker at process exit.

#include "fake_cuda_internal.h"

#include <algorithm>

namespace fake_cuda {

thread_local ThreadState t_state{};  // trivially destructible

namespace {

u64 thread_uid() {
  if (t_state.uid == 0) t_state.uid = reg().next_id.fetch_add(1);
  return t_state.uid;
}

void release_per_thread(Context& c, u64 uid) {
  std::shared_ptr<Stream> s;
  {
    std::lock_guard lk(c.m);
    auto it = c.per_thread.find(uid);
    if (it == c.per_thread.end()) return;
    s = it->second;
    c.per_thread.erase(it);
  }
  mark_destroyed(*s);
}

// Destroys the per-thread default streams of a thread when it exits.
struct PerThreadOwner {
  u64 uid = 0;
  std::vector<Context*> ctxs;
  PerThreadOwner() = default;
  PerThreadOwner(const PerThreadOwner&) = delete;
  PerThreadOwner& operator=(const PerThreadOwner&) = delete;
  ~PerThreadOwner() {
    if (g_shutdown.load()) return;
    for (Context* c : ctxs) release_per_thread(*c, uid);
  }
};
thread_local PerThreadOwner t_owner;

void execute(Stream& s, Op& op) {
  Registry& r = reg();
  size_t idx = 0;
  u64 gen = 0;
  {
    std::lock_guard lk(r.log_m);
    FakeCudaLogEntry e{};
    e.seq = r.log.size();
    e.stream_id = s.id;
    e.ctx_id = s.ctx->id;
    e.op = op.op;
    e.stream_kind = s.kind == Kind::Legacy      ? FAKE_STREAM_LEGACY
                    : s.kind == Kind::PerThread ? FAKE_STREAM_PER_THREAD
                                                : FAKE_STREAM_USER;
    e.value = op.value;
    e.bytes = op.bytes;
    e.name = op.name;
    e.start_ns = now_ns();
    idx = r.log.size();
    gen = r.log_gen;
    r.log.push_back(e);
  }
  if (op.run) op.run();
  {
    std::lock_guard lk(r.log_m);
    if (gen == r.log_gen && idx < r.log.size()) r.log[idx].end_ns = std::max<u64>(now_ns(), 1);
  }
}

void worker_loop(Stream& s) {
  for (;;) {
    Op op;
    {
      std::unique_lock lk(s.m);
      s.work_cv.wait(lk, [&] { return !s.queue.empty() || s.destroyed || g_shutdown.load(); });
      if (g_shutdown.load() || s.queue.empty()) break;
      op = std::move(s.queue.front());
      s.queue.pop_front();
    }
    for (const Dep& d : op.deps) wait_seq(*d.s, d.seq);
    if (g_shutdown.load()) break;
    execute(s, op);
    op.run = nullptr;  // release what it holds before the completion is seen
    op.deps.clear();
    {
      std::lock_guard lk(s.m);
      s.completed = op.seq;
    }
    s.done_cv.notify_all();
  }
  s.exited.store(true);
}

bool idle_and_destroyed(Stream& s) {
  std::lock_guard lk(s.m);
  return s.destroyed && s.completed == s.submitted;
}

bool dep_done(const Dep& d) {
  std::lock_guard lk(d.s->m);
  return d.s->completed >= d.seq;
}

std::shared_ptr<Stream> per_thread_stream(Context& c) {
  const u64 uid = thread_uid();
  std::lock_guard lk(c.m);
  auto it = c.per_thread.find(uid);
  if (it != c.per_thread.end()) return it->second;
  auto s = make_stream(&c, Kind::PerThread, 0, 0);
  c.per_thread.emplace(uid, s);
  c.streams.push_back(s);
  t_owner.uid = uid;
  if (std::find(t_owner.ctxs.begin(), t_owner.ctxs.end(), &c) == t_owner.ctxs.end()) t_owner.ctxs.push_back(&c);
  return s;
}

}  // namespace

Context* current_ctx() { return t_state.depth > 0 ? t_state.stack[t_state.depth - 1] : nullptr; }

CUresult need_ctx(Context*& c) {
  c = current_ctx();
  if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
  if (!c->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  return CUDA_SUCCESS;
}

void wait_seq(Stream& s, u64 seq) {
  std::unique_lock lk(s.m);
  s.done_cv.wait(lk, [&] { return s.completed >= seq || g_shutdown.load(); });
}

// Joins the workers of destroyed streams that have drained.
void reap() {
  Registry& r = reg();
  std::vector<std::shared_ptr<Stream>> done;
  {
    std::lock_guard lk(r.m);
    auto it = std::partition(r.workers.begin(), r.workers.end(),
                             [](const std::shared_ptr<Stream>& s) { return !s->exited.load(); });
    done.assign(std::make_move_iterator(it), std::make_move_iterator(r.workers.end()));
    r.workers.erase(it, r.workers.end());
  }
  for (auto& s : done)
    if (s->worker.joinable()) s->worker.join();
}

std::shared_ptr<Stream> make_stream(Context* c, Kind kind, unsigned flags, int priority) {
  Registry& r = reg();
  auto s = std::make_shared<Stream>();
  s->id = r.next_id.fetch_add(1);
  s->ctx = c;
  s->kind = kind;
  s->flags = flags;
  s->priority = priority;
  Stream* raw = s.get();
  s->worker = std::thread([raw] { worker_loop(*raw); });
  std::lock_guard lk(r.m);
  r.workers.push_back(s);
  return s;
}

void mark_destroyed(Stream& s) {
  {
    std::lock_guard lk(s.m);
    s.destroyed = true;
  }
  s.work_cv.notify_all();
}

// Under c.m: forget destroyed streams that have drained.
void prune(Context& c) {
  std::erase_if(c.streams, [](const std::shared_ptr<Stream>& s) { return idle_and_destroyed(*s); });
}

void add_pending(std::vector<Dep>& deps, const std::shared_ptr<Stream>& t) {
  std::lock_guard lk(t->m);
  if (t->submitted > t->completed) deps.push_back({t, t->submitted});
}

// Enqueues op on s with CUDA's implicit synchronisation; *seq_out: its number.
CUresult enqueue(const std::shared_ptr<Stream>& sp, Op op, u64* seq_out) {
  Stream& s = *sp;
  Context& c = *s.ctx;
  std::lock_guard cl(c.m);
  if (!c.alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  if (s.kind == Kind::Legacy) {
    prune(c);
    for (const auto& t : c.streams)
      if (t->syncs_with_legacy()) add_pending(op.deps, t);
  } else if (s.syncs_with_legacy()) {
    add_pending(op.deps, c.legacy);
  }
  if (!c.waits.empty()) {
    std::erase_if(c.waits, dep_done);
    op.deps.insert(op.deps.end(), c.waits.begin(), c.waits.end());
  }
  {
    std::lock_guard sl(s.m);
    if (s.destroyed) return CUDA_ERROR_INVALID_HANDLE;
    op.seq = ++s.submitted;
    if (seq_out != nullptr) *seq_out = op.seq;
    s.queue.push_back(std::move(op));
  }
  s.work_cv.notify_one();
  return CUDA_SUCCESS;
}

// A stream handle as the driver reads it; ptsz: 0 means the per-thread stream.
CUresult resolve(CUstream h, bool ptsz, std::shared_ptr<Stream>& out) {
  if (h == nullptr) h = ptsz ? CU_STREAM_PER_THREAD : CU_STREAM_LEGACY;
  if (h == CU_STREAM_LEGACY || h == CU_STREAM_PER_THREAD) {
    Context* c = nullptr;
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
    out = h == CU_STREAM_LEGACY ? c->legacy : per_thread_stream(*c);
    return CUDA_SUCCESS;
  }
  Registry& r = reg();
  {
    std::lock_guard lk(r.m);
    auto it = r.streams.find(h);
    if (it == r.streams.end()) return CUDA_ERROR_INVALID_HANDLE;
    out = it->second;
  }
  if (!out->ctx->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  return CUDA_SUCCESS;
}

// Waits for everything enqueued on the context's streams so far.
void sync_context(Context& c) {
  std::vector<Dep> deps;
  {
    std::lock_guard lk(c.m);
    add_pending(deps, c.legacy);
    for (const auto& t : c.streams) add_pending(deps, t);
  }
  for (const Dep& d : deps) wait_seq(*d.s, d.seq);
}

namespace {

// At process exit (or dlclose): stop every worker, dropping what it had not
// started (like the real driver, which abandons queued work at exit), and join.
__attribute__((destructor)) void fake_cuda_shutdown() {
  Registry& r = reg();
  g_shutdown.store(true);
  std::vector<std::shared_ptr<Stream>> ws;
  {
    std::lock_guard lk(r.m);
    ws.swap(r.workers);  // out of reap()'s reach
  }
  for (auto& s : ws) {
    { std::lock_guard lk(s->m); }
    s->work_cv.notify_all();
    s->done_cv.notify_all();
  }
  for (auto& s : ws) {
    if (!s->worker.joinable()) continue;
    if (s->worker.get_id() == std::this_thread::get_id())
      s->worker.detach();  // exit() called from a host function
    else
      s->worker.join();
  }
  std::lock_guard lk(r.m);
  r.retired = std::move(ws);  // kept: late callers may still hold raw pointers
}

}  // namespace

}  // namespace fake_cuda

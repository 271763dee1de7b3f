// A fake CUDA driver that runs on the CPU (libfake_cuda.so), for CI tests of
// the CUDA interposer where no GPU exists. It exports the real driver's symbol
// names (CUDA 13.0) and follows CUDA's documented semantics closely enough that
// ordering bugs in an interposer show up as wrong results:
//
// - every stream (user, legacy default, per-thread default) runs its
//   operations in FIFO order on its own worker thread;
// - implicit synchronisation: an operation on a context's legacy stream waits
//   for all earlier work on the blocking streams of that context (per-thread
//   default streams included), and an operation on a blocking stream waits for
//   earlier legacy work; non-blocking streams never wait for the legacy stream;
// - events: a wait, query or synchronize uses the event's latest record made
//   before the call; an event never recorded is complete;
// - kernel arguments are copied at launch; cuMemFree and cuMemFreeHost wait
//   for every stream of the context first;
// - CUDA's "API synchronisation behaviour": synchronous copies and memsets
//   that touch host memory return when done, while cuMemcpyDtoD and memsets
//   of device memory return at once; asynchronous copies into pageable memory
//   are synchronous, and from pageable memory they stage (snapshot) the source
//   before returning; with pinned or registered memory they are asynchronous
//   and read / write it when they run;
// - green contexts (CUDA 12.4+) are contexts of their own with an SM count,
//   made from a split of the device's SMs as on compute capability 9.0; their
//   streams run like any other, and their work is logged under their own id.
// - FAKE_CUDA_DEVICES devices (1 to 8), of which CUDA_VISIBLE_DEVICES selects
//   and orders the visible ones (fake_cuda_devices.h); each has its own
//   primary context, and work of different devices may wait for each other.
//
// "Device" memory is host memory. A CUcontext, CUstream and CUevent are
// pointers to this file's objects; a CUfunction is a FakeKernel* (fake_kernel.h).
// The test-only API (fake_cuda_*) is declared in fake_cuda.h.

#define __CUDA_API_VERSION_INTERNAL 1       // exact exported names, no _v2 macros
#define __CUDA_API_PUSH_VISIBILITY_DEFAULT 1  // the declarations in cuda.h are exported
#include <cuda.h>

#define FAKE_CUDA_API __attribute__((visibility("default")))
#include "fake_cuda.h"
#include "fake_cuda_devices.h"
#include "fake_kernel.h"

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using u64 = std::uint64_t;

constexpr int kDriverVersion = 13000;
constexpr int kLeastPriority = 0;
constexpr int kGreatestPriority = -5;
constexpr size_t kTotalMemory = size_t{80} << 30;
constexpr size_t kAllocAlign = 256;
constexpr size_t kMaxCallList = size_t{1} << 20;
constexpr int kMaxCtxStack = 64;
constexpr unsigned kDefaultSmCount = 132;  // an H100 SXM
// SM partitions on compute capability 9.0: at least 8 SMs, in multiples of 8;
// CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING lowers both to 2.
constexpr unsigned kSmPartitionMin = 8;
constexpr unsigned kSmPartitionFine = 2;

u64 now_ns() {
  return static_cast<u64>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count());
}

std::atomic<bool> g_initialized{false};
std::atomic<bool> g_shutdown{false};

struct Context;
struct Stream;
struct GreenCtx;

enum class Kind { User, Legacy, PerThread };

// "Wait until stream s has completed its operation number seq."
struct Dep {
  std::shared_ptr<Stream> s;
  u64 seq;
};

struct Op {
  u64 seq = 0;
  int op = 0;  // FakeCudaOp
  const char* name = "";
  long long value = 0;
  unsigned long long bytes = 0;
  std::vector<Dep> deps;
  std::function<void()> run;
};

struct Stream {
  u64 id = 0;
  Context* ctx = nullptr;
  unsigned flags = 0;
  int priority = 0;
  Kind kind = Kind::User;

  std::mutex m;
  std::condition_variable work_cv;  // the worker waits for operations
  std::condition_variable done_cv;  // others wait for completions
  std::deque<Op> queue;             // not started yet
  u64 submitted = 0;                // seq of the last enqueued operation
  u64 completed = 0;                // seq of the last finished operation
  bool destroyed = false;           // no more operations; the worker drains and exits
  std::atomic<bool> exited{false};  // the worker has returned (or is about to)
  std::thread worker;               // joined by reap() or at shutdown

  bool syncs_with_legacy() const {
    return kind == Kind::PerThread || (kind == Kind::User && (flags & CU_STREAM_NON_BLOCKING) == 0);
  }
};

struct Context {
  u64 id = 0;
  CUdevice dev = 0;  // the visible ordinal
  std::atomic<unsigned> flags{0};
  bool primary = false;
  std::atomic<bool> alive{true};
  // Green contexts only: the CUgreenCtx handle (null for other contexts), the
  // primary context it retains and shares memory with, its SMs.
  GreenCtx* green = nullptr;
  Context* root = nullptr;
  unsigned sm_count = 0;

  std::mutex m;  // submission order of the context, the stream lists
  std::shared_ptr<Stream> legacy;
  std::vector<std::shared_ptr<Stream>> streams;  // user and per-thread streams, until destroyed and drained
  std::unordered_map<u64, std::shared_ptr<Stream>> per_thread;  // by thread uid
  // Carries the context-wide event records (cuGreenCtxRecordEvent), so that
  // they hold up none of the context's own streams. Made on first use; in `streams`.
  std::shared_ptr<Stream> marker;
  // cuGreenCtxWaitEvent: every later operation of the context waits for these.
  std::vector<Dep> waits;
};

// A CUgreenCtx: the handle of a green context, distinct from the CUcontext
// that cuCtxFromGreenCtx returns (its Context).
struct GreenCtx {
  Context* ctx = nullptr;
};

// A CUdevResourceDesc: what cuGreenCtxCreate provisions.
struct ResourceDesc {
  CUdevice dev = 0;
  unsigned sm_count = 0;
};

struct Record {
  std::shared_ptr<Stream> s;
  u64 seq = 0;
  std::atomic<u64> time_ns{0};
};

struct Event {
  u64 id = 0;
  Context* ctx = nullptr;
  unsigned flags = 0;
  std::mutex m;
  std::shared_ptr<Record> last;  // latest record; null: never recorded
};

enum class AllocKind { Device, HostPinned, HostRegistered };

struct Alloc {
  size_t size = 0;
  Context* ctx = nullptr;
  AllocKind kind = AllocKind::Device;
  bool freeing = false;  // a free is under way (cuMemFree waiting, cuMemFreeAsync queued)
};

struct Injection {
  CUresult err = CUDA_SUCCESS;
  unsigned count = 0;
};

// Everything global. Never destroyed (late calls from other libraries'
// destructors find it intact and are answered CUDA_ERROR_DEINITIALIZED).
// Lock order: Context::m -> Registry::m -> Stream::m; alloc_m, log_m,
// count_m and Event::m are leaves.
struct Registry {
  std::mutex m;
  std::unordered_map<CUstream, std::shared_ptr<Stream>> streams;
  std::unordered_map<CUevent, std::shared_ptr<Event>> events;
  std::vector<std::unique_ptr<Context>> contexts;  // every context ever made; never freed
  std::vector<std::unique_ptr<GreenCtx>> greens;   // every green context handle; never freed
  std::vector<std::unique_ptr<ResourceDesc>> descs;  // CUDA has no call that frees one
  // By visible ordinal: each device's primary context (made on first use) and its references.
  std::array<Context*, fake_cuda::kMaxDevices> primary{};
  std::array<int, fake_cuda::kMaxDevices> primary_refs{};
  std::vector<std::shared_ptr<Stream>> workers;  // streams whose thread is not joined yet
  std::vector<std::shared_ptr<Stream>> retired;  // joined at shutdown

  std::mutex alloc_m;
  std::map<uintptr_t, Alloc> allocs;
  size_t device_bytes = 0;

  std::mutex log_m;
  std::vector<FakeCudaLogEntry> log;
  u64 log_gen = 0;

  std::mutex count_m;
  std::map<std::string, u64, std::less<>> calls;
  std::vector<const char*> call_list;
  std::map<std::string, Injection, std::less<>> injections;

  // Kernels made lazy by fake_cuda_set_unloaded and not loaded since.
  std::mutex lazy_m;
  std::set<const void*> unloaded;

  std::atomic<u64> launches{0};
  std::atomic<unsigned> launch_delay_us{0};
  std::atomic<u64> next_id{1};
  std::atomic<unsigned> sm_count{kDefaultSmCount};
  std::atomic<bool> green_supported{true};
};

Registry& reg() {
  static Registry* r = new Registry;
  return *r;
}

// ---- threads: current context stack, per-thread default streams ----

struct ThreadState {
  Context* stack[kMaxCtxStack];
  int depth;
  u64 uid;
  CUstreamCaptureMode capture_mode;
};
thread_local ThreadState t_state{};  // trivially destructible

u64 thread_uid() {
  if (t_state.uid == 0) t_state.uid = reg().next_id.fetch_add(1);
  return t_state.uid;
}

Context* current_ctx() { return t_state.depth > 0 ? t_state.stack[t_state.depth - 1] : nullptr; }

CUresult need_ctx(Context*& c) {
  c = current_ctx();
  if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
  if (!c->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  return CUDA_SUCCESS;
}

bool known_ctx(Context* c) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  for (const auto& p : r.contexts)
    if (p.get() == c) return true;
  return false;
}

void release_per_thread(Context& c, u64 uid);

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

// ---- the op log ----

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

// ---- streams ----

void wait_seq(Stream& s, u64 seq) {
  std::unique_lock lk(s.m);
  s.done_cv.wait(lk, [&] { return s.completed >= seq || g_shutdown.load(); });
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

bool idle_and_destroyed(Stream& s) {
  std::lock_guard lk(s.m);
  return s.destroyed && s.completed == s.submitted;
}

// Under c.m: forget destroyed streams that have drained.
void prune(Context& c) {
  std::erase_if(c.streams, [](const std::shared_ptr<Stream>& s) { return idle_and_destroyed(*s); });
}

void add_pending(std::vector<Dep>& deps, const std::shared_ptr<Stream>& t) {
  std::lock_guard lk(t->m);
  if (t->submitted > t->completed) deps.push_back({t, t->submitted});
}

bool dep_done(const Dep& d) {
  std::lock_guard lk(d.s->m);
  return d.s->completed >= d.seq;
}

// Enqueues op on s with CUDA's implicit synchronisation; *seq_out: its number.
CUresult enqueue(const std::shared_ptr<Stream>& sp, Op op, u64* seq_out = nullptr) {
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

bool is_unloaded(const void* f) {
  Registry& r = reg();
  std::lock_guard lk(r.lazy_m);
  return r.unloaded.count(f) != 0;
}

// Loads a lazy kernel like the real driver does with lazy loading: after
// everything enqueued on the context's streams so far.
void load_kernel(Context& c, const void* f) {
  if (!is_unloaded(f)) return;
  sync_context(c);
  Registry& r = reg();
  std::lock_guard lk(r.lazy_m);
  r.unloaded.erase(f);
}

// ---- contexts ----

// The devices this process sees (CUDA_VISIBLE_DEVICES); a CUdevice is an index into them.
int visible_count() { return static_cast<int>(fake_cuda::visible_devices().size()); }

bool valid_device(CUdevice dev) { return dev >= 0 && dev < visible_count(); }

// The physical device behind a valid visible ordinal: what its UUID and name come from.
int physical_device(CUdevice dev) { return fake_cuda::visible_devices()[static_cast<size_t>(dev)]; }

// dev: a valid visible ordinal. green, root, sm_count: for a green context (see Context).
Context* make_context(CUdevice dev, unsigned flags, bool primary, GreenCtx* green = nullptr, Context* root = nullptr,
                      unsigned sm_count = 0) {
  Registry& r = reg();
  auto c = std::make_unique<Context>();
  c->id = r.next_id.fetch_add(1);
  c->dev = dev;
  c->flags = flags;
  c->primary = primary;
  c->green = green;
  c->root = root;
  c->sm_count = sm_count;
  c->legacy = make_stream(c.get(), Kind::Legacy, 0, 0);
  Context* raw = c.get();
  std::lock_guard lk(r.m);
  r.contexts.push_back(std::move(c));
  return raw;
}

CUresult push_ctx(Context* c) {
  if (t_state.depth >= kMaxCtxStack) return CUDA_ERROR_INVALID_VALUE;
  t_state.stack[t_state.depth++] = c;
  return CUDA_SUCCESS;
}

void destroy_context(Context& c) {
  sync_context(c);
  std::vector<std::shared_ptr<Stream>> ss;
  {
    std::lock_guard lk(c.m);
    c.alive.store(false);
    ss = c.streams;
    ss.push_back(c.legacy);
    c.per_thread.clear();
    c.waits.clear();
  }
  Registry& r = reg();
  {
    std::lock_guard lk(r.m);
    // A green context's streams outlive it as handles: calls on them,
    // cuStreamDestroy included, answer CUDA_ERROR_CONTEXT_IS_DESTROYED (cuda.h).
    if (c.green == nullptr) std::erase_if(r.streams, [&](const auto& kv) { return kv.second->ctx == &c; });
    std::erase_if(r.events, [&](const auto& kv) { return kv.second->ctx == &c; });
  }
  for (auto& s : ss) mark_destroyed(*s);
  reap();
}

// The primary context of device dev (a valid visible ordinal), made with
// `flags` on first use.
Context* primary_of(CUdevice dev, unsigned flags) {
  Registry& r = reg();
  Context*& slot = r.primary[static_cast<size_t>(dev)];
  {
    std::lock_guard lk(r.m);
    if (slot != nullptr) return slot;
  }
  Context* made = make_context(dev, flags, true);
  std::lock_guard lk(r.m);
  if (slot == nullptr) slot = made;
  if (slot != made) {  // lost a race: retire the spare
    made->alive.store(false);
    mark_destroyed(*made->legacy);
  }
  return slot;
}

// The device's primary context, made on first use; one more reference to it.
Context* retain_primary(CUdevice dev) {
  Context* c = primary_of(dev, 0);
  Registry& r = reg();
  std::lock_guard lk(r.m);
  ++r.primary_refs[static_cast<size_t>(dev)];
  return c;
}

// Waits for the work that may use memory of context c: its own, and where c is
// the primary context or one of its green contexts, that of all of them (they
// share the primary context's memory).
void sync_memory_users(Context& c) {
  Context* root = c.green != nullptr ? c.root : &c;
  std::vector<Context*> users;
  {
    Registry& r = reg();
    std::lock_guard lk(r.m);
    for (const auto& p : r.contexts)
      if (p.get() == root || (p->green != nullptr && p->root == root)) users.push_back(p.get());
  }
  for (Context* u : users) sync_context(*u);
}

// ---- memory ----

// The allocation that holds [p, p + n), or null.
Alloc* find_alloc(Registry& r, uintptr_t p, size_t n, uintptr_t* base = nullptr) {
  auto it = r.allocs.upper_bound(p);
  if (it == r.allocs.begin()) return nullptr;
  --it;
  const uintptr_t off = p - it->first;
  if (off >= it->second.size || n > it->second.size - off) return nullptr;  // p itself must be inside
  if (base != nullptr) *base = it->first;
  return &it->second;
}

// A device-accessible range: device memory, or pinned / registered host memory.
bool valid_dptr(CUdeviceptr p, size_t n) {
  if (p == 0) return false;
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  const Alloc* a = find_alloc(r, static_cast<uintptr_t>(p), n);
  return a != nullptr && !a->freeing;
}

bool is_device(uintptr_t p) {
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  const Alloc* a = find_alloc(r, p, 0);
  return a != nullptr && a->kind == AllocKind::Device;
}

// Ordinary host memory: neither device memory nor pinned or registered.
bool is_pageable(uintptr_t p) {
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  return find_alloc(r, p, 0) == nullptr;
}

void* alloc_block(size_t n) {
  const size_t rounded = (n + kAllocAlign - 1) / kAllocAlign * kAllocAlign;
  void* p = std::aligned_alloc(kAllocAlign, rounded);
  if (p != nullptr) std::memset(p, 0xA5, rounded);  // device memory is not zeroed
  return p;
}

CUresult mem_alloc(CUdeviceptr* dptr, size_t n, Context* c, AllocKind kind) {
  if (n == 0) return CUDA_ERROR_INVALID_VALUE;
  Registry& r = reg();
  if (kind == AllocKind::Device && n > kTotalMemory) return CUDA_ERROR_OUT_OF_MEMORY;
  void* p = alloc_block(n);
  if (p == nullptr) return CUDA_ERROR_OUT_OF_MEMORY;
  std::lock_guard lk(r.alloc_m);
  r.allocs[reinterpret_cast<uintptr_t>(p)] = Alloc{n, c, kind, false};
  if (kind == AllocKind::Device) r.device_bytes += n;
  *dptr = reinterpret_cast<CUdeviceptr>(p);
  return CUDA_SUCCESS;
}

// Claims the allocation that starts at p for freeing; returns its context.
CUresult claim_free(uintptr_t p, AllocKind kind, Context*& ctx) {
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  auto it = r.allocs.find(p);
  if (it == r.allocs.end() || it->second.kind != kind || it->second.freeing) return CUDA_ERROR_INVALID_VALUE;
  it->second.freeing = true;
  ctx = it->second.ctx;
  return CUDA_SUCCESS;
}

void finish_free(uintptr_t p) {
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  auto it = r.allocs.find(p);
  if (it == r.allocs.end()) return;
  if (it->second.kind == AllocKind::Device) r.device_bytes -= it->second.size;
  if (it->second.kind != AllocKind::HostRegistered) std::free(reinterpret_cast<void*>(p));
  r.allocs.erase(it);
}

CUresult mem_free_sync(CUdeviceptr p, AllocKind kind) {
  Context* c = nullptr;
  if (CUresult e = claim_free(static_cast<uintptr_t>(p), kind, c); e != CUDA_SUCCESS) return e;
  sync_memory_users(*c);  // like the real driver: the memory may be in use by queued work
  finish_free(static_cast<uintptr_t>(p));
  return CUDA_SUCCESS;
}

// A copy or memset as a stream operation; wait: return only when it is done.
CUresult submit_and_maybe_wait(const std::shared_ptr<Stream>& s, Op op, bool wait) {
  u64 seq = 0;
  if (CUresult e = enqueue(s, std::move(op), &seq); e != CUDA_SUCCESS) return e;
  if (wait) wait_seq(*s, seq);
  return CUDA_SUCCESS;
}

Op copy_op(const char* name, void* dst, const void* src, size_t n) {
  Op op;
  op.op = FAKE_OP_MEMCPY;
  op.name = name;
  op.bytes = n;
  op.run = [dst, src, n] {
    if (n != 0) std::memmove(dst, src, n);
  };
  return op;
}

enum class CopyDir { HtoD, DtoH, DtoD, Any };

CUresult memcpy_common(CopyDir dir, uintptr_t dst, uintptr_t src, size_t n, CUstream h, bool async, bool per_thread) {
  if (n != 0 && (dst == 0 || src == 0)) return CUDA_ERROR_INVALID_VALUE;
  if (n != 0 && (dir == CopyDir::HtoD || dir == CopyDir::DtoD) && !valid_dptr(dst, n)) return CUDA_ERROR_INVALID_VALUE;
  if (n != 0 && (dir == CopyDir::DtoH || dir == CopyDir::DtoD) && !valid_dptr(src, n)) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(async ? h : nullptr, per_thread, s); e != CUDA_SUCCESS) return e;
  static constexpr const char* kNames[] = {"memcpy_htod", "memcpy_dtoh", "memcpy_dtod", "memcpy"};
  const char* name = kNames[static_cast<int>(dir)];
  bool wait = false;
  if (!async) {
    // Synchronous copies: device to device is asynchronous to the host; every
    // copy that involves host memory (pinned included) returns when it is done.
    wait = !(is_device(dst) && is_device(src));
  } else if (n != 0 && is_pageable(dst)) {
    // Asynchronous copies into pageable memory are synchronous, as the real driver's are.
    wait = true;
  } else if (n != 0 && is_pageable(src)) {
    // From pageable memory the real driver stages the data before it returns:
    // the caller may reuse its buffer at once. Snapshot it.
    auto staged = std::make_shared<std::vector<unsigned char>>(reinterpret_cast<const unsigned char*>(src),
                                                                reinterpret_cast<const unsigned char*>(src) + n);
    Op op;
    op.op = FAKE_OP_MEMCPY;
    op.name = name;
    op.bytes = n;
    void* d = reinterpret_cast<void*>(dst);
    op.run = [d, staged] { std::memcpy(d, staged->data(), staged->size()); };
    return submit_and_maybe_wait(s, std::move(op), false);
  }
  return submit_and_maybe_wait(s, copy_op(name, reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n),
                               wait);
}

template <class T>
CUresult memset_common(CUdeviceptr dst, T value, size_t count, CUstream h, bool async, bool per_thread) {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4);
  if (dst % sizeof(T) != 0) return CUDA_ERROR_INVALID_VALUE;
  if (count > SIZE_MAX / sizeof(T)) return CUDA_ERROR_INVALID_VALUE;
  const size_t bytes = count * sizeof(T);
  if (count != 0 && !valid_dptr(dst, bytes)) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(async ? h : nullptr, per_thread, s); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_MEMSET;
  op.name = sizeof(T) == 1 ? "memset_d8" : sizeof(T) == 2 ? "memset_d16" : "memset_d32";
  op.value = static_cast<long long>(value);
  op.bytes = bytes;
  T* p = reinterpret_cast<T*>(dst);
  op.run = [p, value, count] { std::fill(p, p + count, value); };
  // A synchronous memset is asynchronous to the host unless it targets host memory.
  const bool wait = !async && count != 0 && !is_device(static_cast<uintptr_t>(dst));
  return submit_and_maybe_wait(s, std::move(op), wait);
}

// ---- kernels ----

struct Layout {
  size_t off[FAKE_KERNEL_MAX_PARAMS];
  size_t total;
};

size_t natural_align(size_t size) {
  size_t a = 1;
  while (a < 8 && size % (a * 2) == 0) a *= 2;
  return a;
}

CUresult layout_of(const FakeKernel& k, Layout& l) {
  if (k.num_params > FAKE_KERNEL_MAX_PARAMS) return CUDA_ERROR_INVALID_VALUE;
  size_t off = 0;
  for (unsigned i = 0; i < k.num_params; ++i) {
    const size_t a = k.param_align[i] != 0 ? k.param_align[i] : natural_align(k.param_size[i]);
    off = (off + a - 1) / a * a;
    l.off[i] = off;
    off += k.param_size[i];
  }
  l.total = off;
  return CUDA_SUCCESS;
}

long long read_int(const unsigned char* p, size_t size) {
  switch (size) {
    case 1: {
      std::int8_t v;
      std::memcpy(&v, p, 1);
      return v;
    }
    case 2: {
      std::int16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case 4: {
      std::int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case 8: {
      std::int64_t v;
      std::memcpy(&v, p, 8);
      return v;
    }
    default:
      return 0;
  }
}

struct LaunchDims {
  unsigned grid[3];
  unsigned block[3];
  unsigned shared_mem;
};

CUresult launch(CUfunction f, const LaunchDims& d, CUstream h, void** params, void** extra, bool ptsz) {
  const auto* k = reinterpret_cast<const FakeKernel*>(f);
  if (k == nullptr || k->fn == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  Layout l{};
  if (CUresult e = layout_of(*k, l); e != CUDA_SUCCESS) return e;
  if (d.grid[0] == 0 || d.grid[1] == 0 || d.grid[2] == 0 || d.block[0] == 0 || d.block[1] == 0 || d.block[2] == 0)
    return CUDA_ERROR_INVALID_VALUE;
  if (d.grid[1] > 65535 || d.grid[2] > 65535 || d.block[0] > 1024 || d.block[1] > 1024 || d.block[2] > 64 ||
      u64{d.block[0]} * d.block[1] * d.block[2] > 1024)
    return CUDA_ERROR_INVALID_VALUE;
  if (d.shared_mem > 227 * 1024) return CUDA_ERROR_INVALID_VALUE;
  if (params != nullptr && extra != nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (is_unloaded(k)) {
    Context* c = nullptr;
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
    load_kernel(*c, k);
  }

  // Copy the arguments now, as the real driver does.
  std::vector<unsigned char> buf(std::max<size_t>(l.total, 1));
  if (params != nullptr) {
    for (unsigned i = 0; i < k->num_params; ++i) {
      if (params[i] == nullptr) return CUDA_ERROR_INVALID_VALUE;
      std::memcpy(buf.data() + l.off[i], params[i], k->param_size[i]);
    }
  } else if (extra != nullptr) {
    void* ptr = nullptr;
    const size_t* size = nullptr;
    for (int i = 0;; i += 2) {
      if (i >= 64) return CUDA_ERROR_INVALID_VALUE;
      if (extra[i] == CU_LAUNCH_PARAM_END) break;
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
        ptr = extra[i + 1];
      else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
        size = static_cast<const size_t*>(extra[i + 1]);
      else
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (k->num_params > 0) {
      if (ptr == nullptr || size == nullptr || *size < l.total) return CUDA_ERROR_INVALID_VALUE;
      std::memcpy(buf.data(), ptr, l.total);
    }
  } else if (k->num_params > 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }

  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;

  if (unsigned us = reg().launch_delay_us.load(); us != 0) std::this_thread::sleep_for(std::chrono::microseconds(us));

  Op op;
  op.op = FAKE_OP_KERNEL;
  op.name = k->name != nullptr ? k->name : "kernel";
  if (k->log_param >= 0 && static_cast<unsigned>(k->log_param) < k->num_params)
    op.value = read_int(buf.data() + l.off[k->log_param], k->param_size[k->log_param]);
  FakeLaunch fl{};
  std::copy(d.grid, d.grid + 3, fl.grid);
  std::copy(d.block, d.block + 3, fl.block);
  fl.shared_mem_bytes = d.shared_mem;
  fl.stream_id = s->id;
  fl.ctx = reinterpret_cast<CUcontext>(s->ctx);
  op.run = [k, l, fl, buf = std::move(buf)]() mutable {
    void* ptrs[FAKE_KERNEL_MAX_PARAMS] = {};
    for (unsigned i = 0; i < k->num_params; ++i) ptrs[i] = buf.data() + l.off[i];
    k->fn(ptrs, fl);
  };
  if (CUresult e = enqueue(s, std::move(op)); e != CUDA_SUCCESS) return e;
  reg().launches.fetch_add(1);
  return CUDA_SUCCESS;
}

CUresult launch_ex(const CUlaunchConfig* config, CUfunction f, void** params, void** extra, bool ptsz) {
  if (config == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const LaunchDims d{{config->gridDimX, config->gridDimY, config->gridDimZ},
                     {config->blockDimX, config->blockDimY, config->blockDimZ},
                     config->sharedMemBytes};
  return launch(f, d, config->hStream, params, extra, ptsz);
}

// ---- stream operations ----

CUresult host_func(CUstream h, CUhostFn fn, void* data, bool ptsz) {
  if (fn == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_HOST_FUNC;
  op.name = "host_func";
  op.run = [fn, data] { fn(data); };
  return enqueue(s, std::move(op));
}

CUresult add_callback(CUstream h, CUstreamCallback cb, void* data, unsigned flags, bool ptsz) {
  if (cb == nullptr || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_HOST_FUNC;
  op.name = "callback";
  op.run = [cb, h, data] { cb(h, CUDA_SUCCESS, data); };
  return enqueue(s, std::move(op));
}

template <class T>
bool wait_satisfied(T cur, T value, unsigned cond) {
  using S = std::make_signed_t<T>;
  switch (cond) {
    case CU_STREAM_WAIT_VALUE_GEQ:
      return static_cast<S>(cur - value) >= 0;
    case CU_STREAM_WAIT_VALUE_EQ:
      return cur == value;
    case CU_STREAM_WAIT_VALUE_AND:
      return (cur & value) != 0;
    default:  // NOR
      return static_cast<T>(~(cur | value)) != 0;
  }
}

template <class T>
CUresult wait_value(CUstream h, CUdeviceptr addr, T value, unsigned flags, bool ptsz) {
  if ((flags & ~(0x3u | CU_STREAM_WAIT_VALUE_FLUSH)) != 0) return CUDA_ERROR_INVALID_VALUE;
  if (addr % sizeof(T) != 0 || !valid_dptr(addr, sizeof(T))) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_WAIT_VALUE;
  op.name = sizeof(T) == 4 ? "wait_value32" : "wait_value64";
  op.value = static_cast<long long>(value);
  op.bytes = sizeof(T);
  T* p = reinterpret_cast<T*>(addr);
  const unsigned cond = flags & 0x3u;
  op.run = [p, value, cond] {
    std::atomic_ref<T> word(*p);
    for (unsigned spins = 0; !g_shutdown.load(); ++spins) {
      if (wait_satisfied<T>(word.load(std::memory_order_acquire), value, cond)) return;
      if (spins < 200)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  };
  return enqueue(s, std::move(op));
}

template <class T>
CUresult write_value(CUstream h, CUdeviceptr addr, T value, unsigned flags, bool ptsz) {
  if ((flags & ~static_cast<unsigned>(CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER)) != 0) return CUDA_ERROR_INVALID_VALUE;
  if (addr % sizeof(T) != 0 || !valid_dptr(addr, sizeof(T))) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_WRITE_VALUE;
  op.name = sizeof(T) == 4 ? "write_value32" : "write_value64";
  op.value = static_cast<long long>(value);
  op.bytes = sizeof(T);
  T* p = reinterpret_cast<T*>(addr);
  op.run = [p, value] { std::atomic_ref<T>(*p).store(value, std::memory_order_release); };
  return enqueue(s, std::move(op));
}

CUresult stream_query(CUstream h, bool ptsz) {
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  std::lock_guard lk(s->m);
  return s->completed == s->submitted ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult stream_sync(CUstream h, bool ptsz) {
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  u64 seq = 0;
  {
    std::lock_guard lk(s->m);
    seq = s->submitted;
  }
  wait_seq(*s, seq);
  return CUDA_SUCCESS;
}

template <class F>
CUresult with_stream(CUstream h, bool ptsz, F&& f) {
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  f(*s);
  return CUDA_SUCCESS;
}

// ---- events ----

CUresult find_event(CUevent e, std::shared_ptr<Event>& out) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  auto it = r.events.find(e);
  if (it == r.events.end()) return CUDA_ERROR_INVALID_HANDLE;
  out = it->second;
  return CUDA_SUCCESS;
}

std::shared_ptr<Record> last_record(Event& ev) {
  std::lock_guard lk(ev.m);
  return ev.last;
}

bool record_done(const Record& rec) {
  std::lock_guard lk(rec.s->m);
  return rec.s->completed >= rec.seq;
}

// Records ev on s, after s's earlier work and `deps`.
CUresult record_on(Event& ev, const std::shared_ptr<Stream>& s, std::vector<Dep> deps) {
  auto rec = std::make_shared<Record>();
  rec->s = s;
  Op op;
  op.op = FAKE_OP_EVENT_RECORD;
  op.name = "event_record";
  op.value = static_cast<long long>(ev.id);
  op.deps = std::move(deps);
  op.run = [rec] { rec->time_ns.store(now_ns()); };
  u64 seq = 0;
  if (CUresult err = enqueue(s, std::move(op), &seq); err != CUDA_SUCCESS) return err;
  rec->seq = seq;
  std::lock_guard lk(ev.m);
  ev.last = std::move(rec);
  return CUDA_SUCCESS;
}

CUresult event_record(CUevent e, CUstream h, unsigned flags, bool ptsz) {
  if ((flags & ~static_cast<unsigned>(CU_EVENT_RECORD_EXTERNAL)) != 0) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Event> ev;
  if (CUresult err = find_event(e, ev); err != CUDA_SUCCESS) return err;
  std::shared_ptr<Stream> s;
  if (CUresult err = resolve(h, ptsz, s); err != CUDA_SUCCESS) return err;
  return record_on(*ev, s, {});
}

CUresult stream_wait_event(CUstream h, CUevent e, unsigned flags, bool ptsz) {
  if ((flags & ~static_cast<unsigned>(CU_EVENT_WAIT_EXTERNAL)) != 0) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Event> ev;
  if (CUresult err = find_event(e, ev); err != CUDA_SUCCESS) return err;
  std::shared_ptr<Stream> s;
  if (CUresult err = resolve(h, ptsz, s); err != CUDA_SUCCESS) return err;
  Op op;
  op.op = FAKE_OP_EVENT_WAIT;
  op.name = "event_wait";
  op.value = static_cast<long long>(ev->id);
  if (auto rec = last_record(*ev)) op.deps.push_back({rec->s, rec->seq});  // the latest record, now
  return enqueue(s, std::move(op));
}

CUresult elapsed_time(float* ms, CUevent start, CUevent end) {
  if (ms == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Event> a, b;
  if (CUresult e = find_event(start, a); e != CUDA_SUCCESS) return e;
  if (CUresult e = find_event(end, b); e != CUDA_SUCCESS) return e;
  if (((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING) != 0) return CUDA_ERROR_INVALID_HANDLE;
  auto ra = last_record(*a);
  auto rb = last_record(*b);
  if (!ra || !rb) return CUDA_ERROR_INVALID_HANDLE;
  if (!record_done(*ra) || !record_done(*rb)) return CUDA_ERROR_NOT_READY;
  const double d = static_cast<double>(static_cast<long long>(rb->time_ns.load() - ra->time_ns.load()));
  *ms = static_cast<float>(d / 1e6);
  return CUDA_SUCCESS;
}

// ---- async allocation ----

CUresult mem_alloc_async(CUdeviceptr* dptr, size_t n, CUstream h, bool ptsz) {
  if (dptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  if (CUresult e = mem_alloc(dptr, n, s->ctx, AllocKind::Device); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_MEM_ALLOC;
  op.name = "mem_alloc_async";
  op.bytes = n;
  if (CUresult e = enqueue(s, std::move(op)); e != CUDA_SUCCESS) {
    finish_free(static_cast<uintptr_t>(*dptr));
    *dptr = 0;
    return e;
  }
  return CUDA_SUCCESS;
}

CUresult mem_free_async(CUdeviceptr p, CUstream h, bool ptsz) {
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  Context* c = nullptr;
  if (CUresult e = claim_free(static_cast<uintptr_t>(p), AllocKind::Device, c); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_MEM_FREE;
  op.name = "mem_free_async";
  const auto up = static_cast<uintptr_t>(p);
  op.run = [up] { finish_free(up); };
  if (CUresult e = enqueue(s, std::move(op)); e != CUDA_SUCCESS) {
    std::lock_guard lk(reg().alloc_m);
    if (Alloc* a = find_alloc(reg(), up, 0)) a->freeing = false;
    return e;
  }
  return CUDA_SUCCESS;
}

// ---- entry bookkeeping ----

CUresult entry(const char* fn) {
  if (g_shutdown.load(std::memory_order_relaxed)) return CUDA_ERROR_DEINITIALIZED;
  Registry& r = reg();
  std::lock_guard lk(r.count_m);
  auto it = r.calls.find(std::string_view(fn));
  if (it == r.calls.end())
    r.calls.emplace(fn, 1);
  else
    ++it->second;
  if (r.call_list.size() < kMaxCallList) r.call_list.push_back(fn);
  if (!r.injections.empty()) {
    auto inj = r.injections.find(std::string_view(fn));
    if (inj != r.injections.end()) {
      const CUresult err = inj->second.err;
      if (--inj->second.count == 0) r.injections.erase(inj);
      return err;
    }
  }
  return CUDA_SUCCESS;
}

CUresult entry_init(const char* fn) {
  if (CUresult e = entry(fn); e != CUDA_SUCCESS) return e;
  return g_initialized.load() ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

// ---- cuGetProcAddress ----

void* self_handle() {
  static void* h = [] {
    void* handle = nullptr;
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&self_handle), &info) != 0 && info.dli_fname != nullptr)
      handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (handle == nullptr) handle = dlopen("libfake_cuda.so", RTLD_LAZY | RTLD_NOLOAD);
    return handle;
  }();
  return h;
}

void* self_sym(const std::string& name) {
  void* h = self_handle();
  return h != nullptr ? dlsym(h, name.c_str()) : nullptr;
}

// Versioned entry points: base name, suffix of the export, first CUDA version.
struct VersionEntry {
  const char* base;
  const char* suffix;
  int since;
};

constexpr VersionEntry kVersions[] = {
    {"cuCtxCreate", "", 2000},
    {"cuCtxCreate", "_v2", 3020},
    {"cuCtxCreate", "_v3", 11040},
    {"cuCtxCreate", "_v4", 12050},
    {"cuCtxDestroy", "", 2000},
    {"cuCtxDestroy", "_v2", 4000},
    {"cuCtxPushCurrent", "", 2000},
    {"cuCtxPushCurrent", "_v2", 4000},
    {"cuCtxPopCurrent", "", 2000},
    {"cuCtxPopCurrent", "_v2", 4000},
    {"cuCtxSynchronize", "", 2000},
    {"cuCtxSynchronize", "_v2", 13000},
    {"cuCtxGetDevice", "", 2000},
    {"cuCtxGetDevice", "_v2", 13000},
    {"cuDeviceTotalMem", "", 2000},
    {"cuDeviceTotalMem", "_v2", 3020},
    {"cuDevicePrimaryCtxRelease", "", 7000},
    {"cuDevicePrimaryCtxRelease", "_v2", 11000},
    {"cuDevicePrimaryCtxSetFlags", "", 7000},
    {"cuDevicePrimaryCtxSetFlags", "_v2", 11000},
    {"cuMemGetInfo", "", 2000},
    {"cuMemGetInfo", "_v2", 3020},
    {"cuMemAlloc", "", 2000},
    {"cuMemAlloc", "_v2", 3020},
    {"cuMemFree", "", 2000},
    {"cuMemFree", "_v2", 3020},
    {"cuMemAllocHost", "", 2000},
    {"cuMemAllocHost", "_v2", 3020},
    {"cuMemHostGetDevicePointer", "", 2020},
    {"cuMemHostGetDevicePointer", "_v2", 3020},
    {"cuMemHostRegister", "", 4000},
    {"cuMemHostRegister", "_v2", 6050},
    {"cuMemcpyHtoD", "", 2000},
    {"cuMemcpyHtoD", "_v2", 3020},
    {"cuMemcpyDtoH", "", 2000},
    {"cuMemcpyDtoH", "_v2", 3020},
    {"cuMemcpyDtoD", "", 2000},
    {"cuMemcpyDtoD", "_v2", 3020},
    {"cuMemcpyHtoDAsync", "", 2000},
    {"cuMemcpyHtoDAsync", "_v2", 3020},
    {"cuMemcpyDtoHAsync", "", 2000},
    {"cuMemcpyDtoHAsync", "_v2", 3020},
    {"cuMemcpyDtoDAsync", "", 3000},
    {"cuMemcpyDtoDAsync", "_v2", 3020},
    {"cuMemsetD8", "", 2000},
    {"cuMemsetD8", "_v2", 3020},
    {"cuMemsetD16", "", 2000},
    {"cuMemsetD16", "_v2", 3020},
    {"cuMemsetD32", "", 2000},
    {"cuMemsetD32", "_v2", 3020},
    {"cuStreamDestroy", "", 2000},
    {"cuStreamDestroy", "_v2", 4000},
    {"cuEventDestroy", "", 2000},
    {"cuEventDestroy", "_v2", 4000},
    {"cuEventElapsedTime", "", 2000},
    {"cuEventElapsedTime", "_v2", 12080},
    {"cuStreamGetCtx", "", 9020},
    {"cuStreamGetCtx", "_v2", 12050},
    {"cuStreamWaitValue32", "", 8000},
    {"cuStreamWaitValue32", "_v2", 11070},
    {"cuStreamWriteValue32", "", 8000},
    {"cuStreamWriteValue32", "_v2", 11070},
    {"cuStreamWaitValue64", "", 9000},
    {"cuStreamWaitValue64", "_v2", 11070},
    {"cuStreamWriteValue64", "", 9000},
    {"cuStreamWriteValue64", "_v2", 11070},
    {"cuStreamGetCaptureInfo", "", 10010},
    {"cuStreamGetCaptureInfo", "_v2", 11030},
    {"cuStreamGetCaptureInfo", "_v3", 12030},
    {"cuGetProcAddress", "", 11030},
    {"cuGetProcAddress", "_v2", 12000},
};

bool has_version_suffix(std::string_view n) {
  if (n.ends_with("_ptsz") || n.ends_with("_ptds")) return true;
  const size_t pos = n.rfind("_v");
  if (pos == std::string_view::npos || pos + 2 >= n.size()) return false;
  for (size_t i = pos + 2; i < n.size(); ++i)
    if (n[i] < '0' || n[i] > '9') return false;
  return true;
}

CUresult get_proc(const char* symbol, void** pfn, int version, cuuint64_t flags,
                  CUdriverProcAddressQueryResult* status) {
  if (symbol == nullptr || pfn == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *pfn = nullptr;
  auto set_status = [&](CUdriverProcAddressQueryResult v) {
    if (status != nullptr) *status = v;
  };
  if ((flags & ~static_cast<cuuint64_t>(CU_GET_PROC_ADDRESS_LEGACY_STREAM |
                                        CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM)) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  const std::string_view base(symbol);
  if (!base.starts_with("cu") || has_version_suffix(base)) {
    set_status(CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    return CUDA_ERROR_NOT_FOUND;
  }
  std::string name(base);
  const VersionEntry* best = nullptr;
  bool versioned = false;
  for (const VersionEntry& v : kVersions) {
    if (base != v.base) continue;
    versioned = true;
    if (v.since <= version && (best == nullptr || v.since > best->since)) best = &v;
  }
  if (versioned) {
    if (best == nullptr) {
      set_status(CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
      return CUDA_ERROR_NOT_FOUND;
    }
    name += best->suffix;
  }
  void* p = nullptr;
  if ((flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0) {
    p = self_sym(name + "_ptsz");
    if (p == nullptr) p = self_sym(name + "_ptds");
  }
  if (p == nullptr) p = self_sym(name);
  if (p == nullptr) {
    set_status(CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    return CUDA_ERROR_NOT_FOUND;
  }
  *pfn = p;
  set_status(CU_GET_PROC_ADDRESS_SUCCESS);
  return CUDA_SUCCESS;
}

// ---- errors ----

struct ErrorInfo {
  CUresult code;
  const char* name;
  const char* text;
};

constexpr ErrorInfo kErrors[] = {
#include "fake_cuda_errors.inc"
};

const ErrorInfo* error_info(CUresult e) {
  for (const ErrorInfo& i : kErrors)
    if (i.code == e) return &i;
  return nullptr;
}

// ---- shutdown ----

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

#define FAKE_ENTRY()                                            \
  do {                                                          \
    if (const CUresult fake_e_ = entry(__func__); fake_e_ != CUDA_SUCCESS) \
      return fake_e_;                                           \
  } while (0)

#define FAKE_ENTRY_INIT()                                            \
  do {                                                               \
    if (const CUresult fake_e_ = entry_init(__func__); fake_e_ != CUDA_SUCCESS) \
      return fake_e_;                                                \
  } while (0)

// A driver function whose whole body is one call after the entry checks.
#define FAKE_BODY(call) \
  {                     \
    FAKE_ENTRY_INIT();  \
    return call;        \
  }

// ======================= initialisation and devices =======================

FAKE_EXPORT CUresult CUDAAPI cuInit(unsigned int Flags) {
  FAKE_ENTRY();
  if (Flags != 0) return CUDA_ERROR_INVALID_VALUE;
  // As the real driver: with no visible device (CUDA_VISIBLE_DEVICES empty or
  // its first entry invalid) initialisation fails, and so does every call after.
  if (visible_count() == 0) return CUDA_ERROR_NO_DEVICE;
  g_initialized.store(true);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDriverGetVersion(int* driverVersion) {
  FAKE_ENTRY();
  if (driverVersion == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *driverVersion = kDriverVersion;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceGet(CUdevice* device, int ordinal) {
  FAKE_ENTRY_INIT();
  if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(ordinal)) return CUDA_ERROR_INVALID_DEVICE;
  *device = ordinal;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceGetUuid_v2(CUuuid* uuid, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (uuid == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  const fake_cuda::Uuid u = fake_cuda::physical_uuid(physical_device(dev));
  static_assert(sizeof uuid->bytes == std::tuple_size_v<fake_cuda::Uuid>);
  std::memcpy(uuid->bytes, u.data(), u.size());
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceGetCount(int* count) {
  FAKE_ENTRY_INIT();
  if (count == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *count = visible_count();
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceGetName(char* name, int len, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (name == nullptr || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  const std::string n = fake_cuda::physical_name(physical_device(dev));
  const size_t k = std::min(n.size(), static_cast<size_t>(len) - 1);
  std::memcpy(name, n.data(), k);
  name[k] = '\0';
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  *bytes = kTotalMemory;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (pi == nullptr || attrib <= 0 || attrib >= CU_DEVICE_ATTRIBUTE_MAX) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  int v = 0;
  switch (attrib) {
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: v = 64; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: v = 2147483647; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: v = 65535; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: v = 65535; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: v = 49152; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: v = 232448; break;
    case CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY: v = 65536; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: v = 32; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: v = static_cast<int>(reg().sm_count.load()); break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: v = 9; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: v = 0; break;
    case CU_DEVICE_ATTRIBUTE_CLOCK_RATE: v = 1980000; break;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT: v = 3; break;
    case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR: v = 2048; break;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK: v = 65536; break;
    default: v = 0; break;
  }
  *pi = v;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuGetErrorName(CUresult error, const char** pStr) {
  FAKE_ENTRY();
  if (pStr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const ErrorInfo* i = error_info(error);
  *pStr = i != nullptr ? i->name : nullptr;
  return i != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

FAKE_EXPORT CUresult CUDAAPI cuGetErrorString(CUresult error, const char** pStr) {
  FAKE_ENTRY();
  if (pStr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const ErrorInfo* i = error_info(error);
  *pStr = i != nullptr ? i->text : nullptr;
  return i != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

// ============================== contexts ==============================

FAKE_EXPORT CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  *pctx = reinterpret_cast<CUcontext>(retain_primary(dev));
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  Registry& r = reg();
  std::lock_guard lk(r.m);
  int& refs = r.primary_refs[static_cast<size_t>(dev)];
  if (refs == 0) return CUDA_ERROR_INVALID_CONTEXT;
  --refs;  // the context stays (the real driver would reset it at 0)
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int* flags, int* active) {
  FAKE_ENTRY_INIT();
  if (flags == nullptr || active == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  Registry& r = reg();
  std::lock_guard lk(r.m);
  const Context* c = r.primary[static_cast<size_t>(dev)];
  *flags = c != nullptr ? c->flags.load() : 0;
  *active = r.primary_refs[static_cast<size_t>(dev)] > 0 ? 1 : 0;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags) {
  FAKE_ENTRY_INIT();
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  primary_of(dev, flags)->flags.store(flags);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxCreate_v2(CUcontext* pctx, unsigned int flags, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  if (t_state.depth >= kMaxCtxStack) return CUDA_ERROR_INVALID_VALUE;
  Context* c = make_context(dev, flags, false);
  push_ctx(c);
  *pctx = reinterpret_cast<CUcontext>(c);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxCreate_v4(CUcontext* pctx, CUctxCreateParams* params, unsigned int flags,
                                            CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (params != nullptr && (params->numExecAffinityParams != 0 || params->cigParams != nullptr))
    return CUDA_ERROR_NOT_SUPPORTED;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  if (t_state.depth >= kMaxCtxStack) return CUDA_ERROR_INVALID_VALUE;
  Context* c = make_context(dev, flags, false);
  push_ctx(c);
  *pctx = reinterpret_cast<CUcontext>(c);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxDestroy_v2(CUcontext ctx) {
  FAKE_ENTRY_INIT();
  auto* c = reinterpret_cast<Context*>(ctx);
  // A green context's CUcontext is destroyed with cuGreenCtxDestroy only.
  if (c == nullptr || !known_ctx(c) || c->primary || c->green != nullptr) return CUDA_ERROR_INVALID_CONTEXT;
  if (!c->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  destroy_context(*c);
  if (current_ctx() == c) --t_state.depth;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetCurrent(CUcontext* pctx) {
  FAKE_ENTRY_INIT();
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *pctx = reinterpret_cast<CUcontext>(current_ctx());
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxSetCurrent(CUcontext ctx) {
  FAKE_ENTRY_INIT();
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr) {
    if (t_state.depth > 0) --t_state.depth;
    return CUDA_SUCCESS;
  }
  if (!known_ctx(c)) return CUDA_ERROR_INVALID_CONTEXT;
  if (!c->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  if (t_state.depth == 0)
    t_state.stack[t_state.depth++] = c;
  else
    t_state.stack[t_state.depth - 1] = c;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxPushCurrent_v2(CUcontext ctx) {
  FAKE_ENTRY_INIT();
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr || !known_ctx(c)) return CUDA_ERROR_INVALID_CONTEXT;
  if (!c->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  return push_ctx(c);
}

FAKE_EXPORT CUresult CUDAAPI cuCtxPopCurrent_v2(CUcontext* pctx) {
  FAKE_ENTRY_INIT();
  if (t_state.depth == 0) return CUDA_ERROR_INVALID_CONTEXT;
  Context* c = t_state.stack[--t_state.depth];
  if (pctx != nullptr) *pctx = reinterpret_cast<CUcontext>(c);
  return CUDA_SUCCESS;
}

// As measured on the H100 (bench/results/probes): synchronising a context
// waits for the green contexts made on its device too.
FAKE_EXPORT CUresult CUDAAPI cuCtxSynchronize(void) {
  FAKE_ENTRY_INIT();
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  sync_memory_users(*c);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxSynchronize_v2(CUcontext ctx) {
  FAKE_ENTRY_INIT();
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr) {
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  } else if (!known_ctx(c)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  } else if (!c->alive.load()) {
    return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  }
  sync_memory_users(*c);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetDevice(CUdevice* device) {
  FAKE_ENTRY_INIT();
  if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  *device = c->dev;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetDevice_v2(CUdevice* device, CUcontext ctx) {
  FAKE_ENTRY_INIT();
  if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr) {
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  } else if (!known_ctx(c)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  *device = c->dev;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetFlags(unsigned int* flags) {
  FAKE_ENTRY_INIT();
  if (flags == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  *flags = c->flags.load();
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetId(CUcontext ctx, unsigned long long* ctxId) {
  FAKE_ENTRY_INIT();
  if (ctxId == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr) {
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  } else if (!known_ctx(c)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  *ctxId = c->id;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetApiVersion(CUcontext ctx, unsigned int* version) {
  FAKE_ENTRY_INIT();
  if (version == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr) {
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  } else if (!known_ctx(c)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  *version = kDriverVersion;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetStreamPriorityRange(int* leastPriority, int* greatestPriority) {
  FAKE_ENTRY_INIT();
  if (leastPriority != nullptr) *leastPriority = kLeastPriority;
  if (greatestPriority != nullptr) *greatestPriority = kGreatestPriority;
  return CUDA_SUCCESS;
}

// =============================== streams ===============================

namespace {

// A new user stream of context c (flags already checked).
CUstream add_user_stream(Context* c, unsigned flags, int priority) {
  reap();
  priority = std::clamp(priority, kGreatestPriority, kLeastPriority);
  auto s = make_stream(c, Kind::User, flags, priority);
  {
    std::lock_guard lk(c->m);
    prune(*c);
    c->streams.push_back(s);
  }
  const auto h = reinterpret_cast<CUstream>(s.get());
  Registry& r = reg();
  std::lock_guard lk(r.m);
  r.streams[h] = s;
  return h;
}

CUresult stream_create(CUstream* ph, unsigned flags, int priority) {
  if (ph == nullptr || (flags & ~static_cast<unsigned>(CU_STREAM_NON_BLOCKING)) != 0) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  *ph = add_user_stream(c, flags, priority);
  return CUDA_SUCCESS;
}

}  // namespace

FAKE_EXPORT CUresult CUDAAPI cuStreamCreate(CUstream* phStream, unsigned int Flags) {
  FAKE_BODY(stream_create(phStream, Flags, kLeastPriority))
}

FAKE_EXPORT CUresult CUDAAPI cuStreamCreateWithPriority(CUstream* phStream, unsigned int flags, int priority) {
  FAKE_BODY(stream_create(phStream, flags, priority))
}

FAKE_EXPORT CUresult CUDAAPI cuStreamDestroy_v2(CUstream hStream) {
  FAKE_ENTRY_INIT();
  if (hStream == nullptr || hStream == CU_STREAM_LEGACY || hStream == CU_STREAM_PER_THREAD)
    return CUDA_ERROR_INVALID_HANDLE;
  std::shared_ptr<Stream> s;
  {
    Registry& r = reg();
    std::lock_guard lk(r.m);
    auto it = r.streams.find(hStream);
    if (it == r.streams.end()) return CUDA_ERROR_INVALID_HANDLE;
    if (!it->second->ctx->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;  // of a destroyed green context
    s = std::move(it->second);
    r.streams.erase(it);
  }
  mark_destroyed(*s);  // returns at once; queued work still runs
  reap();
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuStreamQuery(CUstream hStream) FAKE_BODY(stream_query(hStream, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamQuery_ptsz(CUstream hStream) FAKE_BODY(stream_query(hStream, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamSynchronize(CUstream hStream) FAKE_BODY(stream_sync(hStream, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamSynchronize_ptsz(CUstream hStream) FAKE_BODY(stream_sync(hStream, true))

namespace {

CUresult get_ctx(CUstream h, CUcontext* pctx, bool ptsz) {
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream& s) { *pctx = reinterpret_cast<CUcontext>(s.ctx); });
}

// A green context's stream reports the primary context and the green context.
CUresult get_ctx_v2(CUstream h, CUcontext* pctx, CUgreenCtx* pgreen, bool ptsz) {
  if (pctx == nullptr || pgreen == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (h == CU_STREAM_PER_THREAD || (h == nullptr && ptsz)) {
    const Context* cur = current_ctx();
    if (cur != nullptr && cur->green != nullptr) return CUDA_ERROR_INVALID_HANDLE;  // as cuda.h says
  }
  return with_stream(h, ptsz, [&](Stream& s) {
    *pctx = reinterpret_cast<CUcontext>(s.ctx->green != nullptr ? s.ctx->root : s.ctx);
    *pgreen = reinterpret_cast<CUgreenCtx>(s.ctx->green);
  });
}

CUresult get_flags(CUstream h, unsigned* flags, bool ptsz) {
  if (flags == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream& s) { *flags = s.flags; });
}

CUresult get_priority(CUstream h, int* priority, bool ptsz) {
  if (priority == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream& s) { *priority = s.priority; });
}

CUresult get_id(CUstream h, unsigned long long* id, bool ptsz) {
  if (id == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream& s) { *id = s.id; });
}

CUresult get_device(CUstream h, CUdevice* dev, bool ptsz) {
  if (dev == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream& s) { *dev = s.ctx->dev; });
}

CUresult is_capturing(CUstream h, CUstreamCaptureStatus* status, bool ptsz) {
  if (status == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream&) { *status = CU_STREAM_CAPTURE_STATUS_NONE; });
}

// No stream is ever capturing: every version reports NONE and empty outputs.
CUresult capture_info(CUstream h, CUstreamCaptureStatus* status, cuuint64_t* id, CUgraph* graph,
                      const CUgraphNode** deps, const CUgraphEdgeData** edges, size_t* num, bool ptsz) {
  if (status == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(h, ptsz, [&](Stream&) {
    *status = CU_STREAM_CAPTURE_STATUS_NONE;
    if (id != nullptr) *id = 0;
    if (graph != nullptr) *graph = nullptr;
    if (deps != nullptr) *deps = nullptr;
    if (edges != nullptr) *edges = nullptr;
    if (num != nullptr) *num = 0;
  });
}

}  // namespace

FAKE_EXPORT CUresult CUDAAPI cuStreamGetCtx(CUstream hStream, CUcontext* pctx) FAKE_BODY(get_ctx(hStream, pctx, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCtx_ptsz(CUstream hStream, CUcontext* pctx)
    FAKE_BODY(get_ctx(hStream, pctx, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCtx_v2(CUstream hStream, CUcontext* pCtx, CUgreenCtx* pGreenCtx)
    FAKE_BODY(get_ctx_v2(hStream, pCtx, pGreenCtx, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCtx_v2_ptsz(CUstream hStream, CUcontext* pCtx, CUgreenCtx* pGreenCtx)
    FAKE_BODY(get_ctx_v2(hStream, pCtx, pGreenCtx, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetFlags(CUstream hStream, unsigned int* flags)
    FAKE_BODY(get_flags(hStream, flags, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetFlags_ptsz(CUstream hStream, unsigned int* flags)
    FAKE_BODY(get_flags(hStream, flags, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetPriority(CUstream hStream, int* priority)
    FAKE_BODY(get_priority(hStream, priority, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetPriority_ptsz(CUstream hStream, int* priority)
    FAKE_BODY(get_priority(hStream, priority, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetId(CUstream hStream, unsigned long long* streamId)
    FAKE_BODY(get_id(hStream, streamId, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetId_ptsz(CUstream hStream, unsigned long long* streamId)
    FAKE_BODY(get_id(hStream, streamId, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetDevice(CUstream hStream, CUdevice* device)
    FAKE_BODY(get_device(hStream, device, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetDevice_ptsz(CUstream hStream, CUdevice* device)
    FAKE_BODY(get_device(hStream, device, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus* captureStatus)
    FAKE_BODY(is_capturing(hStream, captureStatus, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus)
    FAKE_BODY(is_capturing(hStream, captureStatus, true))

FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                    cuuint64_t* id_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, nullptr, nullptr, nullptr, nullptr, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                         cuuint64_t* id_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, nullptr, nullptr, nullptr, nullptr, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                       cuuint64_t* id_out, CUgraph* graph_out,
                                                       const CUgraphNode** dependencies_out,
                                                       size_t* numDependencies_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, nullptr,
                           numDependencies_out, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                            cuuint64_t* id_out, CUgraph* graph_out,
                                                            const CUgraphNode** dependencies_out,
                                                            size_t* numDependencies_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, nullptr,
                           numDependencies_out, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                       cuuint64_t* id_out, CUgraph* graph_out,
                                                       const CUgraphNode** dependencies_out,
                                                       const CUgraphEdgeData** edgeData_out,
                                                       size_t* numDependencies_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out,
                           numDependencies_out, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream, CUstreamCaptureStatus* captureStatus_out,
                                                            cuuint64_t* id_out, CUgraph* graph_out,
                                                            const CUgraphNode** dependencies_out,
                                                            const CUgraphEdgeData** edgeData_out,
                                                            size_t* numDependencies_out)
    FAKE_BODY(capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out,
                           numDependencies_out, true))

FAKE_EXPORT CUresult CUDAAPI cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode* mode) {
  FAKE_ENTRY_INIT();
  if (mode == nullptr || *mode < CU_STREAM_CAPTURE_MODE_GLOBAL || *mode > CU_STREAM_CAPTURE_MODE_RELAXED)
    return CUDA_ERROR_INVALID_VALUE;
  std::swap(*mode, t_state.capture_mode);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)
    FAKE_BODY(stream_wait_event(hStream, hEvent, Flags, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent, unsigned int Flags)
    FAKE_BODY(stream_wait_event(hStream, hEvent, Flags, true))
FAKE_EXPORT CUresult CUDAAPI cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void* userData,
                                                 unsigned int flags)
    FAKE_BODY(add_callback(hStream, callback, userData, flags, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamAddCallback_ptsz(CUstream hStream, CUstreamCallback callback, void* userData,
                                                      unsigned int flags)
    FAKE_BODY(add_callback(hStream, callback, userData, flags, true))
FAKE_EXPORT CUresult CUDAAPI cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void* userData)
    FAKE_BODY(host_func(hStream, fn, userData, false))
FAKE_EXPORT CUresult CUDAAPI cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void* userData)
    FAKE_BODY(host_func(hStream, fn, userData, true))

// Stream memory operations: v1 and v2 behave the same here.
#define FAKE_MEMOP(name, impl, T)                                                                  \
  FAKE_EXPORT CUresult CUDAAPI name(CUstream stream, CUdeviceptr addr, T value, unsigned int flags) \
      FAKE_BODY(impl<T>(stream, addr, value, flags, false))                                        \
  FAKE_EXPORT CUresult CUDAAPI name##_ptsz(CUstream stream, CUdeviceptr addr, T value, unsigned int flags) \
      FAKE_BODY(impl<T>(stream, addr, value, flags, true))

FAKE_MEMOP(cuStreamWaitValue32, wait_value, cuuint32_t)
FAKE_MEMOP(cuStreamWaitValue32_v2, wait_value, cuuint32_t)
FAKE_MEMOP(cuStreamWriteValue32, write_value, cuuint32_t)
FAKE_MEMOP(cuStreamWriteValue32_v2, write_value, cuuint32_t)
FAKE_MEMOP(cuStreamWaitValue64, wait_value, cuuint64_t)
FAKE_MEMOP(cuStreamWaitValue64_v2, wait_value, cuuint64_t)
FAKE_MEMOP(cuStreamWriteValue64, write_value, cuuint64_t)
FAKE_MEMOP(cuStreamWriteValue64_v2, write_value, cuuint64_t)
#undef FAKE_MEMOP

// =============================== events ===============================

FAKE_EXPORT CUresult CUDAAPI cuEventCreate(CUevent* phEvent, unsigned int Flags) {
  FAKE_ENTRY_INIT();
  constexpr unsigned kAll = CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS;
  if (phEvent == nullptr || (Flags & ~kAll) != 0) return CUDA_ERROR_INVALID_VALUE;
  if ((Flags & CU_EVENT_INTERPROCESS) != 0 && (Flags & CU_EVENT_DISABLE_TIMING) == 0) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  Registry& r = reg();
  auto ev = std::make_shared<Event>();
  ev->id = r.next_id.fetch_add(1);
  ev->ctx = c;
  ev->flags = Flags;
  const auto h = reinterpret_cast<CUevent>(ev.get());
  std::lock_guard lk(r.m);
  r.events[h] = std::move(ev);
  *phEvent = h;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuEventDestroy_v2(CUevent hEvent) {
  FAKE_ENTRY_INIT();
  std::shared_ptr<Event> ev;  // released outside the lock
  Registry& r = reg();
  std::lock_guard lk(r.m);
  auto it = r.events.find(hEvent);
  if (it == r.events.end()) return CUDA_ERROR_INVALID_HANDLE;
  ev = std::move(it->second);
  r.events.erase(it);
  return CUDA_SUCCESS;  // pending records still complete
}

FAKE_EXPORT CUresult CUDAAPI cuEventRecord(CUevent hEvent, CUstream hStream)
    FAKE_BODY(event_record(hEvent, hStream, 0, false))
FAKE_EXPORT CUresult CUDAAPI cuEventRecord_ptsz(CUevent hEvent, CUstream hStream)
    FAKE_BODY(event_record(hEvent, hStream, 0, true))
FAKE_EXPORT CUresult CUDAAPI cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags)
    FAKE_BODY(event_record(hEvent, hStream, flags, false))
FAKE_EXPORT CUresult CUDAAPI cuEventRecordWithFlags_ptsz(CUevent hEvent, CUstream hStream, unsigned int flags)
    FAKE_BODY(event_record(hEvent, hStream, flags, true))

FAKE_EXPORT CUresult CUDAAPI cuEventQuery(CUevent hEvent) {
  FAKE_ENTRY_INIT();
  std::shared_ptr<Event> ev;
  if (CUresult e = find_event(hEvent, ev); e != CUDA_SUCCESS) return e;
  auto rec = last_record(*ev);
  return !rec || record_done(*rec) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

FAKE_EXPORT CUresult CUDAAPI cuEventSynchronize(CUevent hEvent) {
  FAKE_ENTRY_INIT();
  std::shared_ptr<Event> ev;
  if (CUresult e = find_event(hEvent, ev); e != CUDA_SUCCESS) return e;
  if (auto rec = last_record(*ev)) wait_seq(*rec->s, rec->seq);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuEventElapsedTime(float* pMilliseconds, CUevent hStart, CUevent hEnd)
    FAKE_BODY(elapsed_time(pMilliseconds, hStart, hEnd))
FAKE_EXPORT CUresult CUDAAPI cuEventElapsedTime_v2(float* pMilliseconds, CUevent hStart, CUevent hEnd)
    FAKE_BODY(elapsed_time(pMilliseconds, hStart, hEnd))

// ============================ green contexts ============================

namespace {

// What this driver writes into a CUdevResource's internal bytes: where the
// resource came from, so that the split and the descriptor can refuse what
// CUDA refuses (splitting a split, mixing splits).
struct ResourceTag {
  std::uint32_t magic;
  CUdevice dev;
  u64 split;           // the cuDevSmResourceSplitByCount call that made it; 0: a whole resource
  std::uint32_t part;  // in that split: 1 + the group's index, or kRemainingPart
  std::uint32_t reserved;
};
static_assert(sizeof(ResourceTag) <= sizeof(CUdevResource::_internal_padding));
constexpr std::uint32_t kResourceMagic = 0x47524e31;
constexpr std::uint32_t kRemainingPart = 0xFFFFFFFFu;

bool read_tag(const CUdevResource& res, ResourceTag& tag) {
  std::memcpy(&tag, res._internal_padding, sizeof tag);
  return tag.magic == kResourceMagic;
}

// The coscheduling alignment of n SMs that are not a split group: the
// largest partition granularity that divides n (smCount is a multiple of it).
unsigned sm_alignment(unsigned n) {
  if (n % kSmPartitionMin == 0) return kSmPartitionMin;
  return n % kSmPartitionFine == 0 ? kSmPartitionFine : 1;
}

CUdevResource sm_resource(CUdevice dev, unsigned count, unsigned alignment, u64 split, std::uint32_t part) {
  CUdevResource res{};
  res.type = CU_DEV_RESOURCE_TYPE_SM;
  const ResourceTag tag{kResourceMagic, dev, split, part, 0};
  std::memcpy(res._internal_padding, &tag, sizeof tag);
  res.sm.smCount = count;
  res.sm.minSmPartitionSize = kSmPartitionMin;
  res.sm.smCoscheduledAlignment = alignment;
  return res;
}

// The SMs a context may use: a green context's own, else the whole device's.
unsigned ctx_sm_count(const Context& c) { return c.green != nullptr ? c.sm_count : reg().sm_count.load(); }

CUresult ctx_resource(const Context& c, CUdevResource* res, CUdevResourceType type) {
  if (res == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (type != CU_DEV_RESOURCE_TYPE_SM) return CUDA_ERROR_INVALID_RESOURCE_TYPE;
  const unsigned n = ctx_sm_count(c);
  *res = sm_resource(c.dev, n, sm_alignment(n), 0, 0);
  return CUDA_SUCCESS;
}

CUresult find_green(CUgreenCtx h, Context*& c) {
  if (h == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
  Registry& r = reg();
  {
    std::lock_guard lk(r.m);
    auto it = std::find_if(r.greens.begin(), r.greens.end(),
                           [&](const auto& g) { return reinterpret_cast<CUgreenCtx>(g.get()) == h; });
    if (it == r.greens.end()) return CUDA_ERROR_INVALID_CONTEXT;
    c = (*it)->ctx;
  }
  return c->alive.load() ? CUDA_SUCCESS : CUDA_ERROR_CONTEXT_IS_DESTROYED;
}

// As on compute capability 9.0: groups of minCount SMs rounded up to the
// partition granularity, as many as fit and were asked for; the rest remains.
CUresult sm_split(CUdevResource* result, unsigned* nb, const CUdevResource* input, CUdevResource* remaining,
                  unsigned flags, unsigned min_count) {
  constexpr unsigned kFlags =
      CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING | CU_DEV_SM_RESOURCE_SPLIT_MAX_POTENTIAL_CLUSTER_SIZE;
  if (nb == nullptr || input == nullptr || (flags & ~kFlags) != 0) return CUDA_ERROR_INVALID_VALUE;
  if (input->type != CU_DEV_RESOURCE_TYPE_SM) return CUDA_ERROR_INVALID_RESOURCE_TYPE;
  ResourceTag tag{};
  if (!read_tag(*input, tag)) return CUDA_ERROR_INVALID_VALUE;
  // A group or remainder cannot be split again before a green context is made of it.
  if (tag.split != 0) return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
  const unsigned total = input->sm.smCount;
  if (min_count > total) return CUDA_ERROR_INVALID_VALUE;
  const unsigned g = (flags & CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING) != 0 ? kSmPartitionFine : kSmPartitionMin;
  const unsigned size = std::max(g, (min_count + g - 1) / g * g);
  const unsigned fit = total / size;
  if (fit == 0) return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;  // minCount rounds up past the input
  unsigned n = fit;
  if (result != nullptr) {
    if (*nb == 0) return CUDA_ERROR_INVALID_VALUE;
    n = std::min(*nb, fit);
  }
  const u64 split = reg().next_id.fetch_add(1);
  if (result != nullptr)
    for (unsigned i = 0; i < n; ++i) result[i] = sm_resource(tag.dev, size, g, split, i + 1);
  if (remaining != nullptr) {
    const unsigned rest = total - n * size;
    *remaining = sm_resource(tag.dev, rest, sm_alignment(rest), split, kRemainingPart);
  }
  *nb = n;
  return CUDA_SUCCESS;
}

CUresult generate_desc(CUdevResourceDesc* ph, const CUdevResource* res, unsigned nb) {
  if (ph == nullptr || res == nullptr || nb == 0) return CUDA_ERROR_INVALID_VALUE;
  ResourceTag first{};
  std::set<std::uint32_t> parts;
  unsigned total = 0;
  for (unsigned i = 0; i < nb; ++i) {
    if (res[i].type != CU_DEV_RESOURCE_TYPE_SM) return CUDA_ERROR_INVALID_RESOURCE_TYPE;
    ResourceTag tag{};
    if (!read_tag(res[i], tag)) return CUDA_ERROR_INVALID_VALUE;
    if (i == 0) first = tag;
    // Several resources: distinct outputs of one split, on one device.
    if (nb > 1 && (tag.split == 0 || tag.split != first.split || tag.dev != first.dev || !parts.insert(tag.part).second))
      return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
    total += res[i].sm.smCount;
  }
  if (total == 0) return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
  auto d = std::make_unique<ResourceDesc>();
  d->dev = first.dev;
  d->sm_count = total;
  *ph = reinterpret_cast<CUdevResourceDesc>(d.get());
  Registry& r = reg();
  std::lock_guard lk(r.m);
  r.descs.push_back(std::move(d));
  return CUDA_SUCCESS;
}

CUresult green_create(CUgreenCtx* ph, CUdevResourceDesc desc, CUdevice dev, unsigned flags) {
  if (ph == nullptr || flags != CU_GREEN_CTX_DEFAULT_STREAM) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  Registry& r = reg();
  unsigned sms = 0;
  {
    std::lock_guard lk(r.m);
    auto it = std::find_if(r.descs.begin(), r.descs.end(), [&](const auto& d) {
      return reinterpret_cast<CUdevResourceDesc>(d.get()) == desc;
    });
    if (it == r.descs.end() || (*it)->dev != dev) return CUDA_ERROR_INVALID_VALUE;
    sms = (*it)->sm_count;
  }
  Context* root = retain_primary(dev);  // released by cuGreenCtxDestroy
  auto g = std::make_unique<GreenCtx>();
  GreenCtx* handle = g.get();
  g->ctx = make_context(dev, 0, false, handle, root, sms);
  {
    std::lock_guard lk(r.m);
    r.greens.push_back(std::move(g));
  }
  *ph = reinterpret_cast<CUgreenCtx>(handle);
  return CUDA_SUCCESS;
}

CUresult green_destroy(CUgreenCtx h) {
  Context* c = nullptr;
  if (CUresult e = find_green(h, c); e != CUDA_SUCCESS) return e;
  destroy_context(*c);
  if (current_ctx() == c) --t_state.depth;  // as cuCtxDestroy does
  Registry& r = reg();
  std::lock_guard lk(r.m);
  if (int& refs = r.primary_refs[static_cast<size_t>(c->dev)]; refs > 0) --refs;
  return CUDA_SUCCESS;
}

// Records ev after everything enqueued on the green context so far, on the
// context's marker stream (so none of its streams is held up by the record).
CUresult green_record(CUgreenCtx h, CUevent e) {
  Context* c = nullptr;
  if (CUresult err = find_green(h, c); err != CUDA_SUCCESS) return err;
  std::shared_ptr<Event> ev;
  if (CUresult err = find_event(e, ev); err != CUDA_SUCCESS) return err;
  // The event must come from the same primary context: its own or one of its green contexts'.
  const Context* event_root = ev->ctx->green != nullptr ? ev->ctx->root : ev->ctx;
  if (event_root != c->root) return CUDA_ERROR_INVALID_HANDLE;
  std::vector<Dep> deps;
  std::shared_ptr<Stream> marker;
  {
    std::lock_guard lk(c->m);
    if (!c->marker) {
      c->marker = make_stream(c, Kind::User, CU_STREAM_NON_BLOCKING, 0);
      c->streams.push_back(c->marker);
    }
    marker = c->marker;
    add_pending(deps, c->legacy);
    for (const auto& t : c->streams)
      if (t != marker) add_pending(deps, t);
  }
  return record_on(*ev, marker, std::move(deps));
}

// Every operation enqueued on the green context from now on waits for the
// event's latest record, made before this call.
CUresult green_wait(CUgreenCtx h, CUevent e) {
  Context* c = nullptr;
  if (CUresult err = find_green(h, c); err != CUDA_SUCCESS) return err;
  std::shared_ptr<Event> ev;
  if (CUresult err = find_event(e, ev); err != CUDA_SUCCESS) return err;
  if (auto rec = last_record(*ev)) {
    std::lock_guard lk(c->m);
    c->waits.push_back({rec->s, rec->seq});
  }
  return CUDA_SUCCESS;
}

}  // namespace

// A green-context call: refused with CUDA_ERROR_NOT_SUPPORTED, as by a driver
// older than CUDA 12.4, while a test has switched green contexts off.
#define FAKE_ENTRY_GREEN()                                                \
  do {                                                                    \
    FAKE_ENTRY_INIT();                                                    \
    if (!reg().green_supported.load()) return CUDA_ERROR_NOT_SUPPORTED;   \
  } while (0)

FAKE_EXPORT CUresult CUDAAPI cuDeviceGetDevResource(CUdevice device, CUdevResource* resource, CUdevResourceType type) {
  FAKE_ENTRY_GREEN();
  if (!valid_device(device)) return CUDA_ERROR_INVALID_DEVICE;
  if (resource == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (type != CU_DEV_RESOURCE_TYPE_SM) return CUDA_ERROR_INVALID_RESOURCE_TYPE;
  const unsigned n = reg().sm_count.load();
  *resource = sm_resource(device, n, sm_alignment(n), 0, 0);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetDevResource(CUcontext hCtx, CUdevResource* resource, CUdevResourceType type) {
  FAKE_ENTRY_GREEN();
  auto* c = reinterpret_cast<Context*>(hCtx);
  if (c == nullptr) {
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  } else if (!known_ctx(c)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  return ctx_resource(*c, resource, type);
}

FAKE_EXPORT CUresult CUDAAPI cuGreenCtxGetDevResource(CUgreenCtx hCtx, CUdevResource* resource,
                                                      CUdevResourceType type) {
  FAKE_ENTRY_GREEN();
  Context* c = nullptr;
  if (CUresult e = find_green(hCtx, c); e != CUDA_SUCCESS) return e;
  return ctx_resource(*c, resource, type);
}

FAKE_EXPORT CUresult CUDAAPI cuDevSmResourceSplitByCount(CUdevResource* result, unsigned int* nbGroups,
                                                         const CUdevResource* input, CUdevResource* remaining,
                                                         unsigned int useFlags, unsigned int minCount) {
  FAKE_ENTRY_GREEN();
  return sm_split(result, nbGroups, input, remaining, useFlags, minCount);
}

FAKE_EXPORT CUresult CUDAAPI cuDevResourceGenerateDesc(CUdevResourceDesc* phDesc, CUdevResource* resources,
                                                       unsigned int nbResources) {
  FAKE_ENTRY_GREEN();
  return generate_desc(phDesc, resources, nbResources);
}

FAKE_EXPORT CUresult CUDAAPI cuGreenCtxCreate(CUgreenCtx* phCtx, CUdevResourceDesc desc, CUdevice dev,
                                              unsigned int flags) {
  FAKE_ENTRY_GREEN();
  return green_create(phCtx, desc, dev, flags);
}

FAKE_EXPORT CUresult CUDAAPI cuGreenCtxDestroy(CUgreenCtx hCtx) {
  FAKE_ENTRY_GREEN();
  return green_destroy(hCtx);
}

FAKE_EXPORT CUresult CUDAAPI cuCtxFromGreenCtx(CUcontext* pContext, CUgreenCtx hCtx) {
  FAKE_ENTRY_GREEN();
  if (pContext == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = find_green(hCtx, c); e != CUDA_SUCCESS) return e;
  *pContext = reinterpret_cast<CUcontext>(c);
  return CUDA_SUCCESS;
}

// The same id as cuCtxGetId of the green context's CUcontext.
FAKE_EXPORT CUresult CUDAAPI cuGreenCtxGetId(CUgreenCtx greenCtx, unsigned long long* greenCtxId) {
  FAKE_ENTRY_GREEN();
  if (greenCtxId == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (greenCtx == nullptr) {  // the current context, if it is a green one
    c = current_ctx();
    if (c == nullptr || c->green == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
    if (!c->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  } else if (CUresult e = find_green(greenCtx, c); e != CUDA_SUCCESS) {
    return e;
  }
  *greenCtxId = c->id;
  return CUDA_SUCCESS;
}

// Ignores the current context; the stream never synchronises with a legacy stream.
FAKE_EXPORT CUresult CUDAAPI cuGreenCtxStreamCreate(CUstream* phStream, CUgreenCtx greenCtx, unsigned int flags,
                                                    int priority) {
  FAKE_ENTRY_GREEN();
  if (phStream == nullptr || flags != CU_STREAM_NON_BLOCKING) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = find_green(greenCtx, c); e != CUDA_SUCCESS) return e;
  *phStream = add_user_stream(c, flags, priority);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuGreenCtxRecordEvent(CUgreenCtx hCtx, CUevent hEvent) {
  FAKE_ENTRY_GREEN();
  return green_record(hCtx, hEvent);
}

FAKE_EXPORT CUresult CUDAAPI cuGreenCtxWaitEvent(CUgreenCtx hCtx, CUevent hEvent) {
  FAKE_ENTRY_GREEN();
  return green_wait(hCtx, hEvent);
}

FAKE_EXPORT CUresult CUDAAPI cuStreamGetGreenCtx(CUstream hStream, CUgreenCtx* phCtx) {
  FAKE_ENTRY_GREEN();
  if (phCtx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(hStream, false, [&](Stream& s) { *phCtx = reinterpret_cast<CUgreenCtx>(s.ctx->green); });
}

// =============================== memory ===============================

FAKE_EXPORT CUresult CUDAAPI cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytesize) {
  FAKE_ENTRY_INIT();
  if (dptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  return mem_alloc(dptr, bytesize, c, AllocKind::Device);
}

FAKE_EXPORT CUresult CUDAAPI cuMemFree_v2(CUdeviceptr dptr) {
  FAKE_ENTRY_INIT();
  if (dptr == 0) return CUDA_SUCCESS;
  return mem_free_sync(dptr, AllocKind::Device);
}

FAKE_EXPORT CUresult CUDAAPI cuMemGetInfo_v2(size_t* free, size_t* total) {
  FAKE_ENTRY_INIT();
  if (free == nullptr || total == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  *total = kTotalMemory;
  *free = kTotalMemory - std::min(kTotalMemory, r.device_bytes);
  return CUDA_SUCCESS;
}

namespace {

CUresult host_alloc(void** pp, size_t bytesize, unsigned flags) {
  if (pp == nullptr || (flags & ~0x7u) != 0) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  CUdeviceptr p = 0;
  if (CUresult e = mem_alloc(&p, bytesize, c, AllocKind::HostPinned); e != CUDA_SUCCESS) return e;
  *pp = reinterpret_cast<void*>(p);
  return CUDA_SUCCESS;
}

}  // namespace

FAKE_EXPORT CUresult CUDAAPI cuMemAllocHost_v2(void** pp, size_t bytesize) FAKE_BODY(host_alloc(pp, bytesize, 0))
FAKE_EXPORT CUresult CUDAAPI cuMemHostAlloc(void** pp, size_t bytesize, unsigned int Flags)
    FAKE_BODY(host_alloc(pp, bytesize, Flags))

FAKE_EXPORT CUresult CUDAAPI cuMemFreeHost(void* p) {
  FAKE_ENTRY_INIT();
  return mem_free_sync(reinterpret_cast<CUdeviceptr>(p), AllocKind::HostPinned);
}

FAKE_EXPORT CUresult CUDAAPI cuMemHostGetDevicePointer_v2(CUdeviceptr* pdptr, void* p, unsigned int Flags) {
  FAKE_ENTRY_INIT();
  if (pdptr == nullptr || p == nullptr || Flags != 0) return CUDA_ERROR_INVALID_VALUE;
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  const Alloc* a = find_alloc(r, reinterpret_cast<uintptr_t>(p), 0);
  if (a == nullptr || a->kind == AllocKind::Device || a->freeing) return CUDA_ERROR_INVALID_VALUE;
  *pdptr = reinterpret_cast<CUdeviceptr>(p);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuMemHostRegister_v2(void* p, size_t bytesize, unsigned int Flags) {
  FAKE_ENTRY_INIT();
  if (p == nullptr || bytesize == 0 || (Flags & ~0xFu) != 0) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  const auto base = reinterpret_cast<uintptr_t>(p);
  auto next = r.allocs.lower_bound(base);
  if (next != r.allocs.end() && next->first < base + bytesize) return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
  if (find_alloc(r, base, 1) != nullptr) return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
  r.allocs[base] = Alloc{bytesize, c, AllocKind::HostRegistered, false};
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuMemHostUnregister(void* p) {
  FAKE_ENTRY_INIT();
  Context* c = nullptr;
  if (claim_free(reinterpret_cast<uintptr_t>(p), AllocKind::HostRegistered, c) != CUDA_SUCCESS)
    return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
  sync_memory_users(*c);
  finish_free(reinterpret_cast<uintptr_t>(p));
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuMemAllocAsync(CUdeviceptr* dptr, size_t bytesize, CUstream hStream)
    FAKE_BODY(mem_alloc_async(dptr, bytesize, hStream, false))
FAKE_EXPORT CUresult CUDAAPI cuMemAllocAsync_ptsz(CUdeviceptr* dptr, size_t bytesize, CUstream hStream)
    FAKE_BODY(mem_alloc_async(dptr, bytesize, hStream, true))
FAKE_EXPORT CUresult CUDAAPI cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
    FAKE_BODY(mem_free_async(dptr, hStream, false))
FAKE_EXPORT CUresult CUDAAPI cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
    FAKE_BODY(mem_free_async(dptr, hStream, true))

// Synchronous copies: on the legacy stream, or the per-thread stream (_ptds).
FAKE_EXPORT CUresult CUDAAPI cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::Any, dst, src, ByteCount, nullptr, false, false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::Any, dst, src, ByteCount, nullptr, false, true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::HtoD, dstDevice, reinterpret_cast<uintptr_t>(srcHost), ByteCount, nullptr, false,
                            false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::HtoD, dstDevice, reinterpret_cast<uintptr_t>(srcHost), ByteCount, nullptr, false,
                            true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoH_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::DtoH, reinterpret_cast<uintptr_t>(dstHost), srcDevice, ByteCount, nullptr, false,
                            false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoH_v2_ptds(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::DtoH, reinterpret_cast<uintptr_t>(dstHost), srcDevice, ByteCount, nullptr, false,
                            true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::DtoD, dstDevice, srcDevice, ByteCount, nullptr, false, false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoD_v2_ptds(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::DtoD, dstDevice, srcDevice, ByteCount, nullptr, false, true))

// Asynchronous copies.
FAKE_EXPORT CUresult CUDAAPI cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::Any, dst, src, ByteCount, hStream, true, false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::Any, dst, src, ByteCount, hStream, true, true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount,
                                                  CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::HtoD, dstDevice, reinterpret_cast<uintptr_t>(srcHost), ByteCount, hStream, true,
                            false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount,
                                                       CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::HtoD, dstDevice, reinterpret_cast<uintptr_t>(srcHost), ByteCount, hStream, true,
                            true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoHAsync_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                                  CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::DtoH, reinterpret_cast<uintptr_t>(dstHost), srcDevice, ByteCount, hStream, true,
                            false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoHAsync_v2_ptsz(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                                       CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::DtoH, reinterpret_cast<uintptr_t>(dstHost), srcDevice, ByteCount, hStream, true,
                            true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                                  CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::DtoD, dstDevice, srcDevice, ByteCount, hStream, true, false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                                       CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::DtoD, dstDevice, srcDevice, ByteCount, hStream, true, true))

// Memsets.
#define FAKE_MEMSET(bits, T)                                                                                       \
  FAKE_EXPORT CUresult CUDAAPI cuMemsetD##bits##_v2(CUdeviceptr dstDevice, T value, size_t N)                        \
      FAKE_BODY(memset_common<T>(dstDevice, value, N, nullptr, false, false))                                      \
  FAKE_EXPORT CUresult CUDAAPI cuMemsetD##bits##_v2_ptds(CUdeviceptr dstDevice, T value, size_t N)                   \
      FAKE_BODY(memset_common<T>(dstDevice, value, N, nullptr, false, true))                                       \
  FAKE_EXPORT CUresult CUDAAPI cuMemsetD##bits##Async(CUdeviceptr dstDevice, T value, size_t N, CUstream hStream)    \
      FAKE_BODY(memset_common<T>(dstDevice, value, N, hStream, true, false))                                       \
  FAKE_EXPORT CUresult CUDAAPI cuMemsetD##bits##Async_ptsz(CUdeviceptr dstDevice, T value, size_t N, CUstream hStream) \
      FAKE_BODY(memset_common<T>(dstDevice, value, N, hStream, true, true))

FAKE_MEMSET(8, unsigned char)
FAKE_MEMSET(16, unsigned short)
FAKE_MEMSET(32, unsigned int)
#undef FAKE_MEMSET

// =============================== kernels ===============================

FAKE_EXPORT CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                            unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                            unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                            void** kernelParams, void** extra)
    FAKE_BODY(launch(f, LaunchDims{{gridDimX, gridDimY, gridDimZ}, {blockDimX, blockDimY, blockDimZ}, sharedMemBytes},
                     hStream, kernelParams, extra, false))

FAKE_EXPORT CUresult CUDAAPI cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                                 unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                                 unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                                 void** kernelParams, void** extra)
    FAKE_BODY(launch(f, LaunchDims{{gridDimX, gridDimY, gridDimZ}, {blockDimX, blockDimY, blockDimZ}, sharedMemBytes},
                     hStream, kernelParams, extra, true))

FAKE_EXPORT CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** kernelParams,
                                              void** extra) FAKE_BODY(launch_ex(config, f, kernelParams, extra, false))
FAKE_EXPORT CUresult CUDAAPI cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f, void** kernelParams,
                                                   void** extra) FAKE_BODY(launch_ex(config, f, kernelParams, extra, true))

FAKE_EXPORT CUresult CUDAAPI cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t* paramOffset,
                                                size_t* paramSize) {
  FAKE_ENTRY_INIT();
  const auto* k = reinterpret_cast<const FakeKernel*>(func);
  if (k == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (paramOffset == nullptr || paramSize == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Layout l{};
  if (CUresult e = layout_of(*k, l); e != CUDA_SUCCESS) return e;
  if (paramIndex >= k->num_params) return CUDA_ERROR_INVALID_VALUE;
  *paramOffset = l.off[paramIndex];
  *paramSize = k->param_size[paramIndex];
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuFuncGetAttribute(int* pi, CUfunction_attribute attrib, CUfunction hfunc) {
  FAKE_ENTRY_INIT();
  if (hfunc == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (pi == nullptr || attrib < 0 || attrib >= CU_FUNC_ATTRIBUTE_MAX) return CUDA_ERROR_INVALID_VALUE;
  int v = 0;
  switch (attrib) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: v = 1024; break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS: v = 32; break;
    case CU_FUNC_ATTRIBUTE_PTX_VERSION: v = 90; break;
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION: v = 90; break;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: v = 49152; break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: v = -1; break;
    default: v = 0; break;
  }
  *pi = v;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
  FAKE_ENTRY_INIT();
  if (hfunc == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (attrib < 0 || attrib >= CU_FUNC_ATTRIBUTE_MAX) return CUDA_ERROR_INVALID_VALUE;
  if (attrib == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES && (value < 0 || value > 232448))
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;  // accepted, not stored
}

FAKE_EXPORT CUresult CUDAAPI cuFuncGetName(const char** name, CUfunction hfunc) {
  FAKE_ENTRY_INIT();
  const auto* k = reinterpret_cast<const FakeKernel*>(hfunc);
  if (k == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (name == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *name = k->name != nullptr ? k->name : "fake_kernel";
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuFuncIsLoaded(CUfunctionLoadingState* state, CUfunction function) {
  FAKE_ENTRY_INIT();
  if (function == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (state == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *state = is_unloaded(function) ? CU_FUNCTION_LOADING_STATE_UNLOADED : CU_FUNCTION_LOADING_STATE_LOADED;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuFuncLoad(CUfunction function) {
  FAKE_ENTRY_INIT();
  if (function == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  load_kernel(*c, function);
  return CUDA_SUCCESS;
}

// Graphs are not modelled: no graph can be made, so a launch is refused.
FAKE_EXPORT CUresult CUDAAPI cuGraphLaunch(CUgraphExec, CUstream) {
  FAKE_ENTRY_INIT();
  return CUDA_ERROR_NOT_SUPPORTED;
}
FAKE_EXPORT CUresult CUDAAPI cuGraphLaunch_ptsz(CUgraphExec, CUstream) {
  FAKE_ENTRY_INIT();
  return CUDA_ERROR_NOT_SUPPORTED;
}

// =========================== entry points ===========================

FAKE_EXPORT CUresult CUDAAPI cuGetProcAddress(const char* symbol, void** pfn, int cudaVersion, cuuint64_t flags) {
  FAKE_ENTRY();
  return get_proc(symbol, pfn, cudaVersion, flags, nullptr);
}

FAKE_EXPORT CUresult CUDAAPI cuGetProcAddress_v2(const char* symbol, void** pfn, int cudaVersion, cuuint64_t flags,
                                                 CUdriverProcAddressQueryResult* symbolStatus) {
  FAKE_ENTRY();
  return get_proc(symbol, pfn, cudaVersion, flags, symbolStatus);
}

// =========================== test-only API ===========================

FAKE_EXPORT size_t fake_cuda_log_read(FakeCudaLogEntry* out, size_t capacity) {
  Registry& r = reg();
  std::lock_guard lk(r.log_m);
  const size_t n = std::min(capacity, r.log.size());
  if (out != nullptr) std::copy(r.log.begin(), r.log.begin() + static_cast<std::ptrdiff_t>(n), out);
  return r.log.size();
}

FAKE_EXPORT void fake_cuda_log_clear(void) {
  Registry& r = reg();
  std::lock_guard lk(r.log_m);
  r.log.clear();
  ++r.log_gen;
}

FAKE_EXPORT unsigned long long fake_cuda_launch_count(void) { return reg().launches.load(); }

FAKE_EXPORT unsigned long long fake_cuda_call_count(const char* name) {
  if (name == nullptr) return 0;
  Registry& r = reg();
  std::lock_guard lk(r.count_m);
  auto it = r.calls.find(std::string_view(name));
  return it == r.calls.end() ? 0 : it->second;
}

FAKE_EXPORT size_t fake_cuda_calls_read(const char** out, size_t capacity) {
  Registry& r = reg();
  std::lock_guard lk(r.count_m);
  const size_t n = std::min(capacity, r.call_list.size());
  if (out != nullptr) std::copy(r.call_list.begin(), r.call_list.begin() + static_cast<std::ptrdiff_t>(n), out);
  return r.call_list.size();
}

FAKE_EXPORT void fake_cuda_reset_counters(void) {
  Registry& r = reg();
  r.launches.store(0);
  std::lock_guard lk(r.count_m);
  r.calls.clear();
  r.call_list.clear();
}

FAKE_EXPORT void fake_cuda_set_launch_delay_us(unsigned microseconds) { reg().launch_delay_us.store(microseconds); }

FAKE_EXPORT void fake_cuda_set_unloaded(CUfunction f) {
  Registry& r = reg();
  std::lock_guard lk(r.lazy_m);
  r.unloaded.insert(f);
}

FAKE_EXPORT void fake_cuda_inject_error(const char* name, CUresult err, unsigned count) {
  if (name == nullptr) return;
  Registry& r = reg();
  std::lock_guard lk(r.count_m);
  if (count == 0)
    r.injections.erase(std::string(name));
  else
    r.injections[std::string(name)] = Injection{err, count};
}

FAKE_EXPORT long long fake_cuda_stream_pending(CUstream stream) {
  std::shared_ptr<Stream> s;
  if (resolve(stream, false, s) != CUDA_SUCCESS) return -1;
  std::lock_guard lk(s->m);
  return static_cast<long long>(s->submitted - s->completed);
}

FAKE_EXPORT unsigned long long fake_cuda_event_id(CUevent event) {
  std::shared_ptr<Event> ev;
  return find_event(event, ev) == CUDA_SUCCESS ? ev->id : 0;
}

FAKE_EXPORT int fake_cuda_live_streams(void) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  return static_cast<int>(r.streams.size());
}

FAKE_EXPORT int fake_cuda_live_events(void) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  return static_cast<int>(r.events.size());
}

FAKE_EXPORT int fake_cuda_live_allocations(void) {
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  return static_cast<int>(std::count_if(r.allocs.begin(), r.allocs.end(), [](const auto& kv) {
    return kv.second.kind != AllocKind::HostRegistered;
  }));
}

FAKE_EXPORT int fake_cuda_wait_idle(unsigned timeout_ms) {
  Registry& r = reg();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<Context*> ctxs;
  {
    std::lock_guard lk(r.m);
    for (const auto& c : r.contexts) ctxs.push_back(c.get());
  }
  std::vector<std::shared_ptr<Stream>> ss;
  for (Context* c : ctxs) {
    std::lock_guard lk(c->m);
    ss.push_back(c->legacy);
    ss.insert(ss.end(), c->streams.begin(), c->streams.end());
  }
  for (auto& s : ss) {
    std::unique_lock lk(s->m);
    if (!s->done_cv.wait_until(lk, deadline, [&] { return s->completed == s->submitted || g_shutdown.load(); }))
      return -1;
  }
  return 0;
}

FAKE_EXPORT unsigned long long fake_cuda_now_ns(void) { return now_ns(); }

FAKE_EXPORT void fake_cuda_set_sm_count(unsigned count) { reg().sm_count.store(count); }

FAKE_EXPORT void fake_cuda_set_green_supported(int supported) { reg().green_supported.store(supported != 0); }

FAKE_EXPORT unsigned fake_cuda_ctx_sm_count(unsigned long long ctx_id) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  for (const auto& c : r.contexts)
    if (c->id == ctx_id) return ctx_sm_count(*c);
  return 0;
}

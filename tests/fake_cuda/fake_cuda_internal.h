// The fake CUDA driver's internals, shared by its source files: the objects
// behind the handles (contexts, streams, events, allocations), the registry of
// them all, the calling thread's state, and what one part of the driver uses
// of another. Private to libfake_cuda.so; tests use fake_cuda.h.
#pragma once

#define __CUDA_API_VERSION_INTERNAL 1       // exact exported names, no _v2 macros
#define __CUDA_API_PUSH_VISIBILITY_DEFAULT 1  // the declarations in cuda.h are exported
#include <cuda.h>

#define FAKE_CUDA_API __attribute__((visibility("default")))
#include "fake_cuda.h"
#include "fake_cuda_devices.h"
#include "fake_kernel.h"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

namespace fake_cuda {

using u64 = std::uint64_t;

constexpr int kDriverVersion = 13000;
constexpr int kLeastPriority = 0;
constexpr int kGreatestPriority = -5;
constexpr size_t kTotalMemory = size_t{80} << 30;
constexpr int kMaxCtxStack = 64;
constexpr unsigned kDefaultSmCount = 132;  // an H100 SXM

inline u64 now_ns() {
  return static_cast<u64>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count());
}

inline std::atomic<bool> g_initialized{false};
inline std::atomic<bool> g_shutdown{false};

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
  std::array<Context*, kMaxDevices> primary{};
  std::array<int, kMaxDevices> primary_refs{};
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

inline Registry& reg() {
  static Registry* r = new Registry;
  return *r;
}

// The calling thread's stack of current contexts, its id and capture mode.
struct ThreadState {
  Context* stack[kMaxCtxStack];
  int depth;
  u64 uid;
  CUstreamCaptureMode capture_mode;
};
extern thread_local ThreadState t_state;  // fake_cuda_workers.cpp

// ---- fake_cuda_workers.cpp: current contexts, stream workers, implicit synchronisation ----

Context* current_ctx();
// The current context, alive: else CUDA_ERROR_INVALID_CONTEXT or CUDA_ERROR_CONTEXT_IS_DESTROYED.
CUresult need_ctx(Context*& c);
// Waits until stream s has completed its operation number seq (or the process exits).
void wait_seq(Stream& s, u64 seq);
void reap();
std::shared_ptr<Stream> make_stream(Context* c, Kind kind, unsigned flags, int priority);
void mark_destroyed(Stream& s);
void prune(Context& c);
void add_pending(std::vector<Dep>& deps, const std::shared_ptr<Stream>& t);
CUresult enqueue(const std::shared_ptr<Stream>& sp, Op op, u64* seq_out = nullptr);
CUresult resolve(CUstream h, bool ptsz, std::shared_ptr<Stream>& out);
void sync_context(Context& c);

// Calls f with the stream that handle h names.
template <class F>
CUresult with_stream(CUstream h, bool ptsz, F&& f) {
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  f(*s);
  return CUDA_SUCCESS;
}

// ---- fake_cuda_contexts.cpp ----

bool known_ctx(Context* c);
// dev: a valid visible ordinal. green, root, sm_count: for a green context (see Context).
Context* make_context(CUdevice dev, unsigned flags, bool primary, GreenCtx* green = nullptr, Context* root = nullptr,
                      unsigned sm_count = 0);
void destroy_context(Context& c);
// The device's primary context, made on first use; one more reference to it.
Context* retain_primary(CUdevice dev);
void sync_memory_users(Context& c);

// ---- fake_cuda_streams.cpp ----

// A new user stream of context c (flags already checked).
CUstream add_user_stream(Context* c, unsigned flags, int priority);

// ---- fake_cuda_events.cpp ----

CUresult find_event(CUevent e, std::shared_ptr<Event>& out);
std::shared_ptr<Record> last_record(Event& ev);
// Records ev on s, after s's earlier work and `deps`.
CUresult record_on(Event& ev, const std::shared_ptr<Stream>& s, std::vector<Dep> deps);

// ---- fake_cuda_memory.cpp ----

// A device-accessible range: device memory, or pinned / registered host memory.
bool valid_dptr(CUdeviceptr p, size_t n);

// ---- fake_cuda_green.cpp ----

// The SMs a context may use: a green context's own, else the whole device's.
unsigned ctx_sm_count(const Context& c);

// ---- fake_cuda_entry.cpp ----

// Counts a call of driver function fn and answers an error injected for it.
CUresult entry(const char* fn);
// The same, and CUDA_ERROR_NOT_INITIALIZED before a successful cuInit.
CUresult entry_init(const char* fn);

}  // namespace fake_cuda

#define FAKE_ENTRY()                                                                  \
  do {                                                                                \
    if (const CUresult fake_e_ = fake_cuda::entry(__func__); fake_e_ != CUDA_SUCCESS) \
      return fake_e_;                                                                 \
  } while (0)

#define FAKE_ENTRY_INIT()                                                                  \
  do {                                                                                     \
    if (const CUresult fake_e_ = fake_cuda::entry_init(__func__); fake_e_ != CUDA_SUCCESS) \
      return fake_e_;                                                                      \
  } while (0)

// A driver function whose whole body is one call after the entry checks.
#define FAKE_BODY(call) \
  {                     \
    FAKE_ENTRY_INIT();  \
    return call;        \
  }

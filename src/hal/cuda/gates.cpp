#include "hal/cuda/gates.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>

#include "core/log.h"
#include "hal/cuda/context_scope.h"

namespace xsched::cuda {

// Streams waiting at closed gates take hardware connections
// (CUDA_DEVICE_MAX_CONNECTIONS: 8 by default, at most 32) away from the rest
// of their context, and other streams can end up queued behind them.
// Measured on H100 (bench/results/preempt/connections/): with as many held
// streams as connections, no other stream of the context starts work; with
// 32 connections, 31 held streams beside 33 busy ones stalled a
// high-priority stream for seconds while 16 and 24 did not, and 16 held
// among 64 busy streams stalled it too. So gates are held only in a context
// whose gated streams that ever launched work number at most half its
// connections, and at most that many at once (by the process or xschedd:
// the limit of gates/gate_words.h); a queue held otherwise is held as at
// Level 1 (it launches nothing more; what it launched runs).
uint32_t max_gated_streams_per_context() {
  static const uint32_t n = [] {
    long connections = 8;
    if (const char* v = std::getenv("CUDA_DEVICE_MAX_CONNECTIONS"); v != nullptr && *v != '\0') {
      char* end = nullptr;
      const long parsed = std::strtol(v, &end, 10);
      if (end != v && *end == '\0' && parsed >= 1) connections = std::min(parsed, 32L);
    }
    return static_cast<uint32_t>(connections / 2);
  }();
  return n;
}

namespace {

struct PageMaker {
  const Driver& d;
  CUcontext ctx;
};

// Maps a new page of gate words into ctx for the device to wait on. The page
// is the process's own shared memory (xschedd maps it too), registered with
// the driver rather than allocated by it.
bool map_for_device(void* arg, uint32_t* words, uint64_t* device) {
  const PageMaker& m = *static_cast<PageMaker*>(arg);
  if (m.d.cuMemHostRegister_v2 == nullptr || m.d.cuMemHostGetDevicePointer_v2 == nullptr ||
      m.d.cuStreamWaitValue32_v2 == nullptr) {
    return false;
  }
  ContextScope scope(m.d, m.ctx);
  CUresult r = m.d.cuMemHostRegister_v2(words, gates::kPageBytes, CU_MEMHOSTREGISTER_DEVICEMAP);
  CUdeviceptr ptr = 0;
  if (r == CUDA_SUCCESS) r = m.d.cuMemHostGetDevicePointer_v2(&ptr, words, 0);
  if (r != CUDA_SUCCESS) {
    char buf[32];
    log(LogLevel::kInfo, "context %p: no host-mapped gate page (%s): its queues stay at Level 1",
        static_cast<void*>(m.ctx), m.d.error_name(r, buf));
    return false;
  }
  *device = ptr;
  return true;
}

}  // namespace

// Whether a CUDA gate was ever made (the CPU reference device's words do not count).
constinit std::atomic<bool> detail::g_cuda_gates{false};

bool acquire_gate(const Driver& d, CUcontext ctx, Gate* out) {
  PageMaker maker{d, ctx};
  if (!gates::acquire_word(ctx, max_gated_streams_per_context(), map_for_device, &maker, &out->word)) return false;
  detail::g_cuda_gates.store(true, std::memory_order_release);
  out->device = gates::device_address(out->word);
  out->used = false;
  return true;
}

void release_gate(Gate& g) { gates::release_word(g.word); }

bool hold_gate(Gate& g) { return gates::hold(g.word); }

void let_go_gate(Gate& g) { gates::let_go(g.word); }

void note_gate_used(Gate& g) {
  if (!g.valid() || g.used) return;
  g.used = true;
  gates::note_used(g.word);
}

// The driver frees the page's registration with the context; the memory is
// the process's, but the owner's address may come back for another context.
void retire_gates(CUcontext ctx) { gates::retire(ctx); }

// ---- lazy kernel loading ----

namespace {

// The kernels this thread has seen loaded, per context: an open-addressing
// set, allocated at the thread's first launch, so that a launch costs one
// lookup. Programs launch hundreds of distinct kernels (a small direct-mapped
// cache kept evicting them, and each miss costs driver calls).
// Bumped when code is unloaded or a context goes: a new kernel may then come
// back at an old handle, so every thread's set starts over.
std::atomic<uint64_t> g_loaded_generation{0};

struct LoadedEntry {
  CUfunction f = nullptr;
  CUcontext ctx = nullptr;
};

// Frees the thread's table when the thread ends. Only making the table
// touches it: LoadedSet itself is trivial, so a launch's lookup reads a plain
// thread-local, without the guard that one with a destructor needs.
struct LoadedTableOwner {
  LoadedEntry* table = nullptr;
  ~LoadedTableOwner();
};
thread_local LoadedTableOwner t_loaded_owner;

class LoadedSet {
 public:
  bool contains(CUfunction f, CUcontext ctx) {
    forget_if_stale();
    if (entries_ == nullptr) return false;
    for (std::size_t i = home(f, ctx), n = 0; n < kSlots; i = (i + 1) % kSlots, ++n) {
      const Entry& e = entries_[i];
      if (e.f == nullptr) return false;
      if (e.f == f && e.ctx == ctx) return true;
    }
    return false;
  }
  // Full (or out of memory, or the thread ending): not remembered, the next
  // launch checks again.
  void insert(CUfunction f, CUcontext ctx) {
    forget_if_stale();
    if (entries_ == nullptr && !ended_) {
      entries_ = new (std::nothrow) Entry[kSlots]();
      t_loaded_owner.table = entries_;
    }
    if (entries_ == nullptr || size_ >= kSlots * 3 / 4) return;
    std::size_t i = home(f, ctx);
    while (entries_[i].f != nullptr) i = (i + 1) % kSlots;
    entries_[i] = Entry{f, ctx};
    ++size_;
  }

  // The thread ends: its table is freed (LoadedTableOwner).
  void end() {
    entries_ = nullptr;
    size_ = 0;
    ended_ = true;
  }

 private:
  static constexpr std::size_t kSlots = 4096;
  using Entry = LoadedEntry;
  static std::size_t home(CUfunction f, CUcontext ctx) {
    const auto h = (reinterpret_cast<uintptr_t>(f) ^ (reinterpret_cast<uintptr_t>(ctx) << 7)) * 0x9E3779B97F4A7C15ull;
    return static_cast<std::size_t>(h >> 52) % kSlots;
  }
  void forget_if_stale() {
    const uint64_t now = g_loaded_generation.load(std::memory_order_acquire);
    if (now == generation_) return;
    generation_ = now;
    if (entries_ != nullptr) std::fill(entries_, entries_ + kSlots, Entry{});
    size_ = 0;
  }

  Entry* entries_ = nullptr;  // owned by t_loaded_owner
  std::size_t size_ = 0;
  uint64_t generation_ = 0;
  bool ended_ = false;
};
constinit thread_local LoadedSet t_loaded;

LoadedTableOwner::~LoadedTableOwner() {
  t_loaded.end();
  delete[] table;
}

enum class Load { kWasLoaded, kLoadedNow, kUnknown };

// Loads f into ctx (current) if it is not.
Load load(const Driver& d, CUfunction f) {
  // A library's CUkernel (what the runtime launches) is loaded per context on
  // demand, and cuFuncIsLoaded does not reliably tell about one (seen on the
  // H100: a freshly loaded library's kernel passed, then loaded lazily in the
  // launch, behind a closed gate). Its function in this context is asked for
  // first (for a CUfunction that fails), then that function is loaded if it
  // is not: getting it alone did not load everything the launch needs (the
  // runtime's first launch then still waited behind a closed gate).
  gates::ForcedOpen open;
  CUfunction fn = f;
  bool was_kernel = false;
  if (d.cuKernelGetFunction != nullptr) {
    CUfunction in_ctx = nullptr;
    if (d.cuKernelGetFunction(&in_ctx, reinterpret_cast<CUkernel>(f)) == CUDA_SUCCESS && in_ctx != nullptr) {
      fn = in_ctx;
      was_kernel = true;
    }
  }
  CUfunctionLoadingState state = CU_FUNCTION_LOADING_STATE_LOADED;
  if (d.cuFuncIsLoaded == nullptr || d.cuFuncIsLoaded(&state, fn) != CUDA_SUCCESS) {
    return was_kernel ? Load::kLoadedNow : Load::kUnknown;
  }
  if (state == CU_FUNCTION_LOADING_STATE_LOADED) return was_kernel ? Load::kLoadedNow : Load::kWasLoaded;
  return d.cuFuncLoad != nullptr && d.cuFuncLoad(fn) == CUDA_SUCCESS ? Load::kLoadedNow : Load::kUnknown;
}

}  // namespace

bool known_loaded(CUfunction f, CUcontext ctx) { return t_loaded.contains(f, ctx); }

void forget_loaded_kernels() { g_loaded_generation.fetch_add(1, std::memory_order_acq_rel); }

void note_loaded(CUfunction f, CUcontext ctx) {
  if (!t_loaded.contains(f, ctx)) t_loaded.insert(f, ctx);
}

bool load_function_before_launch(const Driver& d, CUfunction f, CUcontext ctx) {
  if (f == nullptr || !gates_in_use() || t_loaded.contains(f, ctx)) return false;
  ContextScope scope(d, ctx);
  // A kernel the driver cannot describe is not remembered: its launch then
  // loads it, and may wait for a gate, as without this check.
  const Load l = load(d, f);
  if (l != Load::kUnknown) t_loaded.insert(f, ctx);
  return l == Load::kLoadedNow;
}

}  // namespace xsched::cuda

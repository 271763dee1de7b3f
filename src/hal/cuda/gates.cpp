#include "hal/cuda/gates.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "core/log.h"
#include "hal/cuda/context_scope.h"

namespace xsched::cuda {

constexpr uint32_t kGateClosed = 0;
// One page of gates per context: PyTorch's stream pools and every thread's
// default stream together stay far below this.
constexpr uint32_t kSlotsPerPage = 1024;

// Streams waiting at closed gates take hardware connections
// (CUDA_DEVICE_MAX_CONNECTIONS: 8 by default, at most 32) away from the rest
// of their context, and other streams can end up queued behind them.
// Measured on H100 (bench/results/preempt/connections/): with as many held
// streams as connections, no other stream of the context starts work; with
// 32 connections, 31 held streams beside 33 busy ones stalled a
// high-priority stream for seconds while 16 and 24 did not, and 16 held
// among 64 busy streams stalled it too. So gates are held only in a context
// whose gated streams that ever launched work number at most half its
// connections, and at most that many at once; a queue held otherwise is held
// as at Level 1 (it launches nothing more; what it launched runs).
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

struct GatePage {
  CUcontext ctx = nullptr;
  uint32_t* words = nullptr;  // host side of the mapped page
  CUdeviceptr device = 0;
  std::vector<uint32_t> free_slots;
  std::array<bool, kSlotsPerPage> held{};
  uint32_t held_now = 0;  // slots held
  uint32_t used = 0;      // slots whose stream has launched work
  bool dead = false;  // its context is gone, and the page with it
};

namespace {

// Process-wide; immortal, since queues and exit handlers may use it late.
struct Bank {
  std::mutex mu;
  std::vector<GatePage*> pages;  // pages are never freed: a dead one is only marked
  uint32_t forced_open = 0;      // live GatesOpen scopes (+1 for good once the process exits)
  std::atomic<bool> in_use{false};
};

Bank& bank() {
  static Bank* b = new Bank;
  return *b;
}

void store(GatePage& p, uint32_t slot, uint32_t value) {
  if (p.dead) return;
  std::atomic_ref<uint32_t>(p.words[slot]).store(value, std::memory_order_seq_cst);
}

// Under the bank's lock: what the word must say now.
void write_locked(const Bank& b, GatePage& p, uint32_t slot) {
  store(p, slot, p.held[slot] && b.forced_open == 0 ? kGateClosed : kGateOpen);
}

void rewrite_all_locked(Bank& b) {
  for (GatePage* p : b.pages) {
    if (p->held_now == 0) continue;  // the common case: GatesOpen then costs two lock round trips
    for (uint32_t s = 0; s < kSlotsPerPage; ++s) {
      if (p->held[s]) write_locked(b, *p, s);
    }
  }
}

// At exit nothing may stay behind a gate: the driver's teardown waits for streams.
void open_all_at_exit() {
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  ++b.forced_open;
  rewrite_all_locked(b);
}

GatePage* make_page_locked(Bank& b, const Driver& d, CUcontext ctx) {
  if (d.cuMemHostAlloc == nullptr || d.cuMemHostGetDevicePointer_v2 == nullptr || d.cuStreamWaitValue32_v2 == nullptr) {
    return nullptr;
  }
  auto* page = new (std::nothrow) GatePage;
  if (page == nullptr) return nullptr;
  try {
    page->free_slots.reserve(kSlotsPerPage);
    b.pages.reserve(b.pages.size() + 1);
  } catch (const std::bad_alloc&) {
    delete page;
    return nullptr;
  }
  ContextScope scope(d, ctx);
  void* host = nullptr;
  CUresult r = d.cuMemHostAlloc(&host, kSlotsPerPage * sizeof(uint32_t), CU_MEMHOSTALLOC_DEVICEMAP);
  if (r == CUDA_SUCCESS) r = d.cuMemHostGetDevicePointer_v2(&page->device, host, 0);
  if (r != CUDA_SUCCESS) {
    char buf[32];
    log(LogLevel::kInfo, "context %p: no host-mapped gate page (%s): its queues stay at Level 1", static_cast<void*>(ctx),
        d.error_name(r, buf));
    delete page;
    return nullptr;
  }
  page->ctx = ctx;
  page->words = static_cast<uint32_t*>(host);
  for (uint32_t s = kSlotsPerPage; s-- > 0;) {
    page->words[s] = kGateOpen;
    page->free_slots.push_back(s);
  }
  if (!b.in_use.exchange(true)) std::atexit(open_all_at_exit);
  b.pages.push_back(page);
  return page;
}

}  // namespace

bool acquire_gate(const Driver& d, CUcontext ctx, Gate* out) {
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  GatePage* page = nullptr;
  for (GatePage* p : b.pages) {
    if (!p->dead && p->ctx == ctx) page = p;
  }
  if (page == nullptr) page = make_page_locked(b, d, ctx);
  if (page == nullptr || page->free_slots.empty()) return false;
  const uint32_t slot = page->free_slots.back();
  page->free_slots.pop_back();
  page->held[slot] = false;
  store(*page, slot, kGateOpen);
  out->page = page;
  out->slot = slot;
  out->device = page->device + slot * sizeof(uint32_t);
  return true;
}

// Counts the slot out of the page's held gates; false if it was not held.
static bool unhold_locked(GatePage& p, uint32_t slot) {
  if (!p.held[slot]) return false;
  p.held[slot] = false;
  --p.held_now;
  return true;
}

void release_gate(Gate& g) {
  if (!g.valid()) return;
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  GatePage& p = *g.page;
  unhold_locked(p, g.slot);
  if (g.used) --p.used;
  store(p, g.slot, kGateOpen);
  p.free_slots.push_back(g.slot);  // reserved to full size: never allocates
  g.page = nullptr;
}

bool hold_gate(Gate& g) {
  if (!g.valid()) return false;
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  GatePage& p = *g.page;
  if (p.held[g.slot]) return true;
  const uint32_t limit = max_gated_streams_per_context();
  if (p.held_now >= limit || p.used > limit) return false;
  p.held[g.slot] = true;
  ++p.held_now;
  write_locked(b, p, g.slot);
  return true;
}

void let_go_gate(Gate& g) {
  if (!g.valid()) return;
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  GatePage& p = *g.page;
  if (!unhold_locked(p, g.slot)) return;
  write_locked(b, p, g.slot);
}

void note_gate_used(Gate& g) {
  if (!g.valid() || g.used) return;
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  g.used = true;
  ++g.page->used;
}

bool gates_in_use() { return bank().in_use.load(std::memory_order_acquire); }

GatesOpen::GatesOpen() {
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  if (b.forced_open++ == 0) rewrite_all_locked(b);
}

GatesOpen::~GatesOpen() {
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  if (--b.forced_open == 0) rewrite_all_locked(b);
}

void retire_gates(CUcontext ctx) {
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  for (GatePage* p : b.pages) {
    if (p->ctx == ctx) p->dead = true;
  }
}

// ---- lazy kernel loading ----

namespace {

// The kernels this thread has seen loaded, per context: an open-addressing
// set, allocated at the thread's first launch, so that a launch costs one
// lookup. Programs launch hundreds of distinct kernels (a small direct-mapped
// cache kept evicting them, and each miss costs driver calls).
// Bumped when code is unloaded or a context goes: a new kernel may then come
// back at an old handle, so every thread's set starts over.
std::atomic<uint64_t> g_loaded_generation{0};

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
  // Full (or out of memory): not remembered, the next launch checks again.
  void insert(CUfunction f, CUcontext ctx) {
    forget_if_stale();
    if (entries_ == nullptr) entries_.reset(new (std::nothrow) Entry[kSlots]());
    if (entries_ == nullptr || size_ >= kSlots * 3 / 4) return;
    std::size_t i = home(f, ctx);
    while (entries_[i].f != nullptr) i = (i + 1) % kSlots;
    entries_[i] = Entry{f, ctx};
    ++size_;
  }

 private:
  static constexpr std::size_t kSlots = 4096;
  struct Entry {
    CUfunction f = nullptr;
    CUcontext ctx = nullptr;
  };
  static std::size_t home(CUfunction f, CUcontext ctx) {
    const auto h = (reinterpret_cast<uintptr_t>(f) ^ (reinterpret_cast<uintptr_t>(ctx) << 7)) * 0x9E3779B97F4A7C15ull;
    return static_cast<std::size_t>(h >> 52) % kSlots;
  }
  void forget_if_stale() {
    const uint64_t now = g_loaded_generation.load(std::memory_order_acquire);
    if (now == generation_) return;
    generation_ = now;
    if (entries_ != nullptr) std::fill(entries_.get(), entries_.get() + kSlots, Entry{});
    size_ = 0;
  }

  std::unique_ptr<Entry[]> entries_;
  std::size_t size_ = 0;
  uint64_t generation_ = 0;
};
thread_local LoadedSet t_loaded;

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
  GatesOpen open;
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

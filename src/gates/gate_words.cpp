#include "gates/gate_words.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include "core/log.h"

namespace xsched::gates {

struct Page {
  const void* owner = nullptr;
  uint32_t id = 0;
  int fd = -1;  // the memfd xschedd maps; -1: not shareable
  uint32_t* words = nullptr;
  uint64_t device = 0;
  uint32_t limit = 0;
  std::vector<uint32_t> free_slots;
  // Per word, under the bank's lock.
  std::array<bool, kWordsPerPage> held{};
  std::array<bool, kWordsPerPage> granted{};
  std::array<bool, kWordsPerPage> forced{};
  std::array<bool, kWordsPerPage> used{};
  PageInit init = nullptr;  // with owner, what the page is for (two kinds of owner may share an address)
  uint32_t closable = 0;    // words held, or granted and used: each may keep a stream at a closed gate
  uint32_t granted_now = 0;
  uint32_t used_now = 0;    // words whose queue has launched work
  bool dead = false;        // its owner is gone (or, in a forked child, the parent's)
};

namespace {

// Process-wide; immortal, since queues and exit handlers may use it late.
struct Bank {
  std::mutex mu;
  std::vector<Page*> pages;  // pages are never freed: a dead one is only marked; index = id - 1
  uint32_t forced_open = 0;  // live ForcedOpen scopes (+1 for good once the process exits)
  std::atomic<bool> in_use{false};
  std::atomic<uint32_t> pages_made{0};
};

Bank& bank() {
  static Bank* b = new Bank;
  return *b;
}

// Under the bank's lock: the process's bits of word i as its state says,
// xschedd's bit kept.
void write_locked(const Bank& b, Page& p, uint32_t i) {
  if (p.dead) return;
  const uint32_t bits = ((p.forced[i] || b.forced_open != 0) ? kForcedOpen : 0u) | (p.held[i] ? 0u : kNotHeld) |
                        (p.granted[i] ? 0u : kIgnoreDaemon);
  std::atomic_ref<uint32_t> word(p.words[i]);
  uint32_t old = word.load(std::memory_order_relaxed);
  while (!word.compare_exchange_weak(old, (old & kDaemonRuns) | bits, std::memory_order_seq_cst)) {
  }
}

// A word counts against its page's limit while it may keep a stream waiting
// at a closed gate: held by the process, or granted to xschedd once its
// stream has work (an idle stream behind a closed gate takes no connection).
bool counted(const Page& p, uint32_t i) { return p.held[i] || (p.granted[i] && p.used[i]); }

// Applies change to word i's state, keeping the page's counts.
template <class F>
void change_locked(Page& p, uint32_t i, F&& change) {
  const bool was_counted = counted(p, i);
  const bool was_granted = p.granted[i];
  change();
  p.closable = p.closable - (was_counted ? 1 : 0) + (counted(p, i) ? 1 : 0);
  p.granted_now = p.granted_now - (was_granted ? 1 : 0) + (p.granted[i] ? 1 : 0);
}

void rewrite_all_locked(Bank& b) {
  for (Page* p : b.pages) {
    if (p->closable == 0 && p->granted_now == 0) continue;  // the common case: ForcedOpen then costs two lock round trips
    for (uint32_t i = 0; i < kWordsPerPage; ++i) {
      if (p->held[i] || p->granted[i]) write_locked(b, *p, i);
    }
  }
}

// At exit nothing may stay behind a gate: a driver's teardown waits for its streams.
void open_all_at_exit() {
  Bank& b = bank();
  // (In a forked child the lock was released by the fork handlers, and the
  // parent's pages are dead: nothing of the parent's is written.)
  std::lock_guard lk(b.mu);
  ++b.forced_open;
  rewrite_all_locked(b);
}

void ungrant_locked(Bank& b, Page& p, uint32_t i) {
  if (!p.granted[i]) return;
  change_locked(p, i, [&] { p.granted[i] = false; });
  write_locked(b, p, i);
}

// fork(): the bank's lock is taken around it, so that the child finds it
// free; in the child the parent's pages are dead (the child shares them,
// MAP_SHARED, and must never write them), its own new pages are not.
void before_fork() { bank().mu.lock(); }
void after_fork_in_parent() { bank().mu.unlock(); }
void after_fork_in_child() {
  Bank& b = bank();
  for (Page* p : b.pages) p->dead = true;
  b.mu.unlock();
}

// A page of shared memory: a sealed memfd when the system has one, so that
// xschedd can map it and cannot be made to fault by a shrinking file.
uint32_t* map_page(int* fd) {
  *fd = memfd_create("xsched-gates", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (*fd >= 0) {
    void* mem = MAP_FAILED;
    if (ftruncate(*fd, kPageBytes) == 0 && fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0) {
      mem = mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    }
    if (mem != MAP_FAILED) return static_cast<uint32_t*>(mem);
    close(*fd);
    *fd = -1;
  }
  void* mem = mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return mem == MAP_FAILED ? nullptr : static_cast<uint32_t*>(mem);
}

Page* make_page_locked(Bank& b, const void* owner, uint32_t limit, PageInit init, void* init_arg) {
  if (b.pages.size() >= kMaxPages) return nullptr;
  auto* page = new (std::nothrow) Page;
  if (page == nullptr) return nullptr;
  try {
    page->free_slots.reserve(kWordsPerPage);
    b.pages.reserve(b.pages.size() + 1);
  } catch (const std::bad_alloc&) {
    delete page;
    return nullptr;
  }
  page->words = map_page(&page->fd);
  if (page->words == nullptr) {
    delete page;
    return nullptr;
  }
  for (uint32_t i = 0; i < kWordsPerPage; ++i) page->words[i] = kNotHeld | kIgnoreDaemon | kDaemonRuns;
  if (init != nullptr && !init(init_arg, page->words, &page->device)) {
    munmap(page->words, kPageBytes);
    if (page->fd >= 0) close(page->fd);
    delete page;
    return nullptr;
  }
  page->owner = owner;
  page->init = init;
  page->limit = limit;
  page->id = static_cast<uint32_t>(b.pages.size() + 1);
  for (uint32_t i = kWordsPerPage; i-- > 0;) page->free_slots.push_back(i);
  if (!b.in_use.exchange(true)) {
    std::atexit(open_all_at_exit);
    pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
  }
  b.pages.push_back(page);
  b.pages_made.store(static_cast<uint32_t>(b.pages.size()), std::memory_order_release);
  return page;
}

}  // namespace

bool acquire_word(const void* owner, uint32_t limit, PageInit init, void* init_arg, Word* out) {
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  // One page per owner: its limit is the owner's (a CUDA context's).
  Page* page = nullptr;
  for (Page* p : b.pages) {
    if (!p->dead && p->owner == owner && p->init == init) page = p;
  }
  if (page == nullptr) page = make_page_locked(b, owner, limit, init, init_arg);
  if (page == nullptr || page->free_slots.empty()) return false;
  const uint32_t i = page->free_slots.back();
  page->free_slots.pop_back();
  write_locked(b, *page, i);
  out->page = page;
  out->index = i;
  return true;
}

void release_word(Word& w) {
  if (!w.valid()) return;
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  Page& p = *w.page;
  const uint32_t i = w.index;
  if (p.used[i]) --p.used_now;
  change_locked(p, i, [&] { p.held[i] = p.granted[i] = p.forced[i] = p.used[i] = false; });
  write_locked(b, p, i);
  if (!p.dead) std::atomic_ref<uint32_t>(p.words[i]).fetch_or(kDaemonRuns, std::memory_order_seq_cst);
  p.free_slots.push_back(i);  // reserved to full size: never allocates
  w.page = nullptr;
}

uint64_t device_address(const Word& w) { return w.valid() ? w.page->device + w.index * sizeof(uint32_t) : 0; }

const uint32_t* host_address(const Word& w) { return w.valid() ? w.page->words + w.index : nullptr; }

bool hold(Word& w) {
  if (!w.valid()) return false;
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  Page& p = *w.page;
  const uint32_t i = w.index;
  if (p.held[i]) return true;
  if (!counted(p, i) && (p.closable >= p.limit || p.used_now > p.limit)) return false;
  change_locked(p, i, [&] { p.held[i] = true; });
  write_locked(b, p, i);
  return true;
}

void let_go(Word& w) {
  if (!w.valid()) return;
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  Page& p = *w.page;
  const uint32_t i = w.index;
  if (!p.held[i]) return;
  change_locked(p, i, [&] { p.held[i] = false; });
  write_locked(b, p, i);
}

void note_used(Word& w) {
  if (!w.valid()) return;
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  Page& p = *w.page;
  const uint32_t i = w.index;
  if (p.used[i]) return;
  ++p.used_now;
  if (p.granted[i] && !p.held[i] && p.closable >= p.limit) ungrant_locked(b, p, i);  // no room once it counts
  change_locked(p, i, [&] { p.used[i] = true; });
  // Too many streams at work for gates: xschedd may hold none of them.
  if (p.used_now > p.limit) {
    for (uint32_t k = 0; k < kWordsPerPage; ++k) ungrant_locked(b, p, k);
  }
}

void run_through(Word& w, bool on) {
  if (!w.valid()) return;
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  if (w.page->forced[w.index] == on) return;
  w.page->forced[w.index] = on;
  write_locked(b, *w.page, w.index);
}

bool held_by_daemon(const Word& w) {
  if (!w.valid()) return false;
  const uint32_t v = std::atomic_ref<uint32_t>(w.page->words[w.index]).load(std::memory_order_relaxed);
  return (v & (kIgnoreDaemon | kDaemonRuns)) == 0;
}

bool follow_daemon(Word& w, bool run, bool stored) {
  if (!w.valid()) return false;
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  Page& p = *w.page;
  const uint32_t i = w.index;
  if (p.dead) return false;
  const bool was_granted = p.granted[i];
  // The daemon stored this decision (or a newer one) itself: its bit is not
  // the agent's to write, which could put an older decision over a newer one.
  if (!stored) {
    std::atomic_ref<uint32_t> word(p.words[i]);
    if (run) {
      word.fetch_or(kDaemonRuns, std::memory_order_seq_cst);
    } else {
      word.fetch_and(~kDaemonRuns, std::memory_order_seq_cst);
    }
  }
  if (was_granted || p.fd < 0) return was_granted;  // a page xschedd cannot map is never granted
  if (p.used_now > p.limit || (!counted(p, i) && p.used[i] && p.closable >= p.limit)) return false;
  change_locked(p, i, [&] { p.granted[i] = true; });
  write_locked(b, p, i);
  return false;
}

void revoke_all() {
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  for (Page* p : b.pages) {
    if (p->granted_now == 0) continue;
    for (uint32_t i = 0; i < kWordsPerPage; ++i) ungrant_locked(b, *p, i);
  }
}

uint32_t page_count() { return bank().pages_made.load(std::memory_order_acquire); }

bool page_fd(uint32_t id, int* fd) {
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  if (id == 0 || id > b.pages.size() || b.pages[id - 1]->dead) return false;
  *fd = b.pages[id - 1]->fd;
  return true;
}

uint32_t page_id(const Word& w) { return w.valid() ? w.page->id : 0; }

ForcedOpen::ForcedOpen() {
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  if (b.forced_open++ == 0) rewrite_all_locked(b);
}

ForcedOpen::~ForcedOpen() {
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  if (--b.forced_open == 0) rewrite_all_locked(b);
}

void retire(const void* owner) {
  Bank& b = bank();
  std::lock_guard lk(b.mu);
  for (Page* p : b.pages) {
    if (p->owner == owner) p->dead = true;
  }
}

bool in_use() { return bank().in_use.load(std::memory_order_acquire); }

}  // namespace xsched::gates

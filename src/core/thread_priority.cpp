#include "core/thread_priority.h"

#include <algorithm>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/hint_limits.h"
#include "core/xqueue.h"

namespace xsched {
namespace {

// Deeper nesting than this is a scope that is never popped (a bug in the
// caller): refused, so that it cannot grow without bound.
constexpr size_t kMaxDepth = 1024;

// A queue a scope gave its priority to.
struct Touched {
  uint64_t id = 0;
  std::weak_ptr<XQueue> queue;  // weak: a scope never keeps a destroyed stream's queue alive
};

struct Scope {
  int32_t priority = 0;
  uint64_t serial = 0;           // names the scope in the queues' records (unique in the process)
  std::vector<Touched> touched;  // usually one or two queues
};

// What the scopes did to one queue.
struct Cover {
  uint64_t serial;
  int32_t priority;
};
struct QueueRecord {
  int32_t own = 0;      // its priority without scopes
  int32_t applied = 0;  // the priority scopes gave it last: any other value was set by someone else
  std::vector<Cover> covers;  // the scopes that cover it, oldest first
};

struct Registry {
  std::mutex mu;
  std::unordered_map<uint64_t, QueueRecord> queues;  // only queues some scope covers
};

// Immortal: threads end their scopes at exit, possibly after static destructors ran.
Registry& registry() {
  static Registry* const r = new Registry;
  return *r;
}

std::atomic<uint64_t> g_next_serial{1};

void set_priority(XQueue& q, int32_t priority) {
  q.update_hints([&](xs_hints_t& h) { h.priority = priority; });
}

// The calling thread's scopes, innermost last. Ended scopes stay in `stack`
// (only `depth` shrinks), so a thread that opens a scope per request reuses
// the same vectors instead of allocating each time.
struct ThreadScopes {
  std::vector<Scope> stack;
  size_t depth = 0;
  ~ThreadScopes() {
    while (depth > 0) pop_thread_priority();  // a thread that exits inside a scope ends it
  }
};
thread_local ThreadScopes t_scopes;

// The scope `serial` no longer covers t.queue: the queue takes the priority
// of the newest scope still covering it, or its own.
void uncover(const Touched& t, uint64_t serial) {
  const std::shared_ptr<XQueue> q = t.queue.lock();
  Registry& r = registry();
  std::lock_guard lk(r.mu);
  auto it = r.queues.find(t.id);
  if (it == r.queues.end()) return;
  QueueRecord& rec = it->second;
  std::erase_if(rec.covers, [&](const Cover& c) { return c.serial == serial; });
  if (q != nullptr) {
    const int32_t now = q->hints().priority;
    if (now != rec.applied) rec.own = now;  // set by someone else meanwhile: that is its own now
    const int32_t target = rec.covers.empty() ? rec.own : rec.covers.back().priority;
    if (target != now) set_priority(*q, target);
    rec.applied = target;
  }
  if (rec.covers.empty()) r.queues.erase(it);
}

}  // namespace

xs_result_t push_thread_priority(int32_t priority) noexcept {
  try {
    // Made here, on the first scope, where a failure is a result:
    // apply_thread_priority() (noexcept, only inside a scope) then finds it made.
    if (!valid_priority(priority)) return XS_ERR_INVALID_ARG;
    registry();
    ThreadScopes& ts = t_scopes;
    if (ts.depth >= kMaxDepth) return XS_ERR_STATE;
    if (ts.depth == ts.stack.size()) ts.stack.emplace_back();
    Scope& s = ts.stack[ts.depth];
    s.priority = priority;
    s.serial = g_next_serial.fetch_add(1, std::memory_order_relaxed);
    s.touched.clear();
    if (ts.depth++ == 0) detail::g_threads_in_priority_scope.fetch_add(1, std::memory_order_relaxed);
    return XS_OK;
  } catch (const std::bad_alloc&) {
    return XS_ERR_NO_MEMORY;
  }
}

xs_result_t pop_thread_priority() noexcept {
  ThreadScopes& ts = t_scopes;
  if (ts.depth == 0) return XS_ERR_STATE;
  Scope& s = ts.stack[ts.depth - 1];
  for (const Touched& t : s.touched) {
    try {
      uncover(t, s.serial);
    } catch (...) {
      // Only the scheduler's bookkeeping can throw here (memory): the queue
      // keeps the scope's priority, the other queues still go back.
    }
  }
  s.touched.clear();  // keeps its capacity for the next scope
  if (--ts.depth == 0) detail::g_threads_in_priority_scope.fetch_sub(1, std::memory_order_relaxed);
  return XS_OK;
}

bool thread_priority(int32_t* out) noexcept {
  const ThreadScopes& ts = t_scopes;
  if (ts.depth == 0) return false;
  if (out != nullptr) *out = ts.stack[ts.depth - 1].priority;
  return true;
}

void apply_thread_priority(const std::shared_ptr<XQueue>& q) noexcept {
  ThreadScopes& ts = t_scopes;
  if (ts.depth == 0 || q == nullptr) return;
  Scope& s = ts.stack[ts.depth - 1];
  const uint64_t id = q->id();
  for (const Touched& t : s.touched) {
    if (t.id == id) return;  // the common case: this scope covers the queue already
  }
  try {
    s.touched.push_back(Touched{id, q});
  } catch (...) {
    return;  // out of memory: the queue keeps its priority
  }
  Registry& r = registry();  // made by push_thread_priority(): no allocation here
  std::unique_lock<std::mutex> lk;
  QueueRecord* rec = nullptr;
  bool fresh = false;
  int32_t now = 0;
  try {
    lk = std::unique_lock(r.mu);
    now = q->hints().priority;
    auto [it, inserted] = r.queues.try_emplace(id);
    rec = &it->second;
    fresh = inserted;
    rec->covers.push_back(Cover{s.serial, s.priority});
  } catch (...) {
    // Out of memory (or the lock failed): nothing is covered, so nothing is
    // undone at the end.
    if (fresh) r.queues.erase(id);
    s.touched.pop_back();
    return;
  }
  if (fresh || now != rec->applied) rec->own = now;
  rec->applied = s.priority;
  if (now == s.priority) return;
  try {
    set_priority(*q, s.priority);
  } catch (...) {
    // The scheduler's bookkeeping ran out of memory: the end of the scope
    // sees the queue's priority unchanged and leaves it so.
  }
}

}  // namespace xsched

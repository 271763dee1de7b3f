// Priority scopes: the priority of the work a thread submits.
//
// While a thread is inside a scope (xs_thread_priority_push, Python's
// `with xsched.priority(p)`), every queue it submits to takes the scope's
// priority, from that submit on: the scheduler sees the queue at that
// priority before the command arrives. When the scope ends, each queue it
// changed goes back to its own priority, unless another scope (of any
// thread) still covers it, whose priority it then takes. A priority set on
// the queue by anyone else meanwhile (the API, xsched set, process hints)
// becomes the queue's own priority, which the queue keeps while the scope
// lasts and returns to when it ends.
//
// Cost: submitters call apply_thread_priority() only while some thread of the
// process has a scope (one relaxed load of a counter). Within a scope, a
// queue's first submit takes a global lock; later submits to it find it in
// the scope's short list, without a lock or an allocation.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "xsched/xsched.h"

namespace xsched {

class XQueue;

namespace detail {
// Threads of the process that are inside at least one scope.
inline constinit std::atomic<int> g_threads_in_priority_scope{0};
}  // namespace detail

// True while some thread is inside a scope. A thread only ever applies its
// own scopes, and it counts itself in before it submits, so a relaxed load
// is enough.
inline bool thread_priority_scopes_in_use() {
  return detail::g_threads_in_priority_scope.load(std::memory_order_relaxed) != 0;
}

// Begins a scope of the calling thread (scopes nest). XS_ERR_INVALID_ARG for
// a priority out of range (core/hint_limits.h).
xs_result_t push_thread_priority(int32_t priority) noexcept;
// Ends the calling thread's innermost scope; XS_ERR_STATE if it has none.
xs_result_t pop_thread_priority() noexcept;
// The priority of the calling thread's innermost scope; false if none.
bool thread_priority(int32_t* out) noexcept;

// Before a submit to q by the calling thread: gives q the thread's scope
// priority if it has one. Never fails: a queue that cannot be recorded
// (memory) keeps its priority.
void apply_thread_priority(const std::shared_ptr<XQueue>& q) noexcept;

}  // namespace xsched

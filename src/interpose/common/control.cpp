#include "interpose/common/control.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "core/config.h"
#include "core/enum_values.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "core/struct_size.h"
#include "core/thread_priority.h"
#include "sched/local_scheduler.h"

namespace xsched::interpose::control {
namespace {

constinit thread_local char t_last_error[320] = "";

// Runs body(queue) on the live queue `id`, turning any exception into a result.
template <class F>
xs_result_t with_queue(const ControlPlatform& p, const char* fn, uint64_t id, F&& body) noexcept {
  return guarded(fn, [&] {
    const std::shared_ptr<XQueue> q = p.queue(id);
    return q != nullptr ? body(*q) : fail_no_queue(fn, id);
  });
}

}  // namespace

xs_result_t fail(xs_result_t r, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(t_last_error, sizeof t_last_error, fmt, ap);
  va_end(ap);
  return r;
}

const char* last_error() noexcept { return t_last_error; }

xs_result_t fail_hint_range(const char* call) {
  return fail(XS_ERR_INVALID_ARG,
              "%s: a hint is null or out of range: priority %d..%d, share 1..%u, timeslice 0 (default) or "
              "%lld..%lld ns, deadline 0 (none) or %lld..%lld ns",
              call, kMinPriority, kMaxPriority, kMaxShare, static_cast<long long>(kMinTimesliceNs),
              static_cast<long long>(kMaxTimesliceNs), static_cast<long long>(kMinDeadlineNs),
              static_cast<long long>(kMaxDeadlineNs));
}

xs_result_t fail_no_queue(const char* call, uint64_t id) {
  return fail(XS_ERR_INVALID_HANDLE, "%s: this process has no queue %llu (its stream was destroyed?)", call,
              static_cast<unsigned long long>(id));
}

xs_result_t fail_current_exception(const char* fn) noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return fail(XS_ERR_NO_MEMORY, "%s: out of host memory", fn);
  } catch (const std::exception& e) {
    log(LogLevel::kError, "%s: internal error: %s", fn, e.what());
    return fail(XS_ERR_INTERNAL, "%s: internal error: %s", fn, e.what());
  } catch (...) {
    log(LogLevel::kError, "%s: internal error", fn);
    return fail(XS_ERR_INTERNAL, "%s: internal error", fn);
  }
}

xs_result_t queue_device(const ControlPlatform& p, const char* fn, uint64_t id, uint8_t* uuid,
                         int32_t* ordinal) noexcept {
  return with_queue(p, fn, id, [&](XQueue& q) {
    if (uuid != nullptr) std::memcpy(uuid, q.device_id().uuid.data(), q.device_id().uuid.size());
    if (ordinal != nullptr) *ordinal = q.device();
    return XS_OK;
  });
}

xs_result_t queue_query(const ControlPlatform& p, const char* fn, uint64_t id, xs_queue_info_t* info) noexcept {
  return with_queue(p, fn, id, [&](XQueue& q) {
    if (info == nullptr || !struct_size_accepted(*info)) {
      return fail(XS_ERR_INVALID_ARG, "%s: info is null or its struct_size is not accepted", fn);
    }
    q.query(info);
    return XS_OK;
  });
}

xs_result_t queue_set_hints(const ControlPlatform& p, const char* fn, uint64_t id, const xs_hints_t* hints) noexcept {
  return with_queue(p, fn, id, [&](XQueue& q) {
    if (hints == nullptr || !valid_hints(*hints)) return fail_hint_range(fn);
    q.set_hints(*hints);
    return XS_OK;
  });
}

xs_result_t queue_set_priority(const ControlPlatform& p, const char* fn, uint64_t id, int32_t priority) noexcept {
  return with_queue(p, fn, id, [&](XQueue& q) {
    if (!valid_priority(priority)) {
      return fail(XS_ERR_INVALID_ARG, "priority %d is not in %d..%d", priority, kMinPriority, kMaxPriority);
    }
    q.update_hints([&](xs_hints_t& h) { h.priority = priority; });
    return XS_OK;
  });
}

xs_result_t queue_set_share(const ControlPlatform& p, const char* fn, uint64_t id, uint32_t share) noexcept {
  return with_queue(p, fn, id, [&](XQueue& q) {
    if (!valid_share(share)) return fail(XS_ERR_INVALID_ARG, "share %u is not in 1..%u", share, kMaxShare);
    q.update_hints([&](xs_hints_t& h) { h.share = share; });
    return XS_OK;
  });
}

xs_result_t queue_suspend(const ControlPlatform& p, const char* fn, uint64_t id, uint32_t flags) noexcept {
  return with_queue(p, fn, id, [&](XQueue& q) {
    if ((flags & ~XS_SUSPEND_SYNC) != 0) return fail(XS_ERR_INVALID_ARG, "unknown suspend flags 0x%x", flags);
    return q.suspend(kHoldUser, (flags & XS_SUSPEND_SYNC) != 0);
  });
}

xs_result_t queue_resume(const ControlPlatform& p, const char* fn, uint64_t id) noexcept {
  return with_queue(p, fn, id, [&](XQueue& q) { return q.resume(kHoldUser); });
}

xs_result_t queue_wait_all(const ControlPlatform& p, const char* fn, uint64_t id, int64_t timeout_ns) noexcept {
  return with_queue(p, fn, id, [&](XQueue& q) {
    const xs_result_t r = q.wait_all(timeout_ns);
    if (r == XS_OK) return XS_OK;
    const auto qid = static_cast<unsigned long long>(q.id());
    if (r == XS_ERR_TIMEOUT) return fail(r, "queue %llu: its commands did not complete in time", qid);
    char name[32];
    return fail(r, "queue %llu: %s (%s)", qid, xs_result_string(r), p.error_name(q, r, name));
  });
}

xs_result_t list_queues(const ControlPlatform& p, const char* fn, uint64_t* ids, size_t capacity,
                        size_t* count) noexcept {
  return guarded(fn, [&] {
    if (count == nullptr || (ids == nullptr && capacity != 0)) {
      return fail(XS_ERR_INVALID_ARG, "%s: count is null, or ids is null with a capacity", fn);
    }
    const std::vector<uint64_t> all = p.queue_ids();
    for (size_t i = 0; i < all.size() && i < capacity; ++i) ids[i] = all[i];
    *count = all.size();
    return XS_OK;
  });
}

xs_result_t set_policy(const char* fn, xs_policy_t policy) noexcept {
  return guarded(fn, [&] {
    if (!known_policy(policy)) return fail(XS_ERR_INVALID_ARG, "the policy is not one of xs_policy_t");
    return process_scheduler().set_policy(policy);
  });
}

xs_result_t get_policy(const char* fn, xs_policy_t* out) noexcept {
  return guarded(fn, [&] {
    if (out == nullptr) return fail(XS_ERR_INVALID_ARG, "%s: out is null", fn);
    *out = process_scheduler().policy();
    return XS_OK;
  });
}

xs_result_t policy_name(const char* fn, xs_policy_t policy, const char** out) noexcept {
  return guarded(fn, [&] {
    if (out == nullptr) return fail(XS_ERR_INVALID_ARG, "%s: out is null", fn);
    if (!known_policy(policy)) return fail(XS_ERR_INVALID_ARG, "the policy is not one of xs_policy_t");
    *out = ::xsched::policy_name(policy);
    return XS_OK;
  });
}

xs_result_t set_process_hints(const char* fn, uint32_t fields, const xs_hints_t* hints) noexcept {
  return guarded(fn, [&] {
    if (hints == nullptr || fields == 0 || (fields & ~kProcessHintFields) != 0) {
      return fail(XS_ERR_INVALID_ARG, "%s: hints is null or fields 0x%x names no or unknown hints", fn, fields);
    }
    if (!valid_process_hints(fields, *hints)) return fail_hint_range(fn);
    process_scheduler().apply_hints(0, HintsOverride{fields, hints->priority, hints->share, hints->deadline_ns});
    return XS_OK;
  });
}

xs_result_t thread_priority_push(int32_t priority) noexcept {
  const xs_result_t r = push_thread_priority(priority);
  if (r == XS_ERR_INVALID_ARG) {
    return fail(r, "priority %d is not in %d..%d", priority, kMinPriority, kMaxPriority);
  }
  if (r == XS_ERR_STATE) return fail(r, "priority scopes nest at most 1024 deep: a scope is never ended?");
  return r == XS_OK ? r : fail(r, "out of host memory");
}

xs_result_t thread_priority_pop() noexcept {
  const xs_result_t r = pop_thread_priority();
  return r == XS_OK ? r : fail(r, "this thread has no priority scope to end");
}

xs_result_t thread_priority_get(const char* fn, int32_t* out) noexcept {
  if (out == nullptr) return fail(XS_ERR_INVALID_ARG, "%s: out is null", fn);
  return thread_priority(out) ? XS_OK : fail(XS_ERR_STATE, "this thread has no priority scope");
}

}  // namespace xsched::interpose::control

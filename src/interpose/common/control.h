// What an interposer's control API (xsched_cuda.h, xsched_hip.h) has in
// common whatever its platform: the calling thread's last-error sentence,
// exceptions turned into results, the checks of hints, and every call that
// acts on a queue by its id, on the process's scheduler or on the calling
// thread's priority scopes. A platform's control file keeps only what is its
// own (finding a stream's queue, describing it), says how its queues are
// found in a ControlPlatform, and exports the calls below under its prefix
// with XS_INTERPOSE_CONTROL_EXPORTS, so that each call is written once.
//
// No exception leaves these calls, and each failure leaves a sentence for
// the platform's *_last_error().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/xqueue.h"
#include "xsched/xsched.h"

namespace xsched::interpose::control {

struct ControlPlatform {
  // The queue with this id whose stream still exists; null if none.
  std::shared_ptr<XQueue> (*queue)(uint64_t id);
  // The ids of every queue whose stream still exists.
  std::vector<uint64_t> (*queue_ids)();
  // The platform's name of the error behind result r of queue q (a sticky
  // native error for XS_ERR_PLATFORM): "CUDA_ERROR_INVALID_VALUE".
  const char* (*error_name)(const XQueue& q, xs_result_t r, char (&buf)[32]);
};

// Leaves the sentence for last_error() and returns r.
xs_result_t fail(xs_result_t r, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// The calling thread's latest sentence ("" if none).
const char* last_error() noexcept;
// A hint out of the ranges of core/hint_limits.h, in call.
xs_result_t fail_hint_range(const char* call);
// No queue has this id (any more), in call.
xs_result_t fail_no_queue(const char* call, uint64_t id);
// Inside a catch: the exception being handled as a result of fn.
xs_result_t fail_current_exception(const char* fn) noexcept;

// Runs body, turning any exception into a result.
template <class F>
xs_result_t guarded(const char* fn, F&& body) noexcept {
  try {
    return body();
  } catch (...) {
    return fail_current_exception(fn);
  }
}

// The calls of both headers; fn: the exported name, for the sentences.
xs_result_t queue_device(const ControlPlatform& p, const char* fn, uint64_t id, uint8_t* uuid,
                         int32_t* ordinal) noexcept;
xs_result_t queue_query(const ControlPlatform& p, const char* fn, uint64_t id, xs_queue_info_t* info) noexcept;
xs_result_t queue_set_hints(const ControlPlatform& p, const char* fn, uint64_t id, const xs_hints_t* hints) noexcept;
xs_result_t queue_set_priority(const ControlPlatform& p, const char* fn, uint64_t id, int32_t priority) noexcept;
xs_result_t queue_set_share(const ControlPlatform& p, const char* fn, uint64_t id, uint32_t share) noexcept;
xs_result_t queue_suspend(const ControlPlatform& p, const char* fn, uint64_t id, uint32_t flags) noexcept;
xs_result_t queue_resume(const ControlPlatform& p, const char* fn, uint64_t id) noexcept;
xs_result_t queue_wait_all(const ControlPlatform& p, const char* fn, uint64_t id, int64_t timeout_ns) noexcept;
xs_result_t list_queues(const ControlPlatform& p, const char* fn, uint64_t* ids, size_t capacity,
                        size_t* count) noexcept;
xs_result_t set_policy(const char* fn, xs_policy_t policy) noexcept;
xs_result_t get_policy(const char* fn, xs_policy_t* out) noexcept;
xs_result_t policy_name(const char* fn, xs_policy_t policy, const char** out) noexcept;
xs_result_t set_process_hints(const char* fn, uint32_t fields, const xs_hints_t* hints) noexcept;
xs_result_t thread_priority_push(int32_t priority) noexcept;
xs_result_t thread_priority_pop() noexcept;
xs_result_t thread_priority_get(const char* fn, int32_t* out) noexcept;

}  // namespace xsched::interpose::control

// Defines the calls above as the exported C functions P_last_error,
// P_queue_device, ... (P: xs_cuda, xs_hip), over the platform's queues
// (PLATFORM: a ControlPlatform). The file that expands it includes the
// public header that declares them, so the compiler checks each signature.
#define XS_INTERPOSE_CONTROL_EXPORTS(P, PLATFORM)                                                              \
  namespace xs_ctl = ::xsched::interpose::control;                                                             \
  extern "C" {                                                                                                 \
  XS_API const char* P##_last_error(void) { return xs_ctl::last_error(); }                                     \
  XS_API xs_result_t P##_queue_device(uint64_t q, uint8_t uuid[16], int32_t* ordinal) {                        \
    return xs_ctl::queue_device(PLATFORM, __func__, q, uuid, ordinal);                                        \
  }                                                                                                            \
  XS_API xs_result_t P##_queue_query(uint64_t q, xs_queue_info_t* info) {                                      \
    return xs_ctl::queue_query(PLATFORM, __func__, q, info);                                                   \
  }                                                                                                            \
  XS_API xs_result_t P##_queue_set_hints(uint64_t q, const xs_hints_t* hints) {                                \
    return xs_ctl::queue_set_hints(PLATFORM, __func__, q, hints);                                              \
  }                                                                                                            \
  XS_API xs_result_t P##_queue_set_priority(uint64_t q, int32_t priority) {                                    \
    return xs_ctl::queue_set_priority(PLATFORM, __func__, q, priority);                                        \
  }                                                                                                            \
  XS_API xs_result_t P##_queue_set_share(uint64_t q, uint32_t share) {                                         \
    return xs_ctl::queue_set_share(PLATFORM, __func__, q, share);                                              \
  }                                                                                                            \
  XS_API xs_result_t P##_queue_suspend(uint64_t q, uint32_t flags) {                                           \
    return xs_ctl::queue_suspend(PLATFORM, __func__, q, flags);                                                \
  }                                                                                                            \
  XS_API xs_result_t P##_queue_resume(uint64_t q) { return xs_ctl::queue_resume(PLATFORM, __func__, q); }      \
  XS_API xs_result_t P##_queue_wait_all(uint64_t q, int64_t timeout_ns) {                                      \
    return xs_ctl::queue_wait_all(PLATFORM, __func__, q, timeout_ns);                                          \
  }                                                                                                            \
  XS_API xs_result_t P##_list_queues(uint64_t* ids, size_t capacity, size_t* count) {                          \
    return xs_ctl::list_queues(PLATFORM, __func__, ids, capacity, count);                                      \
  }                                                                                                            \
  XS_API xs_result_t P##_set_policy(xs_policy_t policy) { return xs_ctl::set_policy(__func__, policy); }       \
  XS_API xs_result_t P##_get_policy(xs_policy_t* out) { return xs_ctl::get_policy(__func__, out); }            \
  XS_API xs_result_t P##_policy_name(xs_policy_t policy, const char** out) {                                   \
    return xs_ctl::policy_name(__func__, policy, out);                                                         \
  }                                                                                                            \
  XS_API xs_result_t P##_set_process_hints(uint32_t fields, const xs_hints_t* hints) {                         \
    return xs_ctl::set_process_hints(__func__, fields, hints);                                                 \
  }                                                                                                            \
  XS_API xs_result_t P##_thread_priority_push(int32_t priority) { return xs_ctl::thread_priority_push(priority); } \
  XS_API xs_result_t P##_thread_priority_pop(void) { return xs_ctl::thread_priority_pop(); }                   \
  XS_API xs_result_t P##_thread_priority_get(int32_t* out) { return xs_ctl::thread_priority_get(__func__, out); } \
  }

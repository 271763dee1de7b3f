// The interposer's control API (include/xsched/xsched_cuda.h): how code in
// the program (the Python package) reaches the XQueues of its CUDA streams,
// the scheduler and the priority scopes of this copy of xsched. No exception
// crosses it, and each failure leaves a sentence for xs_cuda_last_error().
#include "xsched/xsched_cuda.h"

#include <cstdarg>
#include <cstring>
#include <cstdio>
#include <exception>
#include <new>

#include "core/config.h"
#include "core/enum_values.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "core/struct_size.h"
#include "core/thread_priority.h"
#include "interpose/cuda/driver.h"
#include "interpose/cuda/real_driver.h"
#include "interpose/cuda/stream_registry.h"
#include "interpose/cuda/to_cuda.h"
#include "sched/local_scheduler.h"

namespace xsched::interpose {
namespace {

// Revision 1: every call of xsched_cuda.h.
constexpr uint32_t kControlAbi = 2;
static_assert(kControlAbi == XS_CUDA_CONTROL_ABI, "the header and the implementation disagree");

constinit thread_local char t_last_error[320] = "";

xs_result_t fail(xs_result_t r, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
xs_result_t fail(xs_result_t r, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(t_last_error, sizeof t_last_error, fmt, ap);
  va_end(ap);
  return r;
}

// A hint out of the ranges of core/hint_limits.h.
xs_result_t fail_hint_range(const char* call) {
  return fail(XS_ERR_INVALID_ARG,
              "%s: a hint is null or out of range: priority %d..%d, share 1..%u, timeslice 0 (default) or "
              "%lld..%lld ns, deadline 0 (none) or %lld..%lld ns",
              call, kMinPriority, kMaxPriority, kMaxShare, static_cast<long long>(kMinTimesliceNs),
              static_cast<long long>(kMaxTimesliceNs), static_cast<long long>(kMinDeadlineNs),
              static_cast<long long>(kMaxDeadlineNs));
}

// Runs body, turning any exception into a result.
template <class F>
xs_result_t guarded(const char* fn, F&& body) noexcept {
  try {
    return body();
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

template <class F>
xs_result_t with_queue(const char* fn, uint64_t id, F&& body) noexcept {
  return guarded(fn, [&] {
    const std::shared_ptr<StreamQueue> sq = stream_queue_by_id(id);
    if (sq == nullptr) {
      return fail(XS_ERR_INVALID_HANDLE, "%s: this process has no queue %llu (its stream was destroyed?)", fn,
                  static_cast<unsigned long long>(id));
    }
    return body(*sq);
  });
}

const char* cuda_error_name(CUresult r, char (&buf)[32]) {
  const cuda::Driver* d = driver();
  if (d != nullptr) return d->error_name(r, buf);
  std::snprintf(buf, sizeof buf, "CUresult %d", static_cast<int>(r));
  return buf;
}

bool is_default_stream(CUstream s) { return s == nullptr || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD; }

// The context a default stream handle belongs to: the primary context of
// `device`, or (device < 0) the calling thread's current context. The
// primary context must be active already (in use by the program): taking it
// here would create one the program never asked for.
xs_result_t default_stream_context(int32_t device, CUcontext* out) {
  char name[32];
  if (device < 0) {
    CUcontext ctx = nullptr;
    const CUresult r = driver()->cuCtxGetCurrent(&ctx);
    if (r != CUDA_SUCCESS || ctx == nullptr) {
      return fail(XS_ERR_STATE,
                  "the default stream needs a context: this thread has no current CUDA context; name the device");
    }
    *out = ctx;
    return XS_OK;
  }
  CUdevice dev = 0;
  if (const CUresult r = forward(&cuda::Driver::cuDeviceGet, &dev, static_cast<int>(device)); r != CUDA_SUCCESS) {
    if (r == CUDA_ERROR_NOT_INITIALIZED) return fail(XS_ERR_STATE, "CUDA is not initialised in this process yet");
    return fail(XS_ERR_INVALID_ARG, "device %d: %s", static_cast<int>(device), cuda_error_name(r, name));
  }
  unsigned flags = 0;
  int active = 0;
  CUcontext ctx = nullptr;
  if (forward(&cuda::Driver::cuDevicePrimaryCtxGetState, dev, &flags, &active) != CUDA_SUCCESS || active == 0 ||
      forward(&cuda::Driver::cuDevicePrimaryCtxRetain, &ctx, dev) != CUDA_SUCCESS) {
    return fail(XS_ERR_STATE, "device %d: CUDA is not in use there yet (its primary context is not active)",
                static_cast<int>(device));
  }
  forward(&cuda::Driver::cuDevicePrimaryCtxRelease_v2, dev);  // the program's own references keep it
  *out = ctx;
  return XS_OK;
}

xs_result_t queue_of_stream(CUstream s, int32_t device, uint64_t* out) {
  if (out == nullptr) return fail(XS_ERR_INVALID_ARG, "xs_cuda_stream_queue: out_queue is null");
  const cuda::Driver* d = driver();
  if (d == nullptr) return fail(XS_ERR_UNSUPPORTED, "the interposer has no CUDA driver: %s", real_driver_error());
  std::shared_ptr<StreamQueue> sq;
  if (is_default_stream(s)) {
    CUcontext ctx = nullptr;
    if (xs_result_t r = default_stream_context(device, &ctx); r != XS_OK) return r;
    sq = default_stream_queue(ctx, s == CU_STREAM_PER_THREAD);
  } else {
    // Asked first for a clear answer: stream_queue() says only "none".
    CUcontext ctx = nullptr;
    if (const CUresult r = d->cuStreamGetCtx(s, &ctx); r != CUDA_SUCCESS || ctx == nullptr) {
      char name[32];
      return fail(XS_ERR_INVALID_HANDLE, "stream %p: the CUDA driver does not know it (%s)", static_cast<void*>(s),
                  cuda_error_name(r, name));
    }
    sq = stream_queue(s, StreamKind::kLegacy);
  }
  if (sq == nullptr) {
    return fail(XS_ERR_PLATFORM, "stream %p: its queue could not be made (XSCHED_LOG_LEVEL=info says more)",
                static_cast<void*>(s));
  }
  *out = sq->xq->id();
  return XS_OK;
}

xs_cuda_stream_kind_t kind_of(StreamKind k) {
  switch (k) {
    case StreamKind::kExplicit: return XS_CUDA_STREAM_EXPLICIT;
    case StreamKind::kLegacy: return XS_CUDA_STREAM_LEGACY;
    case StreamKind::kPerThread: return XS_CUDA_STREAM_PER_THREAD;
  }
  return XS_CUDA_STREAM_EXPLICIT;
}

xs_result_t describe(const StreamQueue& sq, xs_cuda_queue_desc_t* out) {
  if (out == nullptr || !struct_size_accepted(*out)) {
    return fail(XS_ERR_INVALID_ARG, "xs_cuda_queue_describe: out is null or its struct_size is not accepted");
  }
  const uint32_t size = out->struct_size;
  *out = xs_cuda_queue_desc_t{};
  out->struct_size = size;
  out->kind = kind_of(sq.kind);
  out->queue = sq.xq->id();
  // A per-thread stream runs on a private stream of ours: the program knows it by its name.
  out->stream = sq.kind == StreamKind::kPerThread ? static_cast<void*>(CU_STREAM_PER_THREAD)
                                                   : static_cast<void*>(sq.stream);
  out->context = sq.ctx;
  out->device = sq.xq->device();
  out->cuda_priority = sq.cuda_priority;
  out->blocking = sq.blocking ? 1 : 0;
  return XS_OK;
}

xs_result_t wait_all(StreamQueue& sq, int64_t timeout_ns) {
  const xs_result_t r = sq.xq->wait_all(timeout_ns);
  if (r == XS_OK) return XS_OK;
  if (r == XS_ERR_TIMEOUT) {
    return fail(r, "queue %llu: its commands did not complete in time", static_cast<unsigned long long>(sq.xq->id()));
  }
  char name[32];
  return fail(r, "queue %llu: %s (%s)", static_cast<unsigned long long>(sq.xq->id()), xs_result_string(r),
              cuda_error_name(to_cuda(r, &sq), name));
}

xs_result_t process_hints(uint32_t fields, const xs_hints_t* hints) {
  if (hints == nullptr || fields == 0 || (fields & ~kProcessHintFields) != 0) {
    return fail(XS_ERR_INVALID_ARG, "xs_cuda_set_process_hints: hints is null or fields 0x%x names no or unknown hints",
                fields);
  }
  if (!valid_process_hints(fields, *hints)) return fail_hint_range("xs_cuda_set_process_hints");
  process_scheduler().apply_hints(0, HintsOverride{fields, hints->priority, hints->share, hints->deadline_ns});
  return XS_OK;
}

}  // namespace
}  // namespace xsched::interpose

using namespace xsched;
using namespace xsched::interpose;

extern "C" {

XS_API uint32_t xs_cuda_control_abi(void) { return kControlAbi; }

XS_API const char* xs_cuda_last_error(void) { return t_last_error; }

XS_API xs_result_t xs_cuda_stream_queue(void* stream, int32_t device, uint64_t* out_queue) {
  return guarded(__func__, [&] { return queue_of_stream(static_cast<CUstream>(stream), device, out_queue); });
}

XS_API xs_result_t xs_cuda_queue_describe(uint64_t queue, xs_cuda_queue_desc_t* out) {
  return with_queue(__func__, queue, [&](StreamQueue& sq) { return describe(sq, out); });
}

XS_API xs_result_t xs_cuda_queue_device(uint64_t queue, uint8_t uuid[16], int32_t* ordinal) {
  return with_queue(__func__, queue, [&](StreamQueue& sq) {
    if (uuid != nullptr) std::memcpy(uuid, sq.xq->device_id().uuid.data(), 16);
    if (ordinal != nullptr) *ordinal = sq.xq->device();
    return XS_OK;
  });
}

XS_API xs_result_t xs_cuda_queue_query(uint64_t queue, xs_queue_info_t* info) {
  return with_queue(__func__, queue, [&](StreamQueue& sq) {
    if (info == nullptr || !struct_size_accepted(*info)) {
      return fail(XS_ERR_INVALID_ARG, "xs_cuda_queue_query: info is null or its struct_size is not accepted");
    }
    sq.xq->query(info);
    return XS_OK;
  });
}

XS_API xs_result_t xs_cuda_queue_set_hints(uint64_t queue, const xs_hints_t* hints) {
  return with_queue(__func__, queue, [&](StreamQueue& sq) {
    if (hints == nullptr || !valid_hints(*hints)) return fail_hint_range("xs_cuda_queue_set_hints");
    sq.xq->set_hints(*hints);
    return XS_OK;
  });
}

XS_API xs_result_t xs_cuda_queue_set_priority(uint64_t queue, int32_t priority) {
  return with_queue(__func__, queue, [&](StreamQueue& sq) {
    if (!valid_priority(priority)) {
      return fail(XS_ERR_INVALID_ARG, "priority %d is not in %d..%d", priority, kMinPriority, kMaxPriority);
    }
    sq.xq->update_hints([&](xs_hints_t& h) { h.priority = priority; });
    return XS_OK;
  });
}

XS_API xs_result_t xs_cuda_queue_set_share(uint64_t queue, uint32_t share) {
  return with_queue(__func__, queue, [&](StreamQueue& sq) {
    if (!valid_share(share)) return fail(XS_ERR_INVALID_ARG, "share %u is not in 1..%u", share, kMaxShare);
    sq.xq->update_hints([&](xs_hints_t& h) { h.share = share; });
    return XS_OK;
  });
}

XS_API xs_result_t xs_cuda_queue_suspend(uint64_t queue, uint32_t flags) {
  return with_queue(__func__, queue, [&](StreamQueue& sq) {
    if ((flags & ~XS_SUSPEND_SYNC) != 0) return fail(XS_ERR_INVALID_ARG, "unknown suspend flags 0x%x", flags);
    return sq.xq->suspend(kHoldUser, (flags & XS_SUSPEND_SYNC) != 0);
  });
}

XS_API xs_result_t xs_cuda_queue_resume(uint64_t queue) {
  return with_queue(__func__, queue, [&](StreamQueue& sq) { return sq.xq->resume(kHoldUser); });
}

XS_API xs_result_t xs_cuda_queue_wait_all(uint64_t queue, int64_t timeout_ns) {
  return with_queue(__func__, queue, [&](StreamQueue& sq) { return wait_all(sq, timeout_ns); });
}

XS_API xs_result_t xs_cuda_list_queues(uint64_t* ids, size_t capacity, size_t* count) {
  return guarded(__func__, [&] {
    if (count == nullptr || (ids == nullptr && capacity != 0)) {
      return fail(XS_ERR_INVALID_ARG, "xs_cuda_list_queues: count is null, or ids is null with a capacity");
    }
    const std::vector<std::shared_ptr<StreamQueue>> all = all_stream_queues();
    for (size_t i = 0; i < all.size() && i < capacity; ++i) ids[i] = all[i]->xq->id();
    *count = all.size();
    return XS_OK;
  });
}

XS_API xs_result_t xs_cuda_set_policy(xs_policy_t policy) {
  return guarded(__func__, [&] {
    if (!known_policy(policy)) return fail(XS_ERR_INVALID_ARG, "the policy is not one of xs_policy_t");
    return process_scheduler().set_policy(policy);
  });
}

XS_API xs_result_t xs_cuda_policy_name(xs_policy_t policy, const char** out) {
  return guarded(__func__, [&] {
    if (out == nullptr) return fail(XS_ERR_INVALID_ARG, "xs_cuda_policy_name: out is null");
    if (!known_policy(policy)) return fail(XS_ERR_INVALID_ARG, "the policy is not one of xs_policy_t");
    *out = policy_name(policy);
    return XS_OK;
  });
}

XS_API xs_result_t xs_cuda_get_policy(xs_policy_t* out) {
  return guarded(__func__, [&] {
    if (out == nullptr) return fail(XS_ERR_INVALID_ARG, "xs_cuda_get_policy: out is null");
    *out = process_scheduler().policy();
    return XS_OK;
  });
}

XS_API xs_result_t xs_cuda_set_process_hints(uint32_t fields, const xs_hints_t* hints) {
  return guarded(__func__, [&] { return process_hints(fields, hints); });
}

XS_API xs_result_t xs_cuda_thread_priority_push(int32_t priority) {
  const xs_result_t r = push_thread_priority(priority);
  if (r == XS_ERR_INVALID_ARG) {
    return fail(r, "priority %d is not in %d..%d", priority, kMinPriority, kMaxPriority);
  }
  if (r == XS_ERR_STATE) return fail(r, "priority scopes nest at most 1024 deep: a scope is never ended?");
  return r == XS_OK ? r : fail(r, "out of host memory");
}

XS_API xs_result_t xs_cuda_thread_priority_pop(void) {
  const xs_result_t r = pop_thread_priority();
  return r == XS_OK ? r : fail(r, "this thread has no priority scope to end");
}

XS_API xs_result_t xs_cuda_thread_priority_get(int32_t* out) {
  if (out == nullptr) return fail(XS_ERR_INVALID_ARG, "xs_cuda_thread_priority_get: out is null");
  return thread_priority(out) ? XS_OK : fail(XS_ERR_STATE, "this thread has no priority scope");
}

}  // extern "C"

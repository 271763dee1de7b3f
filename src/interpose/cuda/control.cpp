// The CUDA interposer's control API (include/xsched/xsched_cuda.h): how code
// in the program (the Python package) reaches the XQueues of its CUDA
// streams. What is CUDA's is here: finding the queue of a CUstream (default
// streams through their context) and describing it; the calls on a queue by
// its id, the policy, process hints and priority scopes are the interposers'
// common ones (interpose/common/control.h).
#include "xsched/xsched_cuda.h"

#include <cstdio>

#include "core/struct_size.h"
#include "hal/cuda/cuda_queue.h"
#include "interpose/common/control.h"
#include "interpose/cuda/driver.h"
#include "interpose/cuda/real_driver.h"
#include "interpose/cuda/stream_registry.h"
#include "interpose/cuda/to_cuda.h"

namespace xsched::interpose {
namespace {

using control::fail;

// Revision 1: every call of xsched_cuda.h; 2: xs_cuda_policy_name.
constexpr uint32_t kControlAbi = 2;
static_assert(kControlAbi == XS_CUDA_CONTROL_ABI, "the header and the implementation disagree");

const char* cuda_error_name(CUresult r, char (&buf)[32]) {
  const cuda::Driver* d = driver();
  if (d != nullptr) return d->error_name(r, buf);
  std::snprintf(buf, sizeof buf, "CUresult %d", static_cast<int>(r));
  return buf;
}

std::shared_ptr<XQueue> queue_by_id(uint64_t id) {
  const std::shared_ptr<StreamQueue> sq = stream_queue_by_id(id);
  return sq != nullptr ? sq->xq : nullptr;
}

std::vector<uint64_t> queue_ids() {
  std::vector<uint64_t> ids;
  for (const auto& sq : all_stream_queues()) ids.push_back(sq->xq->id());
  return ids;
}

// As to_cuda() gives it to the application for the queue's stream.
const char* queue_error_name(const XQueue& q, xs_result_t r, char (&buf)[32]) {
  CUresult c = r == XS_ERR_PLATFORM ? cuda::sticky_error(q.hw()) : to_cuda(r, nullptr);
  if (c == CUDA_SUCCESS) c = CUDA_ERROR_UNKNOWN;
  return cuda_error_name(c, buf);
}

constexpr control::ControlPlatform kCuda = {
    .queue = queue_by_id, .queue_ids = queue_ids, .error_name = queue_error_name};

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

xs_result_t describe(uint64_t id, xs_cuda_queue_desc_t* out) {
  const std::shared_ptr<StreamQueue> sq = stream_queue_by_id(id);
  if (sq == nullptr) return control::fail_no_queue("xs_cuda_queue_describe", id);
  if (out == nullptr || !struct_size_accepted(*out)) {
    return fail(XS_ERR_INVALID_ARG, "xs_cuda_queue_describe: out is null or its struct_size is not accepted");
  }
  const uint32_t size = out->struct_size;
  *out = xs_cuda_queue_desc_t{};
  out->struct_size = size;
  out->kind = kind_of(sq->kind);
  out->queue = sq->xq->id();
  // A per-thread stream runs on a private stream of ours: the program knows it by its name.
  out->stream = sq->kind == StreamKind::kPerThread ? static_cast<void*>(CU_STREAM_PER_THREAD)
                                                    : static_cast<void*>(sq->stream);
  out->context = sq->ctx;
  out->device = sq->xq->device();
  out->cuda_priority = sq->cuda_priority;
  out->blocking = sq->blocking ? 1 : 0;
  return XS_OK;
}

}  // namespace
}  // namespace xsched::interpose

using xsched::interpose::control::guarded;

extern "C" {

XS_API uint32_t xs_cuda_control_abi(void) { return xsched::interpose::kControlAbi; }

XS_API xs_result_t xs_cuda_stream_queue(void* stream, int32_t device, uint64_t* out_queue) {
  return guarded(__func__, [&] {
    return xsched::interpose::queue_of_stream(static_cast<CUstream>(stream), device, out_queue);
  });
}

XS_API xs_result_t xs_cuda_queue_describe(uint64_t queue, xs_cuda_queue_desc_t* out) {
  return guarded(__func__, [&] { return xsched::interpose::describe(queue, out); });
}

}  // extern "C"

XS_INTERPOSE_CONTROL_EXPORTS(xs_cuda, xsched::interpose::kCuda)

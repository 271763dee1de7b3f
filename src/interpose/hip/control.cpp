// The HIP interposer's control API (include/xsched/xsched_hip.h): how code
// in the program (the Python package on a ROCm build of PyTorch) reaches the
// XQueues of its HIP streams. What is HIP's is here: finding the queue of a
// hipStream_t (a null stream through its device) and describing it; the
// calls on a queue by its id, the policy, process hints and priority scopes
// are the interposers' common ones (interpose/common/control.h).
#include "xsched/xsched_hip.h"

#include <cstdio>

#include "core/struct_size.h"
#include "hal/hip/hip_queue.h"
#include "interpose/common/control.h"
#include "interpose/hip/hip_streams.h"
#include "interpose/hip/runtime.h"

namespace xsched::interpose::hip {
namespace {

using control::fail;

// Revision 1: every call of xsched_hip.h.
constexpr uint32_t kControlAbi = 1;
static_assert(kControlAbi == XS_HIP_CONTROL_ABI, "the header and the implementation disagree");

const char* hip_error_name(hipError_t r, char (&buf)[32]) {
  if (const xsched::hip::Runtime* rt = runtime(); rt != nullptr) return rt->error_name(r, buf);
  std::snprintf(buf, sizeof buf, "hipError_t %d", static_cast<int>(r));
  return buf;
}

std::shared_ptr<XQueue> xqueue_by_id(uint64_t id) {
  const std::shared_ptr<StreamQueue> sq = queue_by_id(id);
  return sq != nullptr ? sq->xq : nullptr;
}

std::vector<uint64_t> queue_ids() {
  std::vector<uint64_t> ids;
  for (const auto& sq : device_queues(-1)) ids.push_back(sq->xq->id());
  return ids;
}

// The queue's sticky HIP error: the failure a later launch of a held command met.
const char* queue_error_name(const XQueue& q, xs_result_t, char (&buf)[32]) {
  const hipError_t e = xsched::hip::sticky_error(q.hw());
  return hip_error_name(e != hipSuccess ? e : hipErrorUnknown, buf);
}

constexpr control::ControlPlatform kHip = {
    .queue = xqueue_by_id, .queue_ids = queue_ids, .error_name = queue_error_name};

// The device whose null stream `device` names (-1: the calling thread's).
xs_result_t null_stream_device(int32_t device, int* out) {
  const xsched::hip::Runtime& rt = *runtime();
  if (device < 0) {
    int current = 0;
    if (const hipError_t r = rt.hipGetDevice(&current); r != hipSuccess) {
      char name[32];
      return fail(XS_ERR_STATE, "the null stream needs a device: hipGetDevice failed (%s); name the device",
                  hip_error_name(r, name));
    }
    *out = current;
    return XS_OK;
  }
  using GetDeviceCount = hipError_t (*)(int*);
  static const auto count_fn = real<GetDeviceCount>("hipGetDeviceCount");
  int count = 0;
  if (count_fn == nullptr || count_fn(&count) != hipSuccess || device >= count) {
    return fail(XS_ERR_INVALID_ARG, "device %d: the HIP runtime has %d devices", static_cast<int>(device), count);
  }
  *out = device;
  return XS_OK;
}

xs_result_t queue_of_stream(hipStream_t s, int32_t device, uint64_t* out) {
  if (out == nullptr) return fail(XS_ERR_INVALID_ARG, "xs_hip_stream_queue: out_queue is null");
  if (runtime() == nullptr) {
    return fail(XS_ERR_UNSUPPORTED, "the interposer has no HIP runtime (XSCHED_LOG_LEVEL=info says why)");
  }
  std::shared_ptr<StreamQueue> sq;
  if (s == nullptr) {
    int d = 0;
    if (const xs_result_t r = null_stream_device(device, &d); r != XS_OK) return r;
    sq = null_stream_queue(d);
  } else if (s == hipStreamPerThread) {
    return fail(XS_ERR_UNSUPPORTED, "the per-thread default stream is not scheduled by the HIP interposer");
  } else {
    // Asked first for a clear answer: stream_queue() says only "none".
    if (!stream_noted(s)) {
      return fail(XS_ERR_INVALID_HANDLE, "stream %p: the HIP interposer does not know it (made before it was "
                  "loaded, or destroyed)", static_cast<void*>(s));
    }
    sq = stream_queue(s);
  }
  if (sq == nullptr) {
    return fail(XS_ERR_PLATFORM, "stream %p: its queue could not be made (XSCHED_LOG_LEVEL=info says more)",
                static_cast<void*>(s));
  }
  *out = sq->xq->id();
  return XS_OK;
}

xs_result_t describe(uint64_t id, xs_hip_queue_desc_t* out) {
  const std::shared_ptr<StreamQueue> sq = queue_by_id(id);
  if (sq == nullptr) return control::fail_no_queue("xs_hip_queue_describe", id);
  if (out == nullptr || !struct_size_accepted(*out)) {
    return fail(XS_ERR_INVALID_ARG, "xs_hip_queue_describe: out is null or its struct_size is not accepted");
  }
  const uint32_t size = out->struct_size;
  *out = xs_hip_queue_desc_t{};
  out->struct_size = size;
  out->kind = sq->stream == nullptr ? XS_HIP_STREAM_NULL : XS_HIP_STREAM_EXPLICIT;
  out->queue = sq->xq->id();
  out->stream = static_cast<void*>(sq->stream);
  out->device = sq->device;
  out->hip_priority = sq->priority;
  out->blocking = sq->blocking ? 1 : 0;
  return XS_OK;
}

}  // namespace
}  // namespace xsched::interpose::hip

using xsched::interpose::control::guarded;

extern "C" {

XS_API uint32_t xs_hip_control_abi(void) { return xsched::interpose::hip::kControlAbi; }

XS_API xs_result_t xs_hip_stream_queue(void* stream, int32_t device, uint64_t* out_queue) {
  return guarded(__func__, [&] {
    return xsched::interpose::hip::queue_of_stream(static_cast<hipStream_t>(stream), device, out_queue);
  });
}

XS_API xs_result_t xs_hip_queue_describe(uint64_t queue, xs_hip_queue_desc_t* out) {
  return guarded(__func__, [&] { return xsched::interpose::hip::describe(queue, out); });
}

}  // extern "C"

XS_INTERPOSE_CONTROL_EXPORTS(xs_hip, xsched::interpose::hip::kHip)

// Entry points beyond the module API: the runtime API's hipLaunchKernel and
// hipcc's `<<<>>>` configuration (__hipPushCallConfiguration /
// __hipPopCallConfiguration), hipExtModuleLaunchKernel, the _spt flavours
// (stream 0 is the calling thread's per-thread default stream), and
// hipGetProcAddress, which answers with the fake's own exported functions.

#include <dlfcn.h>

#include <cstring>
#include <string>
#include <vector>

#include "fake_hip_internal.h"
#include "fake_hip_kernel.h"

namespace fake_hip {
namespace {

// What stream 0 means for an _spt entry point.
hipStream_t per_thread(hipStream_t s) { return s == nullptr ? hipStreamPerThread : s; }

struct CallConfiguration {
  dim3 grid;
  dim3 block;
  size_t shared;
  hipStream_t stream;
};

// Pushed by __hipPushCallConfiguration, popped by the kernel's stub.
std::vector<CallConfiguration>& configurations() {
  thread_local std::vector<CallConfiguration> stack;
  return stack;
}

bool zero(const dim3& d) { return d.x == 0 || d.y == 0 || d.z == 0; }

// This library, by its own path (loaded already): its handle sees only its exports.
void* self() {
  static void* const handle = [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&self), &info) == 0) return static_cast<void*>(nullptr);
    return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  }();
  return handle;
}

// HIP_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM (hip_runtime_api.h of ROCm 6.1).
constexpr uint64_t kProcPerThread = 1u << 1;

hipError_t get_proc_address(const char* symbol, void** pfn, uint64_t flags, int* status) {
  if (symbol == nullptr || *symbol == '\0' || pfn == nullptr) return hipErrorInvalidValue;
  void* f = nullptr;
  if ((flags & kProcPerThread) != 0) f = dlsym(self(), (std::string(symbol) + "_spt").c_str());
  if (f == nullptr) f = dlsym(self(), symbol);
  *pfn = f;
  if (status != nullptr) *status = f != nullptr ? 0 : 1;  // SUCCESS, SYMBOL_NOT_FOUND
  return f != nullptr ? hipSuccess : hipErrorInvalidValue;
}

}  // namespace
}  // namespace fake_hip

using namespace fake_hip;

// Not declared by the ROCm 5.2 headers (later ones declare them, some with
// other parameter types): defined under their exported names.
FAKE_HIP_EXPORT hipError_t fake_hipExtModuleLaunchKernel(hipFunction_t, uint32_t, uint32_t, uint32_t, uint32_t,
                                                         uint32_t, uint32_t, size_t, hipStream_t, void**, void**,
                                                         hipEvent_t, hipEvent_t, uint32_t) __asm__(
    "hipExtModuleLaunchKernel");
FAKE_HIP_EXPORT hipError_t fake_hipMemsetAsync_spt(void*, int, size_t, hipStream_t) __asm__("hipMemsetAsync_spt");
FAKE_HIP_EXPORT hipError_t fake_hipEventRecord_spt(hipEvent_t, hipStream_t) __asm__("hipEventRecord_spt");
FAKE_HIP_EXPORT hipError_t fake_hipLaunchHostFunc_spt(hipStream_t, hipHostFn_t, void*) __asm__(
    "hipLaunchHostFunc_spt");
FAKE_HIP_EXPORT hipError_t fake_hipGetProcAddress(const char*, void**, int, uint64_t, int*) __asm__(
    "hipGetProcAddress");

// ---- launches ----

// function_address is a FakeHipKernel*; its arguments one struct of its param_bytes, args[0] pointing to it.
FAKE_HIP_EXPORT hipError_t hipLaunchKernel(const void* function_address, dim3 numBlocks, dim3 dimBlocks, void** args,
                                           size_t sharedMemBytes, hipStream_t stream) {
  (void)sharedMemBytes;
  if (function_address == nullptr) return hipErrorInvalidDeviceFunction;
  if (zero(numBlocks) || zero(dimBlocks)) return hipErrorInvalidValue;
  const auto* k = static_cast<const FakeHipKernel*>(function_address);
  if (k->param_bytes > 0 && (args == nullptr || args[0] == nullptr)) return hipErrorInvalidValue;
  auto copy = std::make_shared<std::vector<unsigned char>>(k->param_bytes);
  if (k->param_bytes > 0) std::memcpy(copy->data(), args[0], k->param_bytes);
  return enqueue_kernel(stream, k, std::move(copy), false);
}

FAKE_HIP_EXPORT hipError_t hipLaunchKernel_spt(const void* function_address, dim3 numBlocks, dim3 dimBlocks,
                                               void** args, size_t sharedMemBytes, hipStream_t stream) {
  return hipLaunchKernel(function_address, numBlocks, dimBlocks, args, sharedMemBytes, per_thread(stream));
}

FAKE_HIP_EXPORT hipError_t __hipPushCallConfiguration(dim3 gridDim, dim3 blockDim, size_t sharedMem,
                                                      hipStream_t stream) {
  configurations().push_back({gridDim, blockDim, sharedMem, stream});
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t __hipPopCallConfiguration(dim3* gridDim, dim3* blockDim, size_t* sharedMem,
                                                     hipStream_t* stream) {
  auto& stack = configurations();
  if (stack.empty()) return hipErrorInvalidConfiguration;
  const CallConfiguration c = stack.back();
  stack.pop_back();
  *gridDim = c.grid;
  *blockDim = c.block;
  *sharedMem = c.shared;
  *stream = c.stream;
  return hipSuccess;
}

// The grid in work-items (each at least the block's); events recorded before and after the kernel.
FAKE_HIP_EXPORT hipError_t fake_hipExtModuleLaunchKernel(hipFunction_t f, uint32_t gx, uint32_t gy, uint32_t gz,
                                                         uint32_t lx, uint32_t ly, uint32_t lz, size_t shared,
                                                         hipStream_t stream, void** kernelParams, void** extra,
                                                         hipEvent_t startEvent, hipEvent_t stopEvent,
                                                         uint32_t flags) {
  (void)shared;
  (void)flags;
  if (f == nullptr) return hipErrorInvalidResourceHandle;
  if (kernelParams != nullptr) return hipErrorInvalidValue;  // argument sizes unknown to the fake
  if (gx == 0 || gy == 0 || gz == 0 || lx == 0 || ly == 0 || lz == 0) return hipErrorInvalidValue;
  if (gx < lx || gy < ly || gz < lz) return hipErrorInvalidValue;
  auto args = std::make_shared<std::vector<unsigned char>>();
  if (hipError_t e = copy_packed(extra, *args); e != hipSuccess) return e;
  if (startEvent != nullptr) {
    if (hipError_t e = hipEventRecord(startEvent, stream); e != hipSuccess) return e;
  }
  if (hipError_t e = enqueue_kernel(stream, f, std::move(args), true); e != hipSuccess) return e;
  return stopEvent != nullptr ? hipEventRecord(stopEvent, stream) : hipSuccess;
}

// ---- the _spt flavours of the other stream operations ----

FAKE_HIP_EXPORT hipError_t hipMemcpyAsync_spt(void* dst, const void* src, size_t sizeBytes, hipMemcpyKind kind,
                                              hipStream_t stream) {
  return hipMemcpyAsync(dst, src, sizeBytes, kind, per_thread(stream));
}

FAKE_HIP_EXPORT hipError_t fake_hipMemsetAsync_spt(void* dst, int value, size_t sizeBytes, hipStream_t stream) {
  return hipMemsetAsync(dst, value, sizeBytes, per_thread(stream));
}

FAKE_HIP_EXPORT hipError_t fake_hipLaunchHostFunc_spt(hipStream_t stream, hipHostFn_t fn, void* userData) {
  return hipLaunchHostFunc(per_thread(stream), fn, userData);
}

FAKE_HIP_EXPORT hipError_t fake_hipEventRecord_spt(hipEvent_t event, hipStream_t stream) {
  return hipEventRecord(event, per_thread(stream));
}

FAKE_HIP_EXPORT hipError_t hipStreamWaitEvent_spt(hipStream_t stream, hipEvent_t event, unsigned int flags) {
  return hipStreamWaitEvent(per_thread(stream), event, flags);
}

FAKE_HIP_EXPORT hipError_t hipStreamSynchronize_spt(hipStream_t stream) {
  return hipStreamSynchronize(per_thread(stream));
}

FAKE_HIP_EXPORT hipError_t hipStreamQuery_spt(hipStream_t stream) { return hipStreamQuery(per_thread(stream)); }

// ---- entry points by name ----

FAKE_HIP_EXPORT hipError_t fake_hipGetProcAddress(const char* symbol, void** pfn, int hipVersion, uint64_t flags,
                                                  int* symbolStatus) {
  (void)hipVersion;
  return get_proc_address(symbol, pfn, flags, symbolStatus);
}

// Test hook: kernels run so far that came through hipExtModuleLaunchKernel.
FAKE_HIP_EXPORT unsigned long long fake_hip_ext_launches(void) { return reg().ext_launches.load(); }

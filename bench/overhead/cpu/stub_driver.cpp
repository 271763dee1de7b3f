// A CUDA driver that does nothing, at once: what a launch through the
// interposer costs on the CPU without a driver's own cost and noise. It has
// what the interposer's queues need (XS_CUDA_DRIVER_REQUIRED) and what
// Level 2 needs (host-mapped memory, cuStreamWaitValue32, kernel loading),
// so that both levels can be measured.
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include <atomic>

#define STUB_EXPORT extern "C" __attribute__((visibility("default")))

namespace {
thread_local CUcontext t_ctx = nullptr;
int g_ctx_obj;
// Handles only need to be distinct and stable: the interposer keys on them.
int g_event_objs[4096];
int g_stream_objs[64];
unsigned g_stream_flags[64];  // what each stream was made with (blocking or not)
std::atomic<unsigned> g_next_event{0};
std::atomic<unsigned> g_next_stream{0};
}  // namespace

STUB_EXPORT CUresult cuInit(unsigned) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuDriverGetVersion(int* v) {
  *v = CUDA_VERSION;
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuDeviceGet(CUdevice* d, int) {
  *d = 0;
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice) {
  *c = reinterpret_cast<CUcontext>(&g_ctx_obj);
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuCtxSetCurrent(CUcontext c) {
  t_ctx = c;
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuCtxGetCurrent(CUcontext* c) {
  *c = t_ctx;
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuCtxGetDevice(CUdevice* d) {
  *d = 0;
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuGetErrorName(CUresult, const char** s) {
  *s = "CUDA_STUB";
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuStreamGetCtx(CUstream, CUcontext* c) {
  *c = reinterpret_cast<CUcontext>(&g_ctx_obj);
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuStreamGetFlags(CUstream s, unsigned* f) {
  const auto* slot = reinterpret_cast<const int*>(s);
  *f = slot >= g_stream_objs && slot < g_stream_objs + 64 ? g_stream_flags[slot - g_stream_objs] : 0;
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuStreamGetPriority(CUstream, int* p) {
  *p = 0;
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuStreamCreate(CUstream* s, unsigned flags) {
  const unsigned i = g_next_stream.fetch_add(1) % 64;
  g_stream_flags[i] = flags;
  *s = reinterpret_cast<CUstream>(&g_stream_objs[i]);
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuStreamDestroy_v2(CUstream) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuStreamSynchronize(CUstream) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuStreamQuery(CUstream) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuStreamWaitEvent(CUstream, CUevent, unsigned) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuEventCreate(CUevent* e, unsigned) {
  *e = reinterpret_cast<CUevent>(&g_event_objs[g_next_event.fetch_add(1) % 4096]);
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuEventDestroy_v2(CUevent) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuEventRecord(CUevent, CUstream) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuEventSynchronize(CUevent) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuEventQuery(CUevent) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuEventElapsedTime_v2(float* ms, CUevent, CUevent) {
  *ms = 0.001f;
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuCtxSynchronize() { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuLaunchKernel(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                    CUstream, void**, void**) {
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuMemcpyAsync(CUdeviceptr, CUdeviceptr, size_t, CUstream) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr, const void*, size_t, CUstream) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuMemcpyDtoHAsync_v2(void*, CUdeviceptr, size_t, CUstream) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr, CUdeviceptr, size_t, CUstream) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuMemsetD8Async(CUdeviceptr, unsigned char, size_t, CUstream) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuMemsetD16Async(CUdeviceptr, unsigned short, size_t, CUstream) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuMemsetD32Async(CUdeviceptr, unsigned, size_t, CUstream) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuLaunchHostFunc(CUstream, CUhostFn, void*) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuStreamAddCallback(CUstream, CUstreamCallback, void*, unsigned) { return CUDA_SUCCESS; }

// ---- Level 2: gates (host-mapped words and stream waits), kernel loading ----
STUB_EXPORT CUresult cuMemHostRegister_v2(void*, size_t, unsigned) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuMemHostUnregister(void*) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr* d, void* p, unsigned) {
  *d = reinterpret_cast<CUdeviceptr>(p);
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuStreamWaitValue32_v2(CUstream, CUdeviceptr, cuuint32_t, unsigned) { return CUDA_SUCCESS; }
STUB_EXPORT CUresult cuFuncIsLoaded(CUfunctionLoadingState* state, CUfunction) {
  *state = CU_FUNCTION_LOADING_STATE_LOADED;
  return CUDA_SUCCESS;
}
STUB_EXPORT CUresult cuFuncLoad(CUfunction) { return CUDA_SUCCESS; }

// A minimal stand-in for the NVIDIA driver (SONAME libcuda.so.1) for the
// interposer's tests on machines without a GPU. It implements a handful of
// entry points and records their arguments (fake_min_driver.h);
// cuGetProcAddress looks names up in this library itself, choosing the
// variant by flags and version as the real driver does.
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>
#include <dlfcn.h>

#include <cstring>
#include <string>

#include "fake_min_driver.h"

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

FakeMinRecord g_record;

void* self_handle() {
  // dlopen of our own file hands back this object, with our own symbols first.
  static void* const handle = [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&self_handle), &info) == 0) return static_cast<void*>(nullptr);
    return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
  }();
  return handle;
}

CUresult lookup(const char* symbol, void** pfn, int version, cuuint64_t flags, CUdriverProcAddressQueryResult* status) {
  if (symbol == nullptr || pfn == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *pfn = nullptr;
  const std::string base = symbol;
  std::string candidates[4];
  int n = 0;
  if (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) {
    candidates[n++] = base + "_ptsz";
    candidates[n++] = base + "_ptds";
  }
  if (version >= 12000) candidates[n++] = base + "_v2";
  candidates[n++] = base;
  for (int i = 0; i < n; ++i) {
    if (void* p = dlsym(self_handle(), candidates[i].c_str())) {
      *pfn = p;
      if (status != nullptr) *status = CU_GET_PROC_ADDRESS_SUCCESS;
      return CUDA_SUCCESS;
    }
  }
  if (status != nullptr) *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  return CUDA_ERROR_NOT_FOUND;
}

}  // namespace

FAKE_EXPORT FakeMinRecord* fake_min_record() { return &g_record; }

FAKE_EXPORT CUresult cuInit(unsigned int flags) {
  ++g_record.init_calls;
  g_record.init_flags = flags;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDriverGetVersion(int* version) {
  if (version == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *version = 13000;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDeviceGetCount(int* count) {
  if (count == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *count = 3;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuGetErrorName(CUresult error, const char** str) {
  if (str == nullptr) return CUDA_ERROR_INVALID_VALUE;
  switch (error) {
    case CUDA_SUCCESS: *str = "CUDA_SUCCESS"; return CUDA_SUCCESS;
    case CUDA_ERROR_INVALID_VALUE: *str = "CUDA_ERROR_INVALID_VALUE"; return CUDA_SUCCESS;
    case CUDA_ERROR_NOT_INITIALIZED: *str = "CUDA_ERROR_NOT_INITIALIZED"; return CUDA_SUCCESS;
    case CUDA_ERROR_NOT_FOUND: *str = "CUDA_ERROR_NOT_FOUND"; return CUDA_SUCCESS;
    case CUDA_ERROR_NOT_READY: *str = "CUDA_ERROR_NOT_READY"; return CUDA_SUCCESS;
    default: *str = nullptr; return CUDA_ERROR_INVALID_VALUE;
  }
}

FAKE_EXPORT CUresult cuTexRefSetMipmapLevelBias(CUtexref tex, float bias) {
  g_record.bias_tex = tex;
  g_record.bias = bias;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuTexRefSetMipmapLevelClamp(CUtexref tex, float min_clamp, float max_clamp) {
  g_record.clamp_tex = tex;
  g_record.clamp_min = min_clamp;
  g_record.clamp_max = max_clamp;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuTensorMapEncodeIm2colWide(CUtensorMap* tensor_map, CUtensorMapDataType data_type, cuuint32_t rank,
                                                 void* global_address, const cuuint64_t* global_dim,
                                                 const cuuint64_t* global_strides, int lower_corner, int upper_corner,
                                                 cuuint32_t channels, cuuint32_t pixels, const cuuint32_t* element_strides,
                                                 CUtensorMapInterleave interleave, CUtensorMapIm2ColWideMode mode,
                                                 CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2,
                                                 CUtensorMapFloatOOBfill oob) {
  auto& e = g_record.encode;
  ++e.calls;
  e.tensor_map = tensor_map;
  e.data_type = data_type;
  e.rank = rank;
  e.global_address = global_address;
  e.global_dim = global_dim;
  e.global_strides = global_strides;
  e.lower_corner = lower_corner;
  e.upper_corner = upper_corner;
  e.channels = channels;
  e.pixels = pixels;
  e.element_strides = element_strides;
  e.interleave = interleave;
  e.mode = mode;
  e.swizzle = swizzle;
  e.l2 = l2;
  e.oob = oob;
  return CUDA_SUCCESS;
}

// Per-thread-stream variant: cuGetProcAddress with PER_THREAD_DEFAULT_STREAM
// picks it for "cuStreamQuery".
FAKE_EXPORT CUresult cuStreamQuery(CUstream) { return CUDA_SUCCESS; }
FAKE_EXPORT CUresult cuStreamQuery_ptsz(CUstream) { return CUDA_ERROR_NOT_READY; }

// Not a driver export the interposer knows: cuGetProcAddress passes it through.
FAKE_EXPORT CUresult fakeMinOnlyEntryPoint() { return CUDA_SUCCESS; }

FAKE_EXPORT CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int version, cuuint64_t flags,
                                         CUdriverProcAddressQueryResult* status) {
  return lookup(symbol, pfn, version, flags, status);
}

FAKE_EXPORT CUresult cuGetProcAddress(const char* symbol, void** pfn, int version, cuuint64_t flags) {
  return lookup(symbol, pfn, version, flags, nullptr);
}

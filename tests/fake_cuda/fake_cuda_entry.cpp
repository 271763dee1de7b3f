// How calls enter the driver: every exported function counts its call and
// answers an injected error first (entry, entry_init); cuGetProcAddress finds
// this library's own exports by base name, version and stream flavour.

#include "fake_cuda_internal.h"

#include <dlfcn.h>
#include <string>
#include <string_view>

namespace fake_cuda {

constexpr size_t kMaxCallList = size_t{1} << 20;

CUresult entry(const char* fn) {
  if (g_shutdown.load(std::memory_order_relaxed)) return CUDA_ERROR_DEINITIALIZED;
  Registry& r = reg();
  std::lock_guard lk(r.count_m);
  auto it = r.calls.find(std::string_view(fn));
  if (it == r.calls.end())
    r.calls.emplace(fn, 1);
  else
    ++it->second;
  if (r.call_list.size() < kMaxCallList) r.call_list.push_back(fn);
  if (!r.injections.empty()) {
    auto inj = r.injections.find(std::string_view(fn));
    if (inj != r.injections.end()) {
      const CUresult err = inj->second.err;
      if (--inj->second.count == 0) r.injections.erase(inj);
      return err;
    }
  }
  return CUDA_SUCCESS;
}

CUresult entry_init(const char* fn) {
  if (CUresult e = entry(fn); e != CUDA_SUCCESS) return e;
  return g_initialized.load() ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

namespace {

void* self_handle() {
  static void* h = [] {
    void* handle = nullptr;
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&self_handle), &info) != 0 && info.dli_fname != nullptr)
      handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (handle == nullptr) handle = dlopen("libfake_cuda.so", RTLD_LAZY | RTLD_NOLOAD);
    return handle;
  }();
  return h;
}

void* self_sym(const std::string& name) {
  void* h = self_handle();
  return h != nullptr ? dlsym(h, name.c_str()) : nullptr;
}

// Versioned entry points: base name, suffix of the export, first CUDA version.
struct VersionEntry {
  const char* base;
  const char* suffix;
  int since;
};

constexpr VersionEntry kVersions[] = {
    {"cuCtxCreate", "", 2000},
    {"cuCtxCreate", "_v2", 3020},
    {"cuCtxCreate", "_v3", 11040},
    {"cuCtxCreate", "_v4", 12050},
    {"cuCtxDestroy", "", 2000},
    {"cuCtxDestroy", "_v2", 4000},
    {"cuCtxPushCurrent", "", 2000},
    {"cuCtxPushCurrent", "_v2", 4000},
    {"cuCtxPopCurrent", "", 2000},
    {"cuCtxPopCurrent", "_v2", 4000},
    {"cuCtxSynchronize", "", 2000},
    {"cuCtxSynchronize", "_v2", 13000},
    {"cuCtxGetDevice", "", 2000},
    {"cuCtxGetDevice", "_v2", 13000},
    {"cuDeviceTotalMem", "", 2000},
    {"cuDeviceTotalMem", "_v2", 3020},
    {"cuDevicePrimaryCtxRelease", "", 7000},
    {"cuDevicePrimaryCtxRelease", "_v2", 11000},
    {"cuDevicePrimaryCtxSetFlags", "", 7000},
    {"cuDevicePrimaryCtxSetFlags", "_v2", 11000},
    {"cuMemGetInfo", "", 2000},
    {"cuMemGetInfo", "_v2", 3020},
    {"cuMemAlloc", "", 2000},
    {"cuMemAlloc", "_v2", 3020},
    {"cuMemFree", "", 2000},
    {"cuMemFree", "_v2", 3020},
    {"cuMemAllocHost", "", 2000},
    {"cuMemAllocHost", "_v2", 3020},
    {"cuMemHostGetDevicePointer", "", 2020},
    {"cuMemHostGetDevicePointer", "_v2", 3020},
    {"cuMemHostRegister", "", 4000},
    {"cuMemHostRegister", "_v2", 6050},
    {"cuMemcpyHtoD", "", 2000},
    {"cuMemcpyHtoD", "_v2", 3020},
    {"cuMemcpyDtoH", "", 2000},
    {"cuMemcpyDtoH", "_v2", 3020},
    {"cuMemcpyDtoD", "", 2000},
    {"cuMemcpyDtoD", "_v2", 3020},
    {"cuMemcpyHtoDAsync", "", 2000},
    {"cuMemcpyHtoDAsync", "_v2", 3020},
    {"cuMemcpyDtoHAsync", "", 2000},
    {"cuMemcpyDtoHAsync", "_v2", 3020},
    {"cuMemcpyDtoDAsync", "", 3000},
    {"cuMemcpyDtoDAsync", "_v2", 3020},
    {"cuMemsetD8", "", 2000},
    {"cuMemsetD8", "_v2", 3020},
    {"cuMemsetD16", "", 2000},
    {"cuMemsetD16", "_v2", 3020},
    {"cuMemsetD32", "", 2000},
    {"cuMemsetD32", "_v2", 3020},
    {"cuStreamDestroy", "", 2000},
    {"cuStreamDestroy", "_v2", 4000},
    {"cuEventDestroy", "", 2000},
    {"cuEventDestroy", "_v2", 4000},
    {"cuEventElapsedTime", "", 2000},
    {"cuEventElapsedTime", "_v2", 12080},
    {"cuStreamGetCtx", "", 9020},
    {"cuStreamGetCtx", "_v2", 12050},
    {"cuStreamWaitValue32", "", 8000},
    {"cuStreamWaitValue32", "_v2", 11070},
    {"cuStreamWriteValue32", "", 8000},
    {"cuStreamWriteValue32", "_v2", 11070},
    {"cuStreamWaitValue64", "", 9000},
    {"cuStreamWaitValue64", "_v2", 11070},
    {"cuStreamWriteValue64", "", 9000},
    {"cuStreamWriteValue64", "_v2", 11070},
    {"cuStreamGetCaptureInfo", "", 10010},
    {"cuStreamGetCaptureInfo", "_v2", 11030},
    {"cuStreamGetCaptureInfo", "_v3", 12030},
    {"cuGetProcAddress", "", 11030},
    {"cuGetProcAddress", "_v2", 12000},
};

bool has_version_suffix(std::string_view n) {
  if (n.ends_with("_ptsz") || n.ends_with("_ptds")) return true;
  const size_t pos = n.rfind("_v");
  if (pos == std::string_view::npos || pos + 2 >= n.size()) return false;
  for (size_t i = pos + 2; i < n.size(); ++i)
    if (n[i] < '0' || n[i] > '9') return false;
  return true;
}

CUresult get_proc(const char* symbol, void** pfn, int version, cuuint64_t flags,
                  CUdriverProcAddressQueryResult* status) {
  if (symbol == nullptr || pfn == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *pfn = nullptr;
  auto set_status = [&](CUdriverProcAddressQueryResult v) {
    if (status != nullptr) *status = v;
  };
  if ((flags & ~static_cast<cuuint64_t>(CU_GET_PROC_ADDRESS_LEGACY_STREAM |
                                        CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM)) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  const std::string_view base(symbol);
  if (!base.starts_with("cu") || has_version_suffix(base)) {
    set_status(CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    return CUDA_ERROR_NOT_FOUND;
  }
  std::string name(base);
  const VersionEntry* best = nullptr;
  bool versioned = false;
  for (const VersionEntry& v : kVersions) {
    if (base != v.base) continue;
    versioned = true;
    if (v.since <= version && (best == nullptr || v.since > best->since)) best = &v;
  }
  if (versioned) {
    if (best == nullptr) {
      set_status(CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
      return CUDA_ERROR_NOT_FOUND;
    }
    name += best->suffix;
  }
  void* p = nullptr;
  if ((flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0) {
    p = self_sym(name + "_ptsz");
    if (p == nullptr) p = self_sym(name + "_ptds");
  }
  if (p == nullptr) p = self_sym(name);
  if (p == nullptr) {
    set_status(CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    return CUDA_ERROR_NOT_FOUND;
  }
  *pfn = p;
  set_status(CU_GET_PROC_ADDRESS_SUCCESS);
  return CUDA_SUCCESS;
}

}  // namespace

}  // namespace fake_cuda

using namespace fake_cuda;  // the driver's internals, for the entry points below

FAKE_EXPORT CUresult CUDAAPI cuGetProcAddress(const char* symbol, void** pfn, int cudaVersion, cuuint64_t flags) {
  FAKE_ENTRY();
  return get_proc(symbol, pfn, cudaVersion, flags, nullptr);
}

FAKE_EXPORT CUresult CUDAAPI cuGetProcAddress_v2(const char* symbol, void** pfn, int cudaVersion, cuuint64_t flags,
                                                 CUdriverProcAddressQueryResult* symbolStatus) {
  FAKE_ENTRY();
  return get_proc(symbol, pfn, cudaVersion, flags, symbolStatus);
}

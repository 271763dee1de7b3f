// Kernels: launches copy their arguments at once and run the FakeKernel on the
// stream's worker later; parameter layout, attributes, lazy loading.

#include "fake_cuda_internal.h"

#include <algorithm>
#include <string_view>

namespace fake_cuda {

namespace {

bool is_unloaded(const void* f) {
  Registry& r = reg();
  std::lock_guard lk(r.lazy_m);
  return r.unloaded.count(f) != 0;
}

// Loads a lazy kernel like the real driver does with lazy loading: after
// everything enqueued on the context's streams so far.
void load_kernel(Context& c, const void* f) {
  if (!is_unloaded(f)) return;
  sync_context(c);
  Registry& r = reg();
  std::lock_guard lk(r.lazy_m);
  r.unloaded.erase(f);
}

struct Layout {
  size_t off[FAKE_KERNEL_MAX_PARAMS];
  size_t total;
};

size_t natural_align(size_t size) {
  size_t a = 1;
  while (a < 8 && size % (a * 2) == 0) a *= 2;
  return a;
}

CUresult layout_of(const FakeKernel& k, Layout& l) {
  if (k.num_params > FAKE_KERNEL_MAX_PARAMS) return CUDA_ERROR_INVALID_VALUE;
  size_t off = 0;
  for (unsigned i = 0; i < k.num_params; ++i) {
    const size_t a = k.param_align[i] != 0 ? k.param_align[i] : natural_align(k.param_size[i]);
    off = (off + a - 1) / a * a;
    l.off[i] = off;
    off += k.param_size[i];
  }
  l.total = off;
  return CUDA_SUCCESS;
}

long long read_int(const unsigned char* p, size_t size) {
  switch (size) {
    case 1: {
      std::int8_t v;
      std::memcpy(&v, p, 1);
      return v;
    }
    case 2: {
      std::int16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case 4: {
      std::int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case 8: {
      std::int64_t v;
      std::memcpy(&v, p, 8);
      return v;
    }
    default:
      return 0;
  }
}

struct LaunchDims {
  unsigned grid[3];
  unsigned block[3];
  unsigned shared_mem;
};

CUresult launch(CUfunction f, const LaunchDims& d, CUstream h, void** params, void** extra, bool ptsz) {
  const auto* k = reinterpret_cast<const FakeKernel*>(f);
  if (k == nullptr || k->fn == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  Layout l{};
  if (CUresult e = layout_of(*k, l); e != CUDA_SUCCESS) return e;
  if (d.grid[0] == 0 || d.grid[1] == 0 || d.grid[2] == 0 || d.block[0] == 0 || d.block[1] == 0 || d.block[2] == 0)
    return CUDA_ERROR_INVALID_VALUE;
  if (d.grid[1] > 65535 || d.grid[2] > 65535 || d.block[0] > 1024 || d.block[1] > 1024 || d.block[2] > 64 ||
      u64{d.block[0]} * d.block[1] * d.block[2] > 1024)
    return CUDA_ERROR_INVALID_VALUE;
  if (d.shared_mem > 227 * 1024) return CUDA_ERROR_INVALID_VALUE;
  if (params != nullptr && extra != nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (is_unloaded(k)) {
    Context* c = nullptr;
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
    load_kernel(*c, k);
  }

  // Copy the arguments now, as the real driver does.
  std::vector<unsigned char> buf(std::max<size_t>(l.total, 1));
  if (params != nullptr) {
    for (unsigned i = 0; i < k->num_params; ++i) {
      if (params[i] == nullptr) return CUDA_ERROR_INVALID_VALUE;
      std::memcpy(buf.data() + l.off[i], params[i], k->param_size[i]);
    }
  } else if (extra != nullptr) {
    void* ptr = nullptr;
    const size_t* size = nullptr;
    for (int i = 0;; i += 2) {
      if (i >= 64) return CUDA_ERROR_INVALID_VALUE;
      if (extra[i] == CU_LAUNCH_PARAM_END) break;
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
        ptr = extra[i + 1];
      else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
        size = static_cast<const size_t*>(extra[i + 1]);
      else
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (k->num_params > 0) {
      if (ptr == nullptr || size == nullptr || *size < l.total) return CUDA_ERROR_INVALID_VALUE;
      std::memcpy(buf.data(), ptr, l.total);
    }
  } else if (k->num_params > 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }

  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;

  if (unsigned us = reg().launch_delay_us.load(); us != 0) std::this_thread::sleep_for(std::chrono::microseconds(us));

  Op op;
  op.op = FAKE_OP_KERNEL;
  op.name = k->name != nullptr ? k->name : "kernel";
  if (k->log_param >= 0 && static_cast<unsigned>(k->log_param) < k->num_params)
    op.value = read_int(buf.data() + l.off[k->log_param], k->param_size[k->log_param]);
  FakeLaunch fl{};
  std::copy(d.grid, d.grid + 3, fl.grid);
  std::copy(d.block, d.block + 3, fl.block);
  fl.shared_mem_bytes = d.shared_mem;
  fl.stream_id = s->id;
  fl.ctx = reinterpret_cast<CUcontext>(s->ctx);
  op.run = [k, l, fl, buf = std::move(buf)]() mutable {
    void* ptrs[FAKE_KERNEL_MAX_PARAMS] = {};
    for (unsigned i = 0; i < k->num_params; ++i) ptrs[i] = buf.data() + l.off[i];
    k->fn(ptrs, fl);
  };
  if (CUresult e = enqueue(s, std::move(op)); e != CUDA_SUCCESS) return e;
  reg().launches.fetch_add(1);
  return CUDA_SUCCESS;
}

CUresult launch_ex(const CUlaunchConfig* config, CUfunction f, void** params, void** extra, bool ptsz) {
  if (config == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const LaunchDims d{{config->gridDimX, config->gridDimY, config->gridDimZ},
                     {config->blockDimX, config->blockDimY, config->blockDimZ},
                     config->sharedMemBytes};
  return launch(f, d, config->hStream, params, extra, ptsz);
}

}  // namespace

}  // namespace fake_cuda

using namespace fake_cuda;  // the driver's internals, for the entry points below

FAKE_EXPORT CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                            unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                            unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                            void** kernelParams, void** extra)
    FAKE_BODY(launch(f, LaunchDims{{gridDimX, gridDimY, gridDimZ}, {blockDimX, blockDimY, blockDimZ}, sharedMemBytes},
                     hStream, kernelParams, extra, false))

FAKE_EXPORT CUresult CUDAAPI cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                                 unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                                 unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                                 void** kernelParams, void** extra)
    FAKE_BODY(launch(f, LaunchDims{{gridDimX, gridDimY, gridDimZ}, {blockDimX, blockDimY, blockDimZ}, sharedMemBytes},
                     hStream, kernelParams, extra, true))

FAKE_EXPORT CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** kernelParams,
                                              void** extra) FAKE_BODY(launch_ex(config, f, kernelParams, extra, false))
FAKE_EXPORT CUresult CUDAAPI cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f, void** kernelParams,
                                                   void** extra) FAKE_BODY(launch_ex(config, f, kernelParams, extra, true))

FAKE_EXPORT CUresult CUDAAPI cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t* paramOffset,
                                                size_t* paramSize) {
  FAKE_ENTRY_INIT();
  const auto* k = reinterpret_cast<const FakeKernel*>(func);
  if (k == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (paramOffset == nullptr || paramSize == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Layout l{};
  if (CUresult e = layout_of(*k, l); e != CUDA_SUCCESS) return e;
  if (paramIndex >= k->num_params) return CUDA_ERROR_INVALID_VALUE;
  *paramOffset = l.off[paramIndex];
  *paramSize = k->param_size[paramIndex];
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuFuncGetAttribute(int* pi, CUfunction_attribute attrib, CUfunction hfunc) {
  FAKE_ENTRY_INIT();
  if (hfunc == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (pi == nullptr || attrib < 0 || attrib >= CU_FUNC_ATTRIBUTE_MAX) return CUDA_ERROR_INVALID_VALUE;
  int v = 0;
  switch (attrib) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: v = 1024; break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS: v = 32; break;
    case CU_FUNC_ATTRIBUTE_PTX_VERSION: v = 90; break;
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION: v = 90; break;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: v = 49152; break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: v = -1; break;
    default: v = 0; break;
  }
  *pi = v;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
  FAKE_ENTRY_INIT();
  if (hfunc == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (attrib < 0 || attrib >= CU_FUNC_ATTRIBUTE_MAX) return CUDA_ERROR_INVALID_VALUE;
  if (attrib == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES && (value < 0 || value > 232448))
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;  // accepted, not stored
}

FAKE_EXPORT CUresult CUDAAPI cuFuncGetName(const char** name, CUfunction hfunc) {
  FAKE_ENTRY_INIT();
  const auto* k = reinterpret_cast<const FakeKernel*>(hfunc);
  if (k == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (name == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *name = k->name != nullptr ? k->name : "fake_kernel";
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuFuncIsLoaded(CUfunctionLoadingState* state, CUfunction function) {
  FAKE_ENTRY_INIT();
  if (function == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (state == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *state = is_unloaded(function) ? CU_FUNCTION_LOADING_STATE_UNLOADED : CU_FUNCTION_LOADING_STATE_LOADED;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuFuncLoad(CUfunction function) {
  FAKE_ENTRY_INIT();
  if (function == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  load_kernel(*c, function);
  return CUDA_SUCCESS;
}

// Graphs are not modelled: no graph can be made, so a launch is refused.
// Modules: any image "loads", and its functions are the fake's kernels by
// name (fake_kernel.h): the demo's PTX kernel xsched_demo_spin(unsigned us)
// is the sleep kernel.
FAKE_EXPORT CUresult CUDAAPI cuModuleLoadData(CUmodule* module, const void* image) {
  static int the_module;
  if (module == nullptr || image == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *module = reinterpret_cast<CUmodule>(&the_module);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuModuleGetFunction(CUfunction* f, CUmodule module, const char* name) {
  if (f == nullptr || module == nullptr || name == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (std::string_view(name) != "xsched_demo_spin") return CUDA_ERROR_NOT_FOUND;
  *f = fake_kernel_sleep();
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuModuleUnload(CUmodule module) {
  return module != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

FAKE_EXPORT CUresult CUDAAPI cuGraphLaunch(CUgraphExec, CUstream) {
  FAKE_ENTRY_INIT();
  return CUDA_ERROR_NOT_SUPPORTED;
}
FAKE_EXPORT CUresult CUDAAPI cuGraphLaunch_ptsz(CUgraphExec, CUstream) {
  FAKE_ENTRY_INIT();
  return CUDA_ERROR_NOT_SUPPORTED;
}

// Module, library and kernel loading, and graph instantiation: the driver
// waits for every stream of the context while it loads code, so these calls
// run with every gate open (Level 2): a gate that the scheduler keeps closed
// while the caller's own work runs would otherwise stall them for good.
// Lazy loading at a kernel's first launch is handled where it is submitted (submit.cpp).
#include "hal/cuda/gates.h"
#include "interpose/cuda/export.h"
#include "interpose/cuda/forward.h"
#include "interpose/common/trace.h"

namespace ip = xsched::interpose;
namespace cu = xsched::cuda;

#define XS_ARGS(...) __VA_ARGS__
// NAME(PARAMS), forwarded as NAME(ARGS) with the gates open.
#define XS_GATES_OPEN(NAME, PARAMS, ARGS)                                                    \
  XS_CUDA_EXPORT CUresult NAME PARAMS {                                                      \
    const CUresult r = ip::with_gates_open([&] { return ip::forward(&cu::Driver::NAME, ARGS); }); \
    if (ip::trace_enabled()) ip::trace_call(#NAME, r, nullptr);                              \
    return r;                                                                                \
  }

extern "C" {

XS_GATES_OPEN(cuModuleLoad, (CUmodule * m, const char* path), XS_ARGS(m, path))
XS_GATES_OPEN(cuModuleLoadData, (CUmodule * m, const void* image), XS_ARGS(m, image))
XS_GATES_OPEN(cuModuleLoadDataEx,
              (CUmodule * m, const void* image, unsigned n, CUjit_option* options, void** values),
              XS_ARGS(m, image, n, options, values))
XS_GATES_OPEN(cuModuleLoadFatBinary, (CUmodule * m, const void* fatbin), XS_ARGS(m, fatbin))
XS_GATES_OPEN(cuLibraryLoadData,
              (CUlibrary * l, const void* code, CUjit_option* jit_options, void** jit_values, unsigned n_jit,
               CUlibraryOption* options, void** values, unsigned n),
              XS_ARGS(l, code, jit_options, jit_values, n_jit, options, values, n))
XS_GATES_OPEN(cuLibraryLoadFromFile,
              (CUlibrary * l, const char* path, CUjit_option* jit_options, void** jit_values, unsigned n_jit,
               CUlibraryOption* options, void** values, unsigned n),
              XS_ARGS(l, path, jit_options, jit_values, n_jit, options, values, n))
XS_GATES_OPEN(cuModuleGetFunction, (CUfunction * f, CUmodule m, const char* name), XS_ARGS(f, m, name))
XS_GATES_OPEN(cuModuleGetGlobal_v2, (CUdeviceptr * p, size_t* bytes, CUmodule m, const char* name),
              XS_ARGS(p, bytes, m, name))
XS_GATES_OPEN(cuLibraryGetKernel, (CUkernel * k, CUlibrary l, const char* name), XS_ARGS(k, l, name))
XS_GATES_OPEN(cuLibraryGetModule, (CUmodule * m, CUlibrary l), XS_ARGS(m, l))
XS_GATES_OPEN(cuLibraryGetGlobal, (CUdeviceptr * p, size_t* bytes, CUlibrary l, const char* name),
              XS_ARGS(p, bytes, l, name))
XS_GATES_OPEN(cuLibraryGetManaged, (CUdeviceptr * p, size_t* bytes, CUlibrary l, const char* name),
              XS_ARGS(p, bytes, l, name))
XS_GATES_OPEN(cuFuncLoad, (CUfunction f), XS_ARGS(f))
XS_GATES_OPEN(cuGraphInstantiateWithFlags, (CUgraphExec * exec, CUgraph g, unsigned long long flags),
              XS_ARGS(exec, g, flags))
XS_GATES_OPEN(cuGraphInstantiateWithParams, (CUgraphExec * exec, CUgraph g, CUDA_GRAPH_INSTANTIATE_PARAMS* params),
              XS_ARGS(exec, g, params))
XS_GATES_OPEN(cuGraphInstantiateWithParams_ptsz,
              (CUgraphExec * exec, CUgraph g, CUDA_GRAPH_INSTANTIATE_PARAMS* params), XS_ARGS(exec, g, params))

// The CUDA runtime asks for a kernel's function many times (some 18 times per
// ResNet-18 forward pass): once this thread has seen it loaded in the
// current context, it goes straight through.
XS_CUDA_EXPORT CUresult cuKernelGetFunction(CUfunction* f, CUkernel k) {
  CUcontext ctx = nullptr;
  if (ip::driver() == nullptr || ip::driver()->cuCtxGetCurrent(&ctx) != CUDA_SUCCESS) ctx = nullptr;
  const auto as_function = reinterpret_cast<CUfunction>(k);
  CUresult r;
  if (ctx != nullptr && cu::known_loaded(as_function, ctx)) {
    r = ip::forward(&cu::Driver::cuKernelGetFunction, f, k);
  } else {
    r = ip::with_gates_open([&] { return ip::forward(&cu::Driver::cuKernelGetFunction, f, k); });
    if (r == CUDA_SUCCESS && ctx != nullptr) cu::note_loaded(as_function, ctx);
  }
  if (ip::trace_enabled()) ip::trace_call(__func__, r, nullptr);
  return r;
}

}  // extern "C"

#undef XS_GATES_OPEN
#undef XS_ARGS

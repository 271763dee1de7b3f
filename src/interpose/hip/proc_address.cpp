// hipGetProcAddress and hipGetProcAddress_spt (ROCm 6.1 and 7.2): a program
// may reach any entry point through them instead of by name, and the
// runtime answers with its own function, which would bypass the interposer.
//
// The runtime picks the variant for the requested version and stream
// flavour (hipLaunchKernel with HIP_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
// is hipLaunchKernel_spt, hipGetDeviceProperties at 600 is
// hipGetDevicePropertiesR0600) and hands out the address of that exported
// symbol. So we ask it, name the address (dladdr), and hand out our own
// function of that name if the interposer defines one (a wrapper, or this
// call itself), else the runtime's pointer: as the CUDA interposer's
// cuGetProcAddress does. Our functions are found in this library's own
// exports, which are exactly the wrappers (exports.map).
#include <dlfcn.h>

#include <cstdint>

#include "interpose/common/trace.h"
#include "interpose/hip/wrap_common.h"

namespace xsched::interpose::hip {
namespace {

// The status is an enum (hipDriverProcAddressQueryResult) in the headers
// that have the call; an int-sized pointer here, passed through untouched.
using GetProcAddressFn = hipError_t (*)(const char*, void**, int, uint64_t, void*);

// This library, opened again by its own path (it is loaded: no new load);
// its handle's lookups see only what it exports.
void* self() {
  static void* const handle = [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&self), &info) == 0 || info.dli_fname == nullptr) {
      return static_cast<void*>(nullptr);
    }
    return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  }();
  return handle;
}

// Ours in place of the runtime's fn, if we define the symbol fn is.
void* ours_for(void* fn) {
  Dl_info info{};
  if (fn == nullptr || dladdr(fn, &info) == 0 || info.dli_sname == nullptr || info.dli_saddr != fn) return fn;
  void* const handle = self();
  void* const mine = handle != nullptr ? dlsym(handle, info.dli_sname) : nullptr;
  return mine != nullptr ? mine : fn;
}

hipError_t get_proc_address(const char* api, GetProcAddressFn real, const char* symbol, void** pfn, int version,
                            uint64_t flags, void* status) {
  const hipError_t r = real != nullptr ? real(symbol, pfn, version, flags, status) : hipErrorNotSupported;
  void* const theirs = r == hipSuccess && pfn != nullptr ? *pfn : nullptr;
  if (theirs != nullptr) *pfn = ours_for(theirs);
  if (trace_enabled()) {
    trace_call(api, r, "symbol=%s version=%d flags=0x%llx pfn=%p%s", symbol != nullptr ? symbol : "(null)", version,
               static_cast<unsigned long long>(flags), theirs, theirs != nullptr && *pfn != theirs ? " (ours)" : "");
  }
  return r;
}

}  // namespace
}  // namespace xsched::interpose::hip

namespace ih = xsched::interpose::hip;

// Under the runtime's exported names (asm labels): the headers that declare
// them type the status as hipDriverProcAddressQueryResult*, older ones lack them.
XS_HIP_EXPORT hipError_t xs_hipGetProcAddress(const char*, void**, int, uint64_t, void*) __asm__("hipGetProcAddress");
XS_HIP_EXPORT hipError_t xs_hipGetProcAddress_spt(const char*, void**, int, uint64_t, void*) __asm__(
    "hipGetProcAddress_spt");

XS_HIP_EXPORT hipError_t xs_hipGetProcAddress(const char* symbol, void** pfn, int version, uint64_t flags,
                                              void* status) {
  static const auto real = ih::real<ih::GetProcAddressFn>("hipGetProcAddress");
  return ih::get_proc_address("hipGetProcAddress", real, symbol, pfn, version, flags, status);
}

XS_HIP_EXPORT hipError_t xs_hipGetProcAddress_spt(const char* symbol, void** pfn, int version, uint64_t flags,
                                                  void* status) {
  static const auto real = ih::real<ih::GetProcAddressFn>("hipGetProcAddress_spt");
  return ih::get_proc_address("hipGetProcAddress_spt", real, symbol, pfn, version, flags, status);
}

// cuGetProcAddress and cuGetProcAddress_v2: how the CUDA runtime (and so
// PyTorch, cuBLAS, cuDNN, cudaGetDriverEntryPoint) reaches every driver call.
//
// The real driver picks the variant for the requested version and stream
// flavour (cuLaunchKernel + PER_THREAD_DEFAULT_STREAM is cuLaunchKernel_ptsz,
// cuMemcpyHtoD at 12000 is cuMemcpyHtoD_v2); every pointer it hands out is
// the address of one of its exported symbols (measured on driver 580 for all
// names, versions and flags). So we ask it, map the address back to that
// symbol's name, and hand out our own function for the name if there is one
// (a wrapper, or our cuGetProcAddress for itself: export_table.h), and the
// real pointer otherwise.
#define __CUDA_API_VERSION_INTERNAL 1  // the real names, without cuda.h's renaming macros
#include <cuda.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "core/log.h"
#include "interpose/cuda/driver.h"
#include "interpose/cuda/export.h"
#include "interpose/cuda/export_table.h"
#include "interpose/cuda/real_driver.h"
#include "interpose/common/trace.h"

namespace xsched::interpose {
namespace {

// The real driver's address of each exported symbol, sorted by address.
struct ReverseMap {
  struct Entry {
    uintptr_t addr;
    unsigned index;  // into export_names()
    bool operator<(const Entry& o) const { return addr != o.addr ? addr < o.addr : index < o.index; }
  };
  std::vector<Entry> entries;
};

// Built on first use, once; never freed, so it outlives exit handlers and
// threads that still call at exit. nullptr if it could not be built.
const ReverseMap* reverse_map() {
  static const ReverseMap* const map = []() noexcept -> const ReverseMap* {
    try {
      auto* m = new ReverseMap;
      const char* const* names = export_names();
      m->entries.reserve(export_count());
      for (size_t i = 0; i < export_count(); ++i) {
        if (void* p = real_symbol(names[i])) m->entries.push_back({reinterpret_cast<uintptr_t>(p), static_cast<unsigned>(i)});
      }
      std::sort(m->entries.begin(), m->entries.end());
      return m;
    } catch (...) {
      log(LogLevel::kError, "CUDA interposer: out of memory; cuGetProcAddress hands out the real driver's pointers");
      return nullptr;
    }
  }();
  return map;
}

void* wrapper_for(const char* name) {
  try {
    return find_wrapper(name);
  } catch (...) {  // nothing may cross into the C caller
    return nullptr;
  }
}

// What the program gets for the real driver's pointer `real`: our function
// for the symbol it is, or `real`. *as is the symbol's name (nullptr when
// the address is not an export) and *ours whether the pointer is ours.
void* substitute(void* real, const char** as, bool* ours) {
  *as = nullptr;
  *ours = false;
  const ReverseMap* map = reverse_map();
  if (map == nullptr) return real;
  const auto addr = reinterpret_cast<uintptr_t>(real);
  auto it = std::lower_bound(map->entries.begin(), map->entries.end(), ReverseMap::Entry{addr, 0});
  // Several names may share one address (aliases in the driver): they are
  // the same function, so the first with a wrapper of ours decides.
  for (; it != map->entries.end() && it->addr == addr; ++it) {
    const char* name = export_names()[it->index];
    if (*as == nullptr) *as = name;
    if (void* mine = wrapper_for(name); mine != nullptr) {
      *as = name;
      *ours = true;
      return mine;
    }
  }
  return real;
}

// An address the driver exports under no name we know (a newer driver than
// driver_exports.txt): passed through, said once per symbol at info level.
void note_unknown(const char* symbol, void* real) {
  if (!log_enabled(LogLevel::kInfo)) return;
  static constinit std::mutex mutex;
  static std::set<std::string>* const seen = new (std::nothrow) std::set<std::string>;
  try {
    std::lock_guard<std::mutex> lock(mutex);
    if (seen == nullptr || !seen->insert(symbol).second) return;
  } catch (...) {
    return;
  }
  log(LogLevel::kInfo, "CUDA interposer: cuGetProcAddress(\"%s\") = %p is not a driver export known to xsched; passed through",
      symbol, real);
}

// The common part: `result` and *pfn come from the real driver.
CUresult finish(const char* api, CUresult result, const char* symbol, void** pfn, int version, cuuint64_t flags) {
  const char* as = nullptr;
  bool ours = false;
  if (result == CUDA_SUCCESS && pfn != nullptr && *pfn != nullptr && symbol != nullptr) {
    void* real = *pfn;
    *pfn = substitute(real, &as, &ours);
    if (as == nullptr) note_unknown(symbol, real);
  }
  if (trace_enabled()) {
    trace_call(api, result, "symbol=%s version=%d flags=%#llx pfn=%p as=%s%s", symbol != nullptr ? symbol : "(null)",
               version, static_cast<unsigned long long>(flags), pfn != nullptr ? *pfn : nullptr,
               as != nullptr ? as : "?", ours ? " (xsched)" : "");
  }
  return result;
}

// Without the real function: no driver, or one too old to have it.
CUresult unavailable(void** pfn, CUdriverProcAddressQueryResult* status) {
  if (pfn != nullptr) *pfn = nullptr;
  if (status != nullptr) *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  return real_driver() == nullptr ? CUDA_ERROR_NOT_INITIALIZED : CUDA_ERROR_NOT_FOUND;
}

}  // namespace
}  // namespace xsched::interpose

extern "C" XS_CUDA_EXPORT CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int cudaVersion, cuuint64_t flags,
                                                       CUdriverProcAddressQueryResult* symbolStatus) {
  using namespace xsched::interpose;
  const xsched::cuda::Driver* d = driver_entry_points();
  const CUresult r = d != nullptr && d->cuGetProcAddress_v2 != nullptr
                         ? d->cuGetProcAddress_v2(symbol, pfn, cudaVersion, flags, symbolStatus)
                         : unavailable(pfn, symbolStatus);
  return finish("cuGetProcAddress_v2", r, symbol, pfn, cudaVersion, flags);
}

extern "C" XS_CUDA_EXPORT CUresult cuGetProcAddress(const char* symbol, void** pfn, int cudaVersion, cuuint64_t flags) {
  using namespace xsched::interpose;
  const xsched::cuda::Driver* d = driver_entry_points();
  const CUresult r = d != nullptr && d->cuGetProcAddress != nullptr ? d->cuGetProcAddress(symbol, pfn, cudaVersion, flags)
                                                                    : unavailable(pfn, nullptr);
  return finish("cuGetProcAddress", r, symbol, pfn, cudaVersion, flags);
}

#include "hal/cuda/param_layout.h"

#include <memory>
#include <new>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace xsched::cuda {
namespace {

// More parameters than any kernel has (arguments are limited to 32 KiB): a
// driver that kept answering would otherwise keep the loop going.
constexpr std::size_t kMaxParams = 4096;

struct Cache {
  std::shared_mutex mu;
  std::unordered_map<CUfunction, std::unique_ptr<ParamLayout>> layouts;
};

Cache& cache() {
  static Cache* c = new Cache;  // immortal: launches may run during exit
  return *c;
}

// Reads the layout through one of the two entry points. Asked about a handle
// of the other kind, the driver may answer "no such parameter" as if the
// kernel had none, so the caller asks both and believes the longer answer.
template <class Handle, class Fn>
bool query(Fn get_info, Handle h, ParamLayout* out) {
  if (get_info == nullptr) return false;
  for (std::size_t i = 0; i < kMaxParams; ++i) {
    size_t offset = 0, size = 0;
    const CUresult r = get_info(h, i, &offset, &size);
    if (r == CUDA_ERROR_INVALID_VALUE) return true;  // past the last parameter
    if (r != CUDA_SUCCESS) return false;
    out->sizes.push_back(size);
  }
  return false;
}

}  // namespace

const ParamLayout* param_layout(const Driver& d, CUfunction f) {
  Cache& c = cache();
  {
    std::shared_lock lk(c.mu);
    auto it = c.layouts.find(f);
    if (it != c.layouts.end()) return it->second.get();
  }
  try {
    // cuLaunchKernel takes a CUfunction or a CUkernel (what the runtime
    // launches with lazy loading), and the handle does not say which.
    auto layout = std::make_unique<ParamLayout>();
    ParamLayout as_kernel;
    const bool f_ok = query(d.cuFuncGetParamInfo, f, layout.get());
    const bool k_ok = query(d.cuKernelGetParamInfo, reinterpret_cast<CUkernel>(f), &as_kernel);
    if (!f_ok && !k_ok) return nullptr;
    if (!f_ok || (k_ok && as_kernel.sizes.size() > layout->sizes.size())) *layout = std::move(as_kernel);
    std::unique_lock lk(c.mu);
    auto [it, inserted] = c.layouts.try_emplace(f, std::move(layout));
    return it->second.get();
  } catch (const std::bad_alloc&) {
    return nullptr;  // the caller launches at once instead
  }
}

void forget_param_layouts() {
  Cache& c = cache();
  std::unique_lock lk(c.mu);
  // A layout is read only inside persist, during the application's launch
  // call; the application unloads a module after its launches returned, so
  // no reader is left.
  c.layouts.clear();
}

}  // namespace xsched::cuda

#include "hal/cuda/kernel_args.h"

#include <cstring>

#include "hal/cuda/param_layout.h"

namespace xsched::cuda {
namespace {

// Where a launch's arguments come from: kernelParams with the kernel's
// layout, or an `extra` buffer.
struct ArgsPlan {
  const ParamLayout* layout = nullptr;
  const void* buffer = nullptr;  // extra's CU_LAUNCH_PARAM_BUFFER_POINTER
  std::size_t buffer_bytes = 0;
  bool ok = true;
};

ArgsPlan plan_args(const Driver& d, CUfunction f, void** params, void** extra) {
  ArgsPlan plan;
  if (params != nullptr) {
    plan.layout = param_layout(d, f);
    // No parameters reported for a launch that passes some: the driver
    // cannot describe this kernel, so its arguments cannot be copied.
    plan.ok = plan.layout != nullptr && !plan.layout->sizes.empty();
    return plan;
  }
  if (extra == nullptr) return plan;
  for (void** e = extra; *e != CU_LAUNCH_PARAM_END; e += 2) {
    if (*e == CU_LAUNCH_PARAM_BUFFER_POINTER) {
      plan.buffer = e[1];
    } else if (*e == CU_LAUNCH_PARAM_BUFFER_SIZE) {
      plan.buffer_bytes = *static_cast<const std::size_t*>(e[1]);
    } else {
      plan.ok = false;  // an extra option this version does not know how to copy
      return plan;
    }
  }
  return plan;
}

constexpr std::size_t align16(std::size_t n) { return (n + 15) & ~std::size_t{15}; }

// The bytes copy_args writes.
std::size_t args_bytes(const ArgsPlan& plan) {
  if (plan.layout != nullptr) {
    std::size_t n = align16(plan.layout->sizes.size() * sizeof(void*));
    for (std::size_t s : plan.layout->sizes) n += align16(s);
    return n;
  }
  if (plan.buffer != nullptr) return align16(5 * sizeof(void*)) + align16(sizeof(std::size_t)) + align16(plan.buffer_bytes);
  return 0;
}

// Copies the arguments to out (args_bytes(plan) long) and points
// *new_params / *new_extra at the copy.
void copy_args(const ArgsPlan& plan, void** params, unsigned char* out, void*** new_params, void*** new_extra) {
  *new_params = nullptr;
  *new_extra = nullptr;
  if (plan.layout != nullptr) {
    void** array = reinterpret_cast<void**>(out);
    unsigned char* data = out + align16(plan.layout->sizes.size() * sizeof(void*));
    for (std::size_t i = 0; i < plan.layout->sizes.size(); ++i) {
      std::memcpy(data, params[i], plan.layout->sizes[i]);
      array[i] = data;
      data += align16(plan.layout->sizes[i]);
    }
    *new_params = array;
  } else if (plan.buffer != nullptr) {
    void** extra = reinterpret_cast<void**>(out);
    auto* size = reinterpret_cast<std::size_t*>(out + align16(5 * sizeof(void*)));
    unsigned char* data = reinterpret_cast<unsigned char*>(size) + align16(sizeof(std::size_t));
    std::memcpy(data, plan.buffer, plan.buffer_bytes);
    *size = plan.buffer_bytes;
    extra[0] = CU_LAUNCH_PARAM_BUFFER_POINTER;
    extra[1] = data;
    extra[2] = CU_LAUNCH_PARAM_BUFFER_SIZE;
    extra[3] = size;
    extra[4] = CU_LAUNCH_PARAM_END;
    *new_extra = extra;
  }
}

}  // namespace

xs_result_t persist_launch_args(PersistSpace& space, Launch& l) {
  const ArgsPlan plan = plan_args(space.d, l.f, l.params, l.extra);
  if (!plan.ok) return XS_ERR_UNSUPPORTED;
  const std::size_t bytes = args_bytes(plan);
  if (bytes == 0) {
    l.params = nullptr;
    l.extra = nullptr;
    return XS_OK;
  }
  auto* block = static_cast<unsigned char*>(space.acquire(bytes));
  if (block == nullptr) return XS_ERR_NO_MEMORY;
  copy_args(plan, l.params, block, &l.params, &l.extra);
  return XS_OK;
}

xs_result_t persist_launch_ex_args(PersistSpace& space, LaunchEx& l) {
  const ArgsPlan plan = plan_args(space.d, l.f, l.params, l.extra);
  if (!plan.ok) return XS_ERR_UNSUPPORTED;
  const CUlaunchConfig& cfg = *l.config;
  const std::size_t attrs_bytes = align16(sizeof(CUlaunchAttribute) * cfg.numAttrs);
  const std::size_t head = align16(sizeof(CUlaunchConfig));
  auto* block = static_cast<unsigned char*>(space.acquire(head + attrs_bytes + args_bytes(plan)));
  if (block == nullptr) return XS_ERR_NO_MEMORY;
  auto* copy = reinterpret_cast<CUlaunchConfig*>(block);
  *copy = cfg;
  if (cfg.numAttrs > 0) {
    auto* attrs = reinterpret_cast<CUlaunchAttribute*>(block + head);
    std::memcpy(attrs, cfg.attrs, sizeof(CUlaunchAttribute) * cfg.numAttrs);
    copy->attrs = attrs;
  }
  copy_args(plan, l.params, block + head + attrs_bytes, &l.params, &l.extra);
  l.config = copy;
  return XS_OK;
}

// The block is where the copy of kernelParams or of `extra` starts (none
// when the kernel takes no arguments).
void release_launch_args(PersistSpace& space, const Launch& l) {
  space.release(l.params != nullptr ? static_cast<void*>(l.params) : static_cast<void*>(l.extra));
}

// The block starts with the configuration.
void release_launch_ex_args(PersistSpace& space, const LaunchEx& l) { space.release(const_cast<CUlaunchConfig*>(l.config)); }

}  // namespace xsched::cuda

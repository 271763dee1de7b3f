// Contexts: created, primary (one per device, made on first use) and the
// current-context stack's calls; green contexts are made in fake_cuda_green.cpp.

#include "fake_cuda_internal.h"

namespace fake_cuda {

bool known_ctx(Context* c) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  for (const auto& p : r.contexts)
    if (p.get() == c) return true;
  return false;
}

namespace {

CUresult push_ctx(Context* c) {
  if (t_state.depth >= kMaxCtxStack) return CUDA_ERROR_INVALID_VALUE;
  t_state.stack[t_state.depth++] = c;
  return CUDA_SUCCESS;
}

// The primary context of device dev (a valid visible ordinal), made with
// `flags` on first use.
Context* primary_of(CUdevice dev, unsigned flags) {
  Registry& r = reg();
  Context*& slot = r.primary[static_cast<size_t>(dev)];
  {
    std::lock_guard lk(r.m);
    if (slot != nullptr) return slot;
  }
  Context* made = make_context(dev, flags, true);
  std::lock_guard lk(r.m);
  if (slot == nullptr) slot = made;
  if (slot != made) {  // lost a race: retire the spare
    made->alive.store(false);
    mark_destroyed(*made->legacy);
  }
  return slot;
}

}  // namespace

Context* make_context(CUdevice dev, unsigned flags, bool primary, GreenCtx* green, Context* root, unsigned sm_count) {
  Registry& r = reg();
  auto c = std::make_unique<Context>();
  c->id = r.next_id.fetch_add(1);
  c->dev = dev;
  c->flags = flags;
  c->primary = primary;
  c->green = green;
  c->root = root;
  c->sm_count = sm_count;
  c->legacy = make_stream(c.get(), Kind::Legacy, 0, 0);
  Context* raw = c.get();
  std::lock_guard lk(r.m);
  r.contexts.push_back(std::move(c));
  return raw;
}

void destroy_context(Context& c) {
  sync_context(c);
  std::vector<std::shared_ptr<Stream>> ss;
  {
    std::lock_guard lk(c.m);
    c.alive.store(false);
    ss = c.streams;
    ss.push_back(c.legacy);
    c.per_thread.clear();
    c.waits.clear();
  }
  Registry& r = reg();
  {
    std::lock_guard lk(r.m);
    // A green context's streams outlive it as handles: calls on them,
    // cuStreamDestroy included, answer CUDA_ERROR_CONTEXT_IS_DESTROYED (cuda.h).
    if (c.green == nullptr) std::erase_if(r.streams, [&](const auto& kv) { return kv.second->ctx == &c; });
    std::erase_if(r.events, [&](const auto& kv) { return kv.second->ctx == &c; });
  }
  for (auto& s : ss) mark_destroyed(*s);
  reap();
}

Context* retain_primary(CUdevice dev) {
  Context* c = primary_of(dev, 0);
  Registry& r = reg();
  std::lock_guard lk(r.m);
  ++r.primary_refs[static_cast<size_t>(dev)];
  return c;
}

// Waits for the work that may use memory of context c: its own, and where c is
// the primary context or one of its green contexts, that of all of them (they
// share the primary context's memory).
void sync_memory_users(Context& c) {
  Context* root = c.green != nullptr ? c.root : &c;
  std::vector<Context*> users;
  {
    Registry& r = reg();
    std::lock_guard lk(r.m);
    for (const auto& p : r.contexts)
      if (p.get() == root || (p->green != nullptr && p->root == root)) users.push_back(p.get());
  }
  for (Context* u : users) sync_context(*u);
}

}  // namespace fake_cuda

using namespace fake_cuda;  // the driver's internals, for the entry points below

FAKE_EXPORT CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  *pctx = reinterpret_cast<CUcontext>(retain_primary(dev));
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  Registry& r = reg();
  std::lock_guard lk(r.m);
  int& refs = r.primary_refs[static_cast<size_t>(dev)];
  if (refs == 0) return CUDA_ERROR_INVALID_CONTEXT;
  --refs;  // the context stays (the real driver would reset it at 0)
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int* flags, int* active) {
  FAKE_ENTRY_INIT();
  if (flags == nullptr || active == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  Registry& r = reg();
  std::lock_guard lk(r.m);
  const Context* c = r.primary[static_cast<size_t>(dev)];
  *flags = c != nullptr ? c->flags.load() : 0;
  *active = r.primary_refs[static_cast<size_t>(dev)] > 0 ? 1 : 0;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags) {
  FAKE_ENTRY_INIT();
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  primary_of(dev, flags)->flags.store(flags);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxCreate_v2(CUcontext* pctx, unsigned int flags, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  if (t_state.depth >= kMaxCtxStack) return CUDA_ERROR_INVALID_VALUE;
  Context* c = make_context(dev, flags, false);
  push_ctx(c);
  *pctx = reinterpret_cast<CUcontext>(c);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxCreate_v4(CUcontext* pctx, CUctxCreateParams* params, unsigned int flags,
                                            CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (params != nullptr && (params->numExecAffinityParams != 0 || params->cigParams != nullptr))
    return CUDA_ERROR_NOT_SUPPORTED;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  if (t_state.depth >= kMaxCtxStack) return CUDA_ERROR_INVALID_VALUE;
  Context* c = make_context(dev, flags, false);
  push_ctx(c);
  *pctx = reinterpret_cast<CUcontext>(c);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxDestroy_v2(CUcontext ctx) {
  FAKE_ENTRY_INIT();
  auto* c = reinterpret_cast<Context*>(ctx);
  // A green context's CUcontext is destroyed with cuGreenCtxDestroy only.
  if (c == nullptr || !known_ctx(c) || c->primary || c->green != nullptr) return CUDA_ERROR_INVALID_CONTEXT;
  if (!c->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  destroy_context(*c);
  if (current_ctx() == c) --t_state.depth;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetCurrent(CUcontext* pctx) {
  FAKE_ENTRY_INIT();
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *pctx = reinterpret_cast<CUcontext>(current_ctx());
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxSetCurrent(CUcontext ctx) {
  FAKE_ENTRY_INIT();
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr) {
    if (t_state.depth > 0) --t_state.depth;
    return CUDA_SUCCESS;
  }
  if (!known_ctx(c)) return CUDA_ERROR_INVALID_CONTEXT;
  if (!c->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  if (t_state.depth == 0)
    t_state.stack[t_state.depth++] = c;
  else
    t_state.stack[t_state.depth - 1] = c;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxPushCurrent_v2(CUcontext ctx) {
  FAKE_ENTRY_INIT();
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr || !known_ctx(c)) return CUDA_ERROR_INVALID_CONTEXT;
  if (!c->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  return push_ctx(c);
}

FAKE_EXPORT CUresult CUDAAPI cuCtxPopCurrent_v2(CUcontext* pctx) {
  FAKE_ENTRY_INIT();
  if (t_state.depth == 0) return CUDA_ERROR_INVALID_CONTEXT;
  Context* c = t_state.stack[--t_state.depth];
  if (pctx != nullptr) *pctx = reinterpret_cast<CUcontext>(c);
  return CUDA_SUCCESS;
}

// As measured on the H100 (bench/results/probes): synchronising a context
// waits for the green contexts made on its device too.
FAKE_EXPORT CUresult CUDAAPI cuCtxSynchronize(void) {
  FAKE_ENTRY_INIT();
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  sync_memory_users(*c);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxSynchronize_v2(CUcontext ctx) {
  FAKE_ENTRY_INIT();
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr) {
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  } else if (!known_ctx(c)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  } else if (!c->alive.load()) {
    return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  }
  sync_memory_users(*c);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetDevice(CUdevice* device) {
  FAKE_ENTRY_INIT();
  if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  *device = c->dev;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetDevice_v2(CUdevice* device, CUcontext ctx) {
  FAKE_ENTRY_INIT();
  if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr) {
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  } else if (!known_ctx(c)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  *device = c->dev;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetFlags(unsigned int* flags) {
  FAKE_ENTRY_INIT();
  if (flags == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  *flags = c->flags.load();
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetId(CUcontext ctx, unsigned long long* ctxId) {
  FAKE_ENTRY_INIT();
  if (ctxId == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr) {
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  } else if (!known_ctx(c)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  *ctxId = c->id;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetApiVersion(CUcontext ctx, unsigned int* version) {
  FAKE_ENTRY_INIT();
  if (version == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto* c = reinterpret_cast<Context*>(ctx);
  if (c == nullptr) {
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  } else if (!known_ctx(c)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  *version = kDriverVersion;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetStreamPriorityRange(int* leastPriority, int* greatestPriority) {
  FAKE_ENTRY_INIT();
  if (leastPriority != nullptr) *leastPriority = kLeastPriority;
  if (greatestPriority != nullptr) *greatestPriority = kGreatestPriority;
  return CUDA_SUCCESS;
}

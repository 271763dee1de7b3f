// Green contexts (CUDA 12.4+), as on compute capability 9.0: SM resources,
// their split and descriptors, and green contexts with their streams and events.

#include "fake_cuda_internal.h"

#include <algorithm>
#include <cstring>

namespace fake_cuda {

// SM partitions on compute capability 9.0: at least 8 SMs, in multiples of 8;
// CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING lowers both to 2.
constexpr unsigned kSmPartitionMin = 8;
constexpr unsigned kSmPartitionFine = 2;

unsigned ctx_sm_count(const Context& c) { return c.green != nullptr ? c.sm_count : reg().sm_count.load(); }

namespace {

// What this driver writes into a CUdevResource's internal bytes: where the
// resource came from, so that the split and the descriptor can refuse what
// CUDA refuses (splitting a split, mixing splits).
struct ResourceTag {
  std::uint32_t magic;
  CUdevice dev;
  u64 split;           // the cuDevSmResourceSplitByCount call that made it; 0: a whole resource
  std::uint32_t part;  // in that split: 1 + the group's index, or kRemainingPart
  std::uint32_t reserved;
};
static_assert(sizeof(ResourceTag) <= sizeof(CUdevResource::_internal_padding));
constexpr std::uint32_t kResourceMagic = 0x47524e31;
constexpr std::uint32_t kRemainingPart = 0xFFFFFFFFu;

bool read_tag(const CUdevResource& res, ResourceTag& tag) {
  std::memcpy(&tag, res._internal_padding, sizeof tag);
  return tag.magic == kResourceMagic;
}

// The coscheduling alignment of n SMs that are not a split group: the
// largest partition granularity that divides n (smCount is a multiple of it).
unsigned sm_alignment(unsigned n) {
  if (n % kSmPartitionMin == 0) return kSmPartitionMin;
  return n % kSmPartitionFine == 0 ? kSmPartitionFine : 1;
}

CUdevResource sm_resource(CUdevice dev, unsigned count, unsigned alignment, u64 split, std::uint32_t part) {
  CUdevResource res{};
  res.type = CU_DEV_RESOURCE_TYPE_SM;
  const ResourceTag tag{kResourceMagic, dev, split, part, 0};
  std::memcpy(res._internal_padding, &tag, sizeof tag);
  res.sm.smCount = count;
  res.sm.minSmPartitionSize = kSmPartitionMin;
  res.sm.smCoscheduledAlignment = alignment;
  return res;
}

CUresult ctx_resource(const Context& c, CUdevResource* res, CUdevResourceType type) {
  if (res == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (type != CU_DEV_RESOURCE_TYPE_SM) return CUDA_ERROR_INVALID_RESOURCE_TYPE;
  const unsigned n = ctx_sm_count(c);
  *res = sm_resource(c.dev, n, sm_alignment(n), 0, 0);
  return CUDA_SUCCESS;
}

CUresult find_green(CUgreenCtx h, Context*& c) {
  if (h == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
  Registry& r = reg();
  {
    std::lock_guard lk(r.m);
    auto it = std::find_if(r.greens.begin(), r.greens.end(),
                           [&](const auto& g) { return reinterpret_cast<CUgreenCtx>(g.get()) == h; });
    if (it == r.greens.end()) return CUDA_ERROR_INVALID_CONTEXT;
    c = (*it)->ctx;
  }
  return c->alive.load() ? CUDA_SUCCESS : CUDA_ERROR_CONTEXT_IS_DESTROYED;
}

// As on compute capability 9.0: groups of minCount SMs rounded up to the
// partition granularity, as many as fit and were asked for; the rest remains.
CUresult sm_split(CUdevResource* result, unsigned* nb, const CUdevResource* input, CUdevResource* remaining,
                  unsigned flags, unsigned min_count) {
  constexpr unsigned kFlags =
      CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING | CU_DEV_SM_RESOURCE_SPLIT_MAX_POTENTIAL_CLUSTER_SIZE;
  if (nb == nullptr || input == nullptr || (flags & ~kFlags) != 0) return CUDA_ERROR_INVALID_VALUE;
  if (input->type != CU_DEV_RESOURCE_TYPE_SM) return CUDA_ERROR_INVALID_RESOURCE_TYPE;
  ResourceTag tag{};
  if (!read_tag(*input, tag)) return CUDA_ERROR_INVALID_VALUE;
  // A group or remainder cannot be split again before a green context is made of it.
  if (tag.split != 0) return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
  const unsigned total = input->sm.smCount;
  if (min_count > total) return CUDA_ERROR_INVALID_VALUE;
  const unsigned g = (flags & CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING) != 0 ? kSmPartitionFine : kSmPartitionMin;
  const unsigned size = std::max(g, (min_count + g - 1) / g * g);
  const unsigned fit = total / size;
  if (fit == 0) return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;  // minCount rounds up past the input
  unsigned n = fit;
  if (result != nullptr) {
    if (*nb == 0) return CUDA_ERROR_INVALID_VALUE;
    n = std::min(*nb, fit);
  }
  const u64 split = reg().next_id.fetch_add(1);
  if (result != nullptr)
    for (unsigned i = 0; i < n; ++i) result[i] = sm_resource(tag.dev, size, g, split, i + 1);
  if (remaining != nullptr) {
    const unsigned rest = total - n * size;
    *remaining = sm_resource(tag.dev, rest, sm_alignment(rest), split, kRemainingPart);
  }
  *nb = n;
  return CUDA_SUCCESS;
}

CUresult generate_desc(CUdevResourceDesc* ph, const CUdevResource* res, unsigned nb) {
  if (ph == nullptr || res == nullptr || nb == 0) return CUDA_ERROR_INVALID_VALUE;
  ResourceTag first{};
  std::set<std::uint32_t> parts;
  unsigned total = 0;
  for (unsigned i = 0; i < nb; ++i) {
    if (res[i].type != CU_DEV_RESOURCE_TYPE_SM) return CUDA_ERROR_INVALID_RESOURCE_TYPE;
    ResourceTag tag{};
    if (!read_tag(res[i], tag)) return CUDA_ERROR_INVALID_VALUE;
    if (i == 0) first = tag;
    // Several resources: distinct outputs of one split, on one device.
    if (nb > 1 && (tag.split == 0 || tag.split != first.split || tag.dev != first.dev || !parts.insert(tag.part).second))
      return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
    total += res[i].sm.smCount;
  }
  if (total == 0) return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
  auto d = std::make_unique<ResourceDesc>();
  d->dev = first.dev;
  d->sm_count = total;
  *ph = reinterpret_cast<CUdevResourceDesc>(d.get());
  Registry& r = reg();
  std::lock_guard lk(r.m);
  r.descs.push_back(std::move(d));
  return CUDA_SUCCESS;
}

CUresult green_create(CUgreenCtx* ph, CUdevResourceDesc desc, CUdevice dev, unsigned flags) {
  if (ph == nullptr || flags != CU_GREEN_CTX_DEFAULT_STREAM) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  Registry& r = reg();
  unsigned sms = 0;
  {
    std::lock_guard lk(r.m);
    auto it = std::find_if(r.descs.begin(), r.descs.end(), [&](const auto& d) {
      return reinterpret_cast<CUdevResourceDesc>(d.get()) == desc;
    });
    if (it == r.descs.end() || (*it)->dev != dev) return CUDA_ERROR_INVALID_VALUE;
    sms = (*it)->sm_count;
  }
  Context* root = retain_primary(dev);  // released by cuGreenCtxDestroy
  auto g = std::make_unique<GreenCtx>();
  GreenCtx* handle = g.get();
  g->ctx = make_context(dev, 0, false, handle, root, sms);
  {
    std::lock_guard lk(r.m);
    r.greens.push_back(std::move(g));
  }
  *ph = reinterpret_cast<CUgreenCtx>(handle);
  return CUDA_SUCCESS;
}

CUresult green_destroy(CUgreenCtx h) {
  Context* c = nullptr;
  if (CUresult e = find_green(h, c); e != CUDA_SUCCESS) return e;
  destroy_context(*c);
  if (current_ctx() == c) --t_state.depth;  // as cuCtxDestroy does
  Registry& r = reg();
  std::lock_guard lk(r.m);
  if (int& refs = r.primary_refs[static_cast<size_t>(c->dev)]; refs > 0) --refs;
  return CUDA_SUCCESS;
}

// Records ev after everything enqueued on the green context so far, on the
// context's marker stream (so none of its streams is held up by the record).
CUresult green_record(CUgreenCtx h, CUevent e) {
  Context* c = nullptr;
  if (CUresult err = find_green(h, c); err != CUDA_SUCCESS) return err;
  std::shared_ptr<Event> ev;
  if (CUresult err = find_event(e, ev); err != CUDA_SUCCESS) return err;
  // The event must come from the same primary context: its own or one of its green contexts'.
  const Context* event_root = ev->ctx->green != nullptr ? ev->ctx->root : ev->ctx;
  if (event_root != c->root) return CUDA_ERROR_INVALID_HANDLE;
  std::vector<Dep> deps;
  std::shared_ptr<Stream> marker;
  {
    std::lock_guard lk(c->m);
    if (!c->marker) {
      c->marker = make_stream(c, Kind::User, CU_STREAM_NON_BLOCKING, 0);
      c->streams.push_back(c->marker);
    }
    marker = c->marker;
    add_pending(deps, c->legacy);
    for (const auto& t : c->streams)
      if (t != marker) add_pending(deps, t);
  }
  return record_on(*ev, marker, std::move(deps));
}

// Every operation enqueued on the green context from now on waits for the
// event's latest record, made before this call.
CUresult green_wait(CUgreenCtx h, CUevent e) {
  Context* c = nullptr;
  if (CUresult err = find_green(h, c); err != CUDA_SUCCESS) return err;
  std::shared_ptr<Event> ev;
  if (CUresult err = find_event(e, ev); err != CUDA_SUCCESS) return err;
  if (auto rec = last_record(*ev)) {
    std::lock_guard lk(c->m);
    c->waits.push_back({rec->s, rec->seq});
  }
  return CUDA_SUCCESS;
}

}  // namespace

}  // namespace fake_cuda

using namespace fake_cuda;  // the driver's internals, for the entry points below

// A green-context call: refused with CUDA_ERROR_NOT_SUPPORTED, as by a driver
// older than CUDA 12.4, while a test has switched green contexts off.
#define FAKE_ENTRY_GREEN()                                                \
  do {                                                                    \
    FAKE_ENTRY_INIT();                                                    \
    if (!reg().green_supported.load()) return CUDA_ERROR_NOT_SUPPORTED;   \
  } while (0)

FAKE_EXPORT CUresult CUDAAPI cuDeviceGetDevResource(CUdevice device, CUdevResource* resource, CUdevResourceType type) {
  FAKE_ENTRY_GREEN();
  if (!valid_device(device)) return CUDA_ERROR_INVALID_DEVICE;
  if (resource == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (type != CU_DEV_RESOURCE_TYPE_SM) return CUDA_ERROR_INVALID_RESOURCE_TYPE;
  const unsigned n = reg().sm_count.load();
  *resource = sm_resource(device, n, sm_alignment(n), 0, 0);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuCtxGetDevResource(CUcontext hCtx, CUdevResource* resource, CUdevResourceType type) {
  FAKE_ENTRY_GREEN();
  auto* c = reinterpret_cast<Context*>(hCtx);
  if (c == nullptr) {
    if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  } else if (!known_ctx(c)) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  return ctx_resource(*c, resource, type);
}

FAKE_EXPORT CUresult CUDAAPI cuGreenCtxGetDevResource(CUgreenCtx hCtx, CUdevResource* resource,
                                                      CUdevResourceType type) {
  FAKE_ENTRY_GREEN();
  Context* c = nullptr;
  if (CUresult e = find_green(hCtx, c); e != CUDA_SUCCESS) return e;
  return ctx_resource(*c, resource, type);
}

FAKE_EXPORT CUresult CUDAAPI cuDevSmResourceSplitByCount(CUdevResource* result, unsigned int* nbGroups,
                                                         const CUdevResource* input, CUdevResource* remaining,
                                                         unsigned int useFlags, unsigned int minCount) {
  FAKE_ENTRY_GREEN();
  return sm_split(result, nbGroups, input, remaining, useFlags, minCount);
}

FAKE_EXPORT CUresult CUDAAPI cuDevResourceGenerateDesc(CUdevResourceDesc* phDesc, CUdevResource* resources,
                                                       unsigned int nbResources) {
  FAKE_ENTRY_GREEN();
  return generate_desc(phDesc, resources, nbResources);
}

FAKE_EXPORT CUresult CUDAAPI cuGreenCtxCreate(CUgreenCtx* phCtx, CUdevResourceDesc desc, CUdevice dev,
                                              unsigned int flags) {
  FAKE_ENTRY_GREEN();
  return green_create(phCtx, desc, dev, flags);
}

FAKE_EXPORT CUresult CUDAAPI cuGreenCtxDestroy(CUgreenCtx hCtx) {
  FAKE_ENTRY_GREEN();
  return green_destroy(hCtx);
}

FAKE_EXPORT CUresult CUDAAPI cuCtxFromGreenCtx(CUcontext* pContext, CUgreenCtx hCtx) {
  FAKE_ENTRY_GREEN();
  if (pContext == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = find_green(hCtx, c); e != CUDA_SUCCESS) return e;
  *pContext = reinterpret_cast<CUcontext>(c);
  return CUDA_SUCCESS;
}

// The same id as cuCtxGetId of the green context's CUcontext.
FAKE_EXPORT CUresult CUDAAPI cuGreenCtxGetId(CUgreenCtx greenCtx, unsigned long long* greenCtxId) {
  FAKE_ENTRY_GREEN();
  if (greenCtxId == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (greenCtx == nullptr) {  // the current context, if it is a green one
    c = current_ctx();
    if (c == nullptr || c->green == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
    if (!c->alive.load()) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  } else if (CUresult e = find_green(greenCtx, c); e != CUDA_SUCCESS) {
    return e;
  }
  *greenCtxId = c->id;
  return CUDA_SUCCESS;
}

// Ignores the current context; the stream never synchronises with a legacy stream.
FAKE_EXPORT CUresult CUDAAPI cuGreenCtxStreamCreate(CUstream* phStream, CUgreenCtx greenCtx, unsigned int flags,
                                                    int priority) {
  FAKE_ENTRY_GREEN();
  if (phStream == nullptr || flags != CU_STREAM_NON_BLOCKING) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = find_green(greenCtx, c); e != CUDA_SUCCESS) return e;
  *phStream = add_user_stream(c, flags, priority);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuGreenCtxRecordEvent(CUgreenCtx hCtx, CUevent hEvent) {
  FAKE_ENTRY_GREEN();
  return green_record(hCtx, hEvent);
}

FAKE_EXPORT CUresult CUDAAPI cuGreenCtxWaitEvent(CUgreenCtx hCtx, CUevent hEvent) {
  FAKE_ENTRY_GREEN();
  return green_wait(hCtx, hEvent);
}

FAKE_EXPORT CUresult CUDAAPI cuStreamGetGreenCtx(CUstream hStream, CUgreenCtx* phCtx) {
  FAKE_ENTRY_GREEN();
  if (phCtx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return with_stream(hStream, false, [&](Stream& s) { *phCtx = reinterpret_cast<CUgreenCtx>(s.ctx->green); });
}

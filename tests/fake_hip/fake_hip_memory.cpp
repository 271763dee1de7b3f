// Memory: every kind is host memory. Allocations (hipMalloc: "device" memory;
// hipHostMalloc and hipHostRegister: host memory the device can reach) are
// kept in one map by start address; copies and memsets run on stream workers.

#include "fake_hip_internal.h"

#include <cstdlib>
#include <cstring>

namespace fake_hip {

namespace {

constexpr size_t kAlign = 256;

// Under alloc_m: the allocation holding [p, p + n), or end().
std::map<std::uintptr_t, Alloc>::iterator containing(Registry& r, const void* p, size_t n) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  auto it = r.allocs.upper_bound(a);
  if (it == r.allocs.begin()) return r.allocs.end();
  --it;
  if (a - it->first >= it->second.size || n > it->second.size - (a - it->first)) return r.allocs.end();
  return it;
}

bool host_visible(AllocKind k) { return k == AllocKind::HostMalloc || k == AllocKind::Registered; }

hipError_t allocate(void** ptr, size_t size, AllocKind kind, unsigned flags) {
  if (ptr == nullptr) return hipErrorInvalidValue;
  if (size == 0) {
    *ptr = nullptr;
    return hipSuccess;
  }
  if (size > SIZE_MAX - kAlign) return hipErrorOutOfMemory;
  void* p = std::aligned_alloc(kAlign, (size + kAlign - 1) / kAlign * kAlign);
  if (p == nullptr) return hipErrorOutOfMemory;
  Registry& r = reg();
  {
    std::lock_guard lk(r.alloc_m);
    r.allocs[reinterpret_cast<std::uintptr_t>(p)] = Alloc{size, kind, current_device(), flags};
  }
  *ptr = p;
  return hipSuccess;
}

// Forgets the allocation that starts at ptr, of kind `kind`, after every
// stream has finished the work enqueued before the call (the real runtime
// synchronises the device). free_it: also release the memory.
hipError_t release(void* ptr, AllocKind kind, hipError_t unknown, bool free_it) {
  Registry& r = reg();
  const auto a = reinterpret_cast<std::uintptr_t>(ptr);
  auto known = [&] {
    auto it = r.allocs.find(a);
    return it != r.allocs.end() && it->second.kind == kind ? it : r.allocs.end();
  };
  {
    std::lock_guard lk(r.alloc_m);
    if (known() == r.allocs.end()) return unknown;
  }
  sync_streams(-1);
  {
    std::lock_guard lk(r.alloc_m);
    auto it = known();
    if (it == r.allocs.end()) return unknown;  // released meanwhile by another thread
    r.allocs.erase(it);
  }
  if (free_it) std::free(ptr);
  return hipSuccess;
}

// Runs fn on the current device's null stream and waits for it.
hipError_t run_sync(std::function<void()> fn) {
  std::shared_ptr<Stream> s;
  if (hipError_t e = resolve(nullptr, s); e != hipSuccess) return e;
  Op op;
  op.run = std::move(fn);
  u64 seq = 0;
  if (hipError_t e = enqueue(*s, std::move(op), &seq); e != hipSuccess) return e;
  wait_seq(*s, seq);
  return hipSuccess;
}

hipError_t check_copy(void* dst, const void* src, size_t n, hipMemcpyKind kind) {
  const int k = static_cast<int>(kind);
  if (k < hipMemcpyHostToHost || k > hipMemcpyDefault) return hipErrorInvalidMemcpyDirection;
  if (n != 0 && (dst == nullptr || src == nullptr)) return hipErrorInvalidValue;
  return hipSuccess;
}

}  // namespace

}  // namespace fake_hip

using namespace fake_hip;  // the runtime's internals, for the entry points below

// ---- allocations ----

FAKE_HIP_EXPORT hipError_t hipMalloc(void** ptr, size_t size) {
  return allocate(ptr, size, AllocKind::Device, 0);
}

FAKE_HIP_EXPORT hipError_t hipFree(void* ptr) {
  if (ptr == nullptr) return hipSuccess;
  return release(ptr, AllocKind::Device, hipErrorInvalidValue, true);
}

FAKE_HIP_EXPORT hipError_t hipHostMalloc(void** ptr, size_t size, unsigned int flags) {
  constexpr unsigned kAll = hipHostMallocPortable | hipHostMallocMapped | hipHostMallocWriteCombined |
                            hipHostMallocNumaUser | hipHostMallocCoherent | hipHostMallocNonCoherent;
  if ((flags & ~kAll) != 0) return hipErrorInvalidValue;
  if ((flags & hipHostMallocCoherent) != 0 && (flags & hipHostMallocNonCoherent) != 0) return hipErrorInvalidValue;
  return allocate(ptr, size, AllocKind::HostMalloc, flags);
}

FAKE_HIP_EXPORT hipError_t hipHostFree(void* ptr) {
  if (ptr == nullptr) return hipSuccess;
  return release(ptr, AllocKind::HostMalloc, hipErrorInvalidValue, true);
}

FAKE_HIP_EXPORT hipError_t hipHostRegister(void* hostPtr, size_t sizeBytes, unsigned int flags) {
  constexpr unsigned kAll = hipHostRegisterPortable | hipHostRegisterMapped | hipHostRegisterIoMemory;
  if (hostPtr == nullptr || sizeBytes == 0 || (flags & ~kAll) != 0) return hipErrorInvalidValue;
  const auto a = reinterpret_cast<std::uintptr_t>(hostPtr);
  if (sizeBytes > UINTPTR_MAX - a) return hipErrorInvalidValue;
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  // Overlaps an allocation starting at or before it, or one starting inside it.
  if (containing(r, hostPtr, 1) != r.allocs.end()) return hipErrorHostMemoryAlreadyRegistered;
  auto next = r.allocs.upper_bound(a);
  if (next != r.allocs.end() && next->first < a + sizeBytes) return hipErrorHostMemoryAlreadyRegistered;
  r.allocs[a] = Alloc{sizeBytes, AllocKind::Registered, current_device(), flags};
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipHostUnregister(void* hostPtr) {
  if (hostPtr == nullptr) return hipErrorInvalidValue;
  return release(hostPtr, AllocKind::Registered, hipErrorHostMemoryNotRegistered, false);
}

// The device address of host memory the device can reach: the same address.
FAKE_HIP_EXPORT hipError_t hipHostGetDevicePointer(void** devPtr, void* hstPtr, unsigned int flags) {
  if (devPtr == nullptr || hstPtr == nullptr || flags != 0) return hipErrorInvalidValue;
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  auto it = containing(r, hstPtr, 1);
  if (it == r.allocs.end() || !host_visible(it->second.kind)) return hipErrorInvalidValue;
  *devPtr = hstPtr;
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipPointerGetAttributes(hipPointerAttribute_t* attributes, const void* ptr) {
  if (attributes == nullptr || ptr == nullptr) return hipErrorInvalidValue;
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  auto it = containing(r, ptr, 1);
  if (it == r.allocs.end()) return hipErrorInvalidValue;
  const Alloc& a = it->second;
  void* p = const_cast<void*>(ptr);
  *attributes = hipPointerAttribute_t{};
  attributes->device = a.device;
  attributes->devicePointer = p;
  attributes->isManaged = 0;
  attributes->allocationFlags = a.flags;
  if (a.kind == AllocKind::Device) {
    attributes->memoryType = hipMemoryTypeDevice;
    attributes->hostPointer = nullptr;
  } else {
    attributes->memoryType = hipMemoryTypeHost;
    attributes->hostPointer = p;
  }
  return hipSuccess;
}

// ---- copies and memsets ----

FAKE_HIP_EXPORT hipError_t hipMemcpyAsync(void* dst, const void* src, size_t sizeBytes, hipMemcpyKind kind,
                                          hipStream_t stream) {
  if (hipError_t e = check_copy(dst, src, sizeBytes, kind); e != hipSuccess) return e;
  return enqueue_fn(stream, [dst, src, sizeBytes] {
    if (sizeBytes != 0) std::memmove(dst, src, sizeBytes);
  });
}

FAKE_HIP_EXPORT hipError_t hipMemsetAsync(void* dst, int value, size_t sizeBytes, hipStream_t stream) {
  if (dst == nullptr && sizeBytes != 0) return hipErrorInvalidValue;
  return enqueue_fn(stream, [dst, value, sizeBytes] {
    if (sizeBytes != 0) std::memset(dst, value, sizeBytes);
  });
}

// Synchronous: after the null stream's earlier work, and done on return.
FAKE_HIP_EXPORT hipError_t hipMemcpy(void* dst, const void* src, size_t sizeBytes, hipMemcpyKind kind) {
  if (hipError_t e = check_copy(dst, src, sizeBytes, kind); e != hipSuccess) return e;
  return run_sync([dst, src, sizeBytes] {
    if (sizeBytes != 0) std::memmove(dst, src, sizeBytes);
  });
}

FAKE_HIP_EXPORT hipError_t hipMemset(void* dst, int value, size_t sizeBytes) {
  if (dst == nullptr && sizeBytes != 0) return hipErrorInvalidValue;
  return run_sync([dst, value, sizeBytes] {
    if (sizeBytes != 0) std::memset(dst, value, sizeBytes);
  });
}

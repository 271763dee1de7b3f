// Memory (host memory, all of it): allocations, frees that wait for the work
// that may use them, and copies and memsets with CUDA's "API synchronisation
// behaviour".

#include "fake_cuda_internal.h"

#include <algorithm>
#include <cstdlib>

namespace fake_cuda {

constexpr size_t kAllocAlign = 256;

namespace {

// The allocation that holds [p, p + n), or null.
Alloc* find_alloc(Registry& r, uintptr_t p, size_t n, uintptr_t* base = nullptr) {
  auto it = r.allocs.upper_bound(p);
  if (it == r.allocs.begin()) return nullptr;
  --it;
  const uintptr_t off = p - it->first;
  if (off >= it->second.size || n > it->second.size - off) return nullptr;  // p itself must be inside
  if (base != nullptr) *base = it->first;
  return &it->second;
}

bool is_device(uintptr_t p) {
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  const Alloc* a = find_alloc(r, p, 0);
  return a != nullptr && a->kind == AllocKind::Device;
}

// Ordinary host memory: neither device memory nor pinned or registered.
bool is_pageable(uintptr_t p) {
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  return find_alloc(r, p, 0) == nullptr;
}

void* alloc_block(size_t n) {
  const size_t rounded = (n + kAllocAlign - 1) / kAllocAlign * kAllocAlign;
  void* p = std::aligned_alloc(kAllocAlign, rounded);
  if (p != nullptr) std::memset(p, 0xA5, rounded);  // device memory is not zeroed
  return p;
}

CUresult mem_alloc(CUdeviceptr* dptr, size_t n, Context* c, AllocKind kind) {
  if (n == 0) return CUDA_ERROR_INVALID_VALUE;
  Registry& r = reg();
  if (kind == AllocKind::Device && n > kTotalMemory) return CUDA_ERROR_OUT_OF_MEMORY;
  void* p = alloc_block(n);
  if (p == nullptr) return CUDA_ERROR_OUT_OF_MEMORY;
  std::lock_guard lk(r.alloc_m);
  r.allocs[reinterpret_cast<uintptr_t>(p)] = Alloc{n, c, kind, false};
  if (kind == AllocKind::Device) r.device_bytes += n;
  *dptr = reinterpret_cast<CUdeviceptr>(p);
  return CUDA_SUCCESS;
}

// Claims the allocation that starts at p for freeing; returns its context.
CUresult claim_free(uintptr_t p, AllocKind kind, Context*& ctx) {
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  auto it = r.allocs.find(p);
  if (it == r.allocs.end() || it->second.kind != kind || it->second.freeing) return CUDA_ERROR_INVALID_VALUE;
  it->second.freeing = true;
  ctx = it->second.ctx;
  return CUDA_SUCCESS;
}

void finish_free(uintptr_t p) {
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  auto it = r.allocs.find(p);
  if (it == r.allocs.end()) return;
  if (it->second.kind == AllocKind::Device) r.device_bytes -= it->second.size;
  if (it->second.kind != AllocKind::HostRegistered) std::free(reinterpret_cast<void*>(p));
  r.allocs.erase(it);
}

CUresult mem_free_sync(CUdeviceptr p, AllocKind kind) {
  Context* c = nullptr;
  if (CUresult e = claim_free(static_cast<uintptr_t>(p), kind, c); e != CUDA_SUCCESS) return e;
  sync_memory_users(*c);  // like the real driver: the memory may be in use by queued work
  finish_free(static_cast<uintptr_t>(p));
  return CUDA_SUCCESS;
}

// A copy or memset as a stream operation; wait: return only when it is done.
CUresult submit_and_maybe_wait(const std::shared_ptr<Stream>& s, Op op, bool wait) {
  u64 seq = 0;
  if (CUresult e = enqueue(s, std::move(op), &seq); e != CUDA_SUCCESS) return e;
  if (wait) wait_seq(*s, seq);
  return CUDA_SUCCESS;
}

Op copy_op(const char* name, void* dst, const void* src, size_t n) {
  Op op;
  op.op = FAKE_OP_MEMCPY;
  op.name = name;
  op.bytes = n;
  op.run = [dst, src, n] {
    if (n != 0) std::memmove(dst, src, n);
  };
  return op;
}

enum class CopyDir { HtoD, DtoH, DtoD, Any };

CUresult memcpy_common(CopyDir dir, uintptr_t dst, uintptr_t src, size_t n, CUstream h, bool async, bool per_thread) {
  if (n != 0 && (dst == 0 || src == 0)) return CUDA_ERROR_INVALID_VALUE;
  if (n != 0 && (dir == CopyDir::HtoD || dir == CopyDir::DtoD) && !valid_dptr(dst, n)) return CUDA_ERROR_INVALID_VALUE;
  if (n != 0 && (dir == CopyDir::DtoH || dir == CopyDir::DtoD) && !valid_dptr(src, n)) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(async ? h : nullptr, per_thread, s); e != CUDA_SUCCESS) return e;
  static constexpr const char* kNames[] = {"memcpy_htod", "memcpy_dtoh", "memcpy_dtod", "memcpy"};
  const char* name = kNames[static_cast<int>(dir)];
  bool wait = false;
  if (!async) {
    // Synchronous copies: device to device is asynchronous to the host; every
    // copy that involves host memory (pinned included) returns when it is done.
    wait = !(is_device(dst) && is_device(src));
  } else if (n != 0 && is_pageable(dst)) {
    // Asynchronous copies into pageable memory are synchronous, as the real driver's are.
    wait = true;
  } else if (n != 0 && is_pageable(src)) {
    // From pageable memory the real driver stages the data before it returns:
    // the caller may reuse its buffer at once. Snapshot it.
    auto staged = std::make_shared<std::vector<unsigned char>>(reinterpret_cast<const unsigned char*>(src),
                                                                reinterpret_cast<const unsigned char*>(src) + n);
    Op op;
    op.op = FAKE_OP_MEMCPY;
    op.name = name;
    op.bytes = n;
    void* d = reinterpret_cast<void*>(dst);
    op.run = [d, staged] { std::memcpy(d, staged->data(), staged->size()); };
    return submit_and_maybe_wait(s, std::move(op), false);
  }
  return submit_and_maybe_wait(s, copy_op(name, reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n),
                               wait);
}

template <class T>
CUresult memset_common(CUdeviceptr dst, T value, size_t count, CUstream h, bool async, bool per_thread) {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4);
  if (dst % sizeof(T) != 0) return CUDA_ERROR_INVALID_VALUE;
  if (count > SIZE_MAX / sizeof(T)) return CUDA_ERROR_INVALID_VALUE;
  const size_t bytes = count * sizeof(T);
  if (count != 0 && !valid_dptr(dst, bytes)) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(async ? h : nullptr, per_thread, s); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_MEMSET;
  op.name = sizeof(T) == 1 ? "memset_d8" : sizeof(T) == 2 ? "memset_d16" : "memset_d32";
  op.value = static_cast<long long>(value);
  op.bytes = bytes;
  T* p = reinterpret_cast<T*>(dst);
  op.run = [p, value, count] { std::fill(p, p + count, value); };
  // A synchronous memset is asynchronous to the host unless it targets host memory.
  const bool wait = !async && count != 0 && !is_device(static_cast<uintptr_t>(dst));
  return submit_and_maybe_wait(s, std::move(op), wait);
}

CUresult mem_alloc_async(CUdeviceptr* dptr, size_t n, CUstream h, bool ptsz) {
  if (dptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  if (CUresult e = mem_alloc(dptr, n, s->ctx, AllocKind::Device); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_MEM_ALLOC;
  op.name = "mem_alloc_async";
  op.bytes = n;
  if (CUresult e = enqueue(s, std::move(op)); e != CUDA_SUCCESS) {
    finish_free(static_cast<uintptr_t>(*dptr));
    *dptr = 0;
    return e;
  }
  return CUDA_SUCCESS;
}

CUresult mem_free_async(CUdeviceptr p, CUstream h, bool ptsz) {
  std::shared_ptr<Stream> s;
  if (CUresult e = resolve(h, ptsz, s); e != CUDA_SUCCESS) return e;
  Context* c = nullptr;
  if (CUresult e = claim_free(static_cast<uintptr_t>(p), AllocKind::Device, c); e != CUDA_SUCCESS) return e;
  Op op;
  op.op = FAKE_OP_MEM_FREE;
  op.name = "mem_free_async";
  const auto up = static_cast<uintptr_t>(p);
  op.run = [up] { finish_free(up); };
  if (CUresult e = enqueue(s, std::move(op)); e != CUDA_SUCCESS) {
    std::lock_guard lk(reg().alloc_m);
    if (Alloc* a = find_alloc(reg(), up, 0)) a->freeing = false;
    return e;
  }
  return CUDA_SUCCESS;
}

CUresult host_alloc(void** pp, size_t bytesize, unsigned flags) {
  if (pp == nullptr || (flags & ~0x7u) != 0) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  CUdeviceptr p = 0;
  if (CUresult e = mem_alloc(&p, bytesize, c, AllocKind::HostPinned); e != CUDA_SUCCESS) return e;
  *pp = reinterpret_cast<void*>(p);
  return CUDA_SUCCESS;
}

}  // namespace

bool valid_dptr(CUdeviceptr p, size_t n) {
  if (p == 0) return false;
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  const Alloc* a = find_alloc(r, static_cast<uintptr_t>(p), n);
  return a != nullptr && !a->freeing;
}

}  // namespace fake_cuda

using namespace fake_cuda;  // the driver's internals, for the entry points below

FAKE_EXPORT CUresult CUDAAPI cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytesize) {
  FAKE_ENTRY_INIT();
  if (dptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  return mem_alloc(dptr, bytesize, c, AllocKind::Device);
}

FAKE_EXPORT CUresult CUDAAPI cuMemFree_v2(CUdeviceptr dptr) {
  FAKE_ENTRY_INIT();
  if (dptr == 0) return CUDA_SUCCESS;
  return mem_free_sync(dptr, AllocKind::Device);
}

FAKE_EXPORT CUresult CUDAAPI cuMemGetInfo_v2(size_t* free, size_t* total) {
  FAKE_ENTRY_INIT();
  if (free == nullptr || total == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  *total = kTotalMemory;
  *free = kTotalMemory - std::min(kTotalMemory, r.device_bytes);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuMemAllocHost_v2(void** pp, size_t bytesize) FAKE_BODY(host_alloc(pp, bytesize, 0))
FAKE_EXPORT CUresult CUDAAPI cuMemHostAlloc(void** pp, size_t bytesize, unsigned int Flags)
    FAKE_BODY(host_alloc(pp, bytesize, Flags))

FAKE_EXPORT CUresult CUDAAPI cuMemFreeHost(void* p) {
  FAKE_ENTRY_INIT();
  return mem_free_sync(reinterpret_cast<CUdeviceptr>(p), AllocKind::HostPinned);
}

FAKE_EXPORT CUresult CUDAAPI cuMemHostGetDevicePointer_v2(CUdeviceptr* pdptr, void* p, unsigned int Flags) {
  FAKE_ENTRY_INIT();
  if (pdptr == nullptr || p == nullptr || Flags != 0) return CUDA_ERROR_INVALID_VALUE;
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  const Alloc* a = find_alloc(r, reinterpret_cast<uintptr_t>(p), 0);
  if (a == nullptr || a->kind == AllocKind::Device || a->freeing) return CUDA_ERROR_INVALID_VALUE;
  *pdptr = reinterpret_cast<CUdeviceptr>(p);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuMemHostRegister_v2(void* p, size_t bytesize, unsigned int Flags) {
  FAKE_ENTRY_INIT();
  if (p == nullptr || bytesize == 0 || (Flags & ~0xFu) != 0) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  const auto base = reinterpret_cast<uintptr_t>(p);
  auto next = r.allocs.lower_bound(base);
  if (next != r.allocs.end() && next->first < base + bytesize) return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
  if (find_alloc(r, base, 1) != nullptr) return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
  r.allocs[base] = Alloc{bytesize, c, AllocKind::HostRegistered, false};
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuMemHostUnregister(void* p) {
  FAKE_ENTRY_INIT();
  Context* c = nullptr;
  if (claim_free(reinterpret_cast<uintptr_t>(p), AllocKind::HostRegistered, c) != CUDA_SUCCESS)
    return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
  sync_memory_users(*c);
  finish_free(reinterpret_cast<uintptr_t>(p));
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuMemAllocAsync(CUdeviceptr* dptr, size_t bytesize, CUstream hStream)
    FAKE_BODY(mem_alloc_async(dptr, bytesize, hStream, false))
FAKE_EXPORT CUresult CUDAAPI cuMemAllocAsync_ptsz(CUdeviceptr* dptr, size_t bytesize, CUstream hStream)
    FAKE_BODY(mem_alloc_async(dptr, bytesize, hStream, true))
FAKE_EXPORT CUresult CUDAAPI cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
    FAKE_BODY(mem_free_async(dptr, hStream, false))
FAKE_EXPORT CUresult CUDAAPI cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
    FAKE_BODY(mem_free_async(dptr, hStream, true))

// Synchronous copies: on the legacy stream, or the per-thread stream (_ptds).
FAKE_EXPORT CUresult CUDAAPI cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::Any, dst, src, ByteCount, nullptr, false, false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::Any, dst, src, ByteCount, nullptr, false, true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::HtoD, dstDevice, reinterpret_cast<uintptr_t>(srcHost), ByteCount, nullptr, false,
                            false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::HtoD, dstDevice, reinterpret_cast<uintptr_t>(srcHost), ByteCount, nullptr, false,
                            true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoH_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::DtoH, reinterpret_cast<uintptr_t>(dstHost), srcDevice, ByteCount, nullptr, false,
                            false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoH_v2_ptds(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::DtoH, reinterpret_cast<uintptr_t>(dstHost), srcDevice, ByteCount, nullptr, false,
                            true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::DtoD, dstDevice, srcDevice, ByteCount, nullptr, false, false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoD_v2_ptds(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
    FAKE_BODY(memcpy_common(CopyDir::DtoD, dstDevice, srcDevice, ByteCount, nullptr, false, true))

// Asynchronous copies.
FAKE_EXPORT CUresult CUDAAPI cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::Any, dst, src, ByteCount, hStream, true, false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::Any, dst, src, ByteCount, hStream, true, true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount,
                                                  CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::HtoD, dstDevice, reinterpret_cast<uintptr_t>(srcHost), ByteCount, hStream, true,
                            false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount,
                                                       CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::HtoD, dstDevice, reinterpret_cast<uintptr_t>(srcHost), ByteCount, hStream, true,
                            true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoHAsync_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                                  CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::DtoH, reinterpret_cast<uintptr_t>(dstHost), srcDevice, ByteCount, hStream, true,
                            false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoHAsync_v2_ptsz(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                                       CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::DtoH, reinterpret_cast<uintptr_t>(dstHost), srcDevice, ByteCount, hStream, true,
                            true))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                                  CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::DtoD, dstDevice, srcDevice, ByteCount, hStream, true, false))
FAKE_EXPORT CUresult CUDAAPI cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                                       CUstream hStream)
    FAKE_BODY(memcpy_common(CopyDir::DtoD, dstDevice, srcDevice, ByteCount, hStream, true, true))

// Memsets.
#define FAKE_MEMSET(bits, T)                                                                                       \
  FAKE_EXPORT CUresult CUDAAPI cuMemsetD##bits##_v2(CUdeviceptr dstDevice, T value, size_t N)                        \
      FAKE_BODY(memset_common<T>(dstDevice, value, N, nullptr, false, false))                                      \
  FAKE_EXPORT CUresult CUDAAPI cuMemsetD##bits##_v2_ptds(CUdeviceptr dstDevice, T value, size_t N)                   \
      FAKE_BODY(memset_common<T>(dstDevice, value, N, nullptr, false, true))                                       \
  FAKE_EXPORT CUresult CUDAAPI cuMemsetD##bits##Async(CUdeviceptr dstDevice, T value, size_t N, CUstream hStream)    \
      FAKE_BODY(memset_common<T>(dstDevice, value, N, hStream, true, false))                                       \
  FAKE_EXPORT CUresult CUDAAPI cuMemsetD##bits##Async_ptsz(CUdeviceptr dstDevice, T value, size_t N, CUstream hStream) \
      FAKE_BODY(memset_common<T>(dstDevice, value, N, hStream, true, true))

FAKE_MEMSET(8, unsigned char)
FAKE_MEMSET(16, unsigned short)
FAKE_MEMSET(32, unsigned int)
#undef FAKE_MEMSET

// Fake kernels for the fake CUDA driver (libfake_cuda.so).
//
// A CUfunction handed to the fake driver is a `FakeKernel*` cast: the driver
// copies the launch arguments at launch time, exactly as the real driver does
// (each param_size[i] bytes from kernelParams[i], or the `extra` buffer laid
// out at the offsets cuFuncGetParamInfo reports), and the stream's worker
// thread later calls `fn` with pointers to those copies.
//
// Parameter layout (what cuFuncGetParamInfo reports and what an `extra`
// buffer must follow): parameter i sits at the first offset after parameter
// i-1 that is a multiple of its alignment; the alignment is param_align[i], or
// when that is 0 the largest power of two that divides param_size[i], at most 8.
#pragma once

#include <cuda.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <thread>

// What a running fake kernel knows about its launch.
struct FakeLaunch {
  unsigned grid[3];
  unsigned block[3];
  unsigned shared_mem_bytes;
  unsigned long long stream_id;  // cuStreamGetId of the stream it runs on
  CUcontext ctx;                 // the stream's context
};

enum { FAKE_KERNEL_MAX_PARAMS = 16 };

struct FakeKernel {
  void (*fn)(void* const* params, const FakeLaunch& launch);
  unsigned num_params;                           // at most FAKE_KERNEL_MAX_PARAMS
  size_t param_size[FAKE_KERNEL_MAX_PARAMS];     // bytes of each parameter
  const char* name;                              // cuFuncGetName and the op log (optional)
  int log_param;                                 // index of an integer parameter (1, 2, 4 or 8 bytes)
                                                 // whose value the op log records; -1: none
  size_t param_align[FAKE_KERNEL_MAX_PARAMS];    // 0: natural alignment (see above)
};

// The CUfunction for a FakeKernel (which must outlive every launch of it).
inline CUfunction fake_kernel_function(const FakeKernel* k) {
  return reinterpret_cast<CUfunction>(const_cast<FakeKernel*>(k));
}

// Reads parameter i of type T from the copies a kernel receives.
template <class T>
inline T fake_param(void* const* params, unsigned i) {
  T v;
  std::memcpy(&v, params[i], sizeof v);
  return v;
}

// A by-value argument of 40 bytes, alignment 8.
struct FakeStruct40 {
  long long a;
  int b[8];
};
static_assert(sizeof(FakeStruct40) == 40, "FakeStruct40 must be 40 bytes");

namespace fake_kernel_detail {

inline void add(void* const* p, const FakeLaunch&) {
  int* dst = fake_param<int*>(p, 0);
  *dst += fake_param<int>(p, 1);
}

inline void store(void* const* p, const FakeLaunch&) {
  int* dst = fake_param<int*>(p, 1);
  *dst = fake_param<int>(p, 0);
}

inline void sleep_us(void* const* p, const FakeLaunch&) {
  const unsigned us = fake_param<unsigned>(p, 0);
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  if (us > 300) std::this_thread::sleep_until(end - std::chrono::microseconds(200));
  while (std::chrono::steady_clock::now() < end) {
  }
}

inline void append(void* const* p, const FakeLaunch&) {
  int* log = fake_param<int*>(p, 0);
  int* cursor = fake_param<int*>(p, 1);
  log[(*cursor)++] = fake_param<int>(p, 2);
}

inline void copy_struct(void* const* p, const FakeLaunch&) {
  // The 40 bytes of the argument as this kernel received them, into out[0..9].
  int* out = fake_param<int*>(p, 1);
  std::memcpy(out, p[0], sizeof(FakeStruct40));
}

}  // namespace fake_kernel_detail

// add(int* p, int v): *p += v. The log records v.
inline CUfunction fake_kernel_add() {
  static const FakeKernel k{&fake_kernel_detail::add, 2, {sizeof(int*), sizeof(int)}, "fake_kernel_add", 1, {}};
  return fake_kernel_function(&k);
}

// store(int v, int* p): *p = v. v comes first, so the layout has padding
// (v at 0, p at 8). The log records v.
inline CUfunction fake_kernel_store() {
  static const FakeKernel k{&fake_kernel_detail::store, 2, {sizeof(int), sizeof(int*)}, "fake_kernel_store", 0, {}};
  return fake_kernel_function(&k);
}

// sleep(unsigned microseconds): keeps its stream busy that long (sleeps, then
// spins the last 200 us). The log records the duration.
inline CUfunction fake_kernel_sleep() {
  static const FakeKernel k{&fake_kernel_detail::sleep_us, 1, {sizeof(unsigned)}, "fake_kernel_sleep", 0, {}};
  return fake_kernel_function(&k);
}

// append(int* log, int* cursor, int value): log[(*cursor)++] = value. The op
// log records value. Only for launches that are ordered with each other.
inline CUfunction fake_kernel_append() {
  static const FakeKernel k{&fake_kernel_detail::append, 3,
                            {sizeof(int*), sizeof(int*), sizeof(int)}, "fake_kernel_append", 2, {}};
  return fake_kernel_function(&k);
}

// struct(FakeStruct40 s, int* out): copies the 40 bytes of s as received to
// out[0..9] (s at offset 0, out at 40).
inline CUfunction fake_kernel_struct() {
  static const FakeKernel k{&fake_kernel_detail::copy_struct, 2,
                            {sizeof(FakeStruct40), sizeof(int*)}, "fake_kernel_struct", -1, {}};
  return fake_kernel_function(&k);
}

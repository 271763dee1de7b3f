// Fake kernels for the fake HIP runtime (libfake_hip.so).
//
// A hipFunction_t handed to the fake runtime is a `FakeHipKernel*` cast (and
// so is hipLaunchKernel's function address). Its
// arguments come as one packed buffer, the form of hipModuleLaunchKernel's
// `extra` (HIP_LAUNCH_PARAM_BUFFER_POINTER, HIP_LAUNCH_PARAM_BUFFER_SIZE,
// HIP_LAUNCH_PARAM_END); the runtime copies the buffer at launch, as the real
// one does, and the stream's worker thread later calls `fn` with the copy.
// (kernelParams, an array of pointers to each argument, is refused by the
// fake: it cannot know the arguments' sizes.)
#pragma once

#include <hip/hip_runtime_api.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <thread>

struct FakeHipKernel {
  void (*fn)(const void* args, size_t bytes);
  const char* name;
  // For hipLaunchKernel, whose `args` are pointers to each argument: the
  // fake takes the kernel's arguments as one struct of this size, args[0]
  // pointing to it (0: the kernel cannot be launched that way).
  size_t param_bytes = 0;
};

inline hipFunction_t fake_hip_function(const FakeHipKernel* k) {
  return reinterpret_cast<hipFunction_t>(const_cast<FakeHipKernel*>(k));
}

namespace fake_hip_detail {

// args: unsigned microseconds.
inline void sleep_us(const void* args, size_t bytes) {
  unsigned us = 0;
  if (bytes >= sizeof us) std::memcpy(&us, args, sizeof us);
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  if (us > 300) std::this_thread::sleep_until(end - std::chrono::microseconds(200));
  while (std::chrono::steady_clock::now() < end) {
  }
}

// args: int* log, int* cursor, int value: log[(*cursor)++] = value.
struct AppendArgs {
  int* log;
  int* cursor;
  int value;
};
inline void append(const void* args, size_t bytes) {
  AppendArgs a{};
  if (bytes < sizeof a) return;
  std::memcpy(&a, args, sizeof a);
  a.log[(*a.cursor)++] = a.value;
}

}  // namespace fake_hip_detail

// sleep(unsigned us): keeps its stream busy that long.
inline hipFunction_t fake_hip_kernel_sleep() {
  static const FakeHipKernel k{&fake_hip_detail::sleep_us, "fake_hip_kernel_sleep", sizeof(unsigned)};
  return fake_hip_function(&k);
}

// append(int* log, int* cursor, int value): log[(*cursor)++] = value (args: fake_hip_detail::AppendArgs).
inline hipFunction_t fake_hip_kernel_append() {
  static const FakeHipKernel k{&fake_hip_detail::append, "fake_hip_kernel_append", sizeof(fake_hip_detail::AppendArgs)};
  return fake_hip_function(&k);
}

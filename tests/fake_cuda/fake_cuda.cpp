// A fake CUDA driver that runs on the CPU (libfake_cuda.so), for CI tests of
// the CUDA interposer where no GPU exists. It exports the real driver's symbol
// names (CUDA 13.0) and follows CUDA's documented semantics closely enough that
// ordering bugs in an interposer show up as wrong results:
//
// - every stream (user, legacy default, per-thread default) runs its
//   operations in FIFO order on its own worker thread;
// - implicit synchronisation: an operation on a context's legacy stream waits
//   for all earlier work on the blocking streams of that context (per-thread
//   default streams included), and an operation on a blocking stream waits for
//   earlier legacy work; non-blocking streams never wait for the legacy stream;
// - events: a wait, query or synchronize uses the event's latest record made
//   before the call; an event never recorded is complete;
// - kernel arguments are copied at launch; cuMemFree and cuMemFreeHost wait
//   for every stream of the context first;
// - CUDA's "API synchronisation behaviour": synchronous copies and memsets
//   that touch host memory return when done, while cuMemcpyDtoD and memsets
//   of device memory return at once; asynchronous copies into pageable memory
//   are synchronous, and from pageable memory they stage (snapshot) the source
//   before returning; with pinned or registered memory they are asynchronous
//   and read / write it when they run;
// - green contexts (CUDA 12.4+) are contexts of their own with an SM count,
//   made from a split of the device's SMs as on compute capability 9.0; their
//   streams run like any other, and their work is logged under their own id.
// - FAKE_CUDA_DEVICES devices (1 to 8), of which CUDA_VISIBLE_DEVICES selects
//   and orders the visible ones (fake_cuda_devices.h); each has its own
//   primary context, and work of different devices may wait for each other.
//
// "Device" memory is host memory. A CUcontext, CUstream and CUevent are
// pointers to the driver's objects (fake_cuda_internal.h); a CUfunction is a
// FakeKernel* (fake_kernel.h). The test-only API (fake_cuda_*) is declared in
// fake_cuda.h.
//
// This file: initialisation and the devices. The rest, one part each:
// fake_cuda_workers.cpp (stream workers, implicit synchronisation),
// fake_cuda_contexts.cpp, fake_cuda_streams.cpp, fake_cuda_events.cpp,
// fake_cuda_memory.cpp, fake_cuda_kernels.cpp, fake_cuda_green.cpp,
// fake_cuda_entry.cpp (call bookkeeping, cuGetProcAddress),
// fake_cuda_errors.cpp, fake_cuda_test_api.cpp; fake_cuda_devices.cpp reads
// the environment that selects the devices.

#include "fake_cuda_internal.h"

#include <algorithm>
#include <string>

using namespace fake_cuda;  // the driver's internals, for the entry points below

FAKE_EXPORT CUresult CUDAAPI cuInit(unsigned int Flags) {
  FAKE_ENTRY();
  if (Flags != 0) return CUDA_ERROR_INVALID_VALUE;
  // As the real driver: with no visible device (CUDA_VISIBLE_DEVICES empty or
  // its first entry invalid) initialisation fails, and so does every call after.
  if (visible_count() == 0) return CUDA_ERROR_NO_DEVICE;
  g_initialized.store(true);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDriverGetVersion(int* driverVersion) {
  FAKE_ENTRY();
  if (driverVersion == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *driverVersion = kDriverVersion;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceGet(CUdevice* device, int ordinal) {
  FAKE_ENTRY_INIT();
  if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(ordinal)) return CUDA_ERROR_INVALID_DEVICE;
  *device = ordinal;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceGetUuid_v2(CUuuid* uuid, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (uuid == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  const fake_cuda::Uuid u = fake_cuda::physical_uuid(physical_device(dev));
  static_assert(sizeof uuid->bytes == std::tuple_size_v<fake_cuda::Uuid>);
  std::memcpy(uuid->bytes, u.data(), u.size());
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceGetCount(int* count) {
  FAKE_ENTRY_INIT();
  if (count == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *count = visible_count();
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceGetName(char* name, int len, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (name == nullptr || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  const std::string n = fake_cuda::physical_name(physical_device(dev));
  const size_t k = std::min(n.size(), static_cast<size_t>(len) - 1);
  std::memcpy(name, n.data(), k);
  name[k] = '\0';
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  *bytes = kTotalMemory;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib, CUdevice dev) {
  FAKE_ENTRY_INIT();
  if (pi == nullptr || attrib <= 0 || attrib >= CU_DEVICE_ATTRIBUTE_MAX) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
  int v = 0;
  switch (attrib) {
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: v = 64; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: v = 2147483647; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: v = 65535; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: v = 65535; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: v = 49152; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: v = 232448; break;
    case CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY: v = 65536; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: v = 32; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: v = static_cast<int>(reg().sm_count.load()); break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: v = 9; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: v = 0; break;
    case CU_DEVICE_ATTRIBUTE_CLOCK_RATE: v = 1980000; break;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT: v = 3; break;
    case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR: v = 2048; break;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK: v = 65536; break;
    default: v = 0; break;
  }
  *pi = v;
  return CUDA_SUCCESS;
}

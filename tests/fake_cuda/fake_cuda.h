// The test-only API of the fake CUDA driver (libfake_cuda.so): what tests use
// to see what the "driver" saw and ran, and in which order.
//
// Link libfake_cuda.so and call these directly, or (the usual case, where the
// fake is loaded by path as the "real" driver) fill a FakeCudaApi with
// fake_cuda_api_load() from a dlopen handle of the same file.
#pragma once

#include <cuda.h>
#include <stddef.h>

#ifndef FAKE_CUDA_API
#define FAKE_CUDA_API
#endif

// What an executed operation was (FakeCudaLogEntry::op).
enum FakeCudaOp {
  FAKE_OP_KERNEL = 1,       // value: the kernel's log_param (FakeKernel), name: its name
  FAKE_OP_MEMCPY = 2,       // bytes: the size
  FAKE_OP_MEMSET = 3,       // value: the pattern, bytes: the size
  FAKE_OP_EVENT_RECORD = 4, // value: the event's id (fake_cuda_event_id)
  FAKE_OP_EVENT_WAIT = 5,   // value: the event's id
  FAKE_OP_HOST_FUNC = 6,    // cuLaunchHostFunc and cuStreamAddCallback
  FAKE_OP_WAIT_VALUE = 7,   // value: the operand
  FAKE_OP_WRITE_VALUE = 8,  // value: the operand
  FAKE_OP_MEM_ALLOC = 9,    // cuMemAllocAsync; bytes: the size
  FAKE_OP_MEM_FREE = 10     // cuMemFreeAsync
};

// Which kind of stream ran it (FakeCudaLogEntry::stream_kind).
enum FakeCudaStreamKind {
  FAKE_STREAM_USER = 0,       // created with cuStreamCreate*
  FAKE_STREAM_LEGACY = 1,     // a context's legacy default stream
  FAKE_STREAM_PER_THREAD = 2  // a thread's per-thread default stream
};

typedef struct FakeCudaLogEntry {
  unsigned long long seq;        // 0, 1, 2... in the order operations started, since the last clear
  unsigned long long stream_id;  // cuStreamGetId of the stream that ran it
  unsigned long long ctx_id;     // cuCtxGetId of that stream's context (a green context's own id)
  int op;                        // FakeCudaOp
  int stream_kind;               // FakeCudaStreamKind
  long long value;               // see FakeCudaOp
  unsigned long long bytes;      // see FakeCudaOp
  const char* name;              // the kernel's name, else the operation's (static strings)
  unsigned long long start_ns;   // fake_cuda_now_ns() when it started
  unsigned long long end_ns;     // ... when it finished; 0 while it runs
} FakeCudaLogEntry;

#ifdef __cplusplus
extern "C" {
#endif

// The operation log: every stream operation as it executes, in start order.
// Copies up to `capacity` entries (oldest first) and returns how many there are.
FAKE_CUDA_API size_t fake_cuda_log_read(FakeCudaLogEntry* out, size_t capacity);
// Empties the operation log (operations running now are not recorded further).
FAKE_CUDA_API void fake_cuda_log_clear(void);
// Kernel launches accepted (cuLaunchKernel*, all flavours) since the last reset.
FAKE_CUDA_API unsigned long long fake_cuda_launch_count(void);
// Calls of the exported driver function `name` ("cuLaunchKernel_ptsz") since the last reset.
FAKE_CUDA_API unsigned long long fake_cuda_call_count(const char* name);
// The driver functions called, in call order, since the last reset (at most 2^20 kept):
// copies up to `capacity` names (static strings) and returns how many there are.
FAKE_CUDA_API size_t fake_cuda_calls_read(const char** out, size_t capacity);
// Zeroes the launch count, the call counts and the call list.
FAKE_CUDA_API void fake_cuda_reset_counters(void);
// Makes every kernel launch call sleep this long before it returns (0: off).
FAKE_CUDA_API void fake_cuda_set_launch_delay_us(unsigned microseconds);
// Makes kernel f lazy, as with CUDA_MODULE_LOADING=LAZY: cuFuncIsLoaded says
// unloaded until cuFuncLoad or its first launch loads it, which first waits
// for everything enqueued on the current context's streams (as the real
// driver's loading does).
FAKE_CUDA_API void fake_cuda_set_unloaded(CUfunction f);
// Makes the next `count` calls of driver function `name` fail with `err`
// without doing anything (count 0 clears it).
FAKE_CUDA_API void fake_cuda_inject_error(const char* name, CUresult err, unsigned count);
// Operations enqueued on a stream and not yet finished (0 / CU_STREAM_LEGACY /
// CU_STREAM_PER_THREAD resolve in the caller's current context); -1 if invalid.
FAKE_CUDA_API long long fake_cuda_stream_pending(CUstream stream);
// The id an event's records carry in the log (FAKE_OP_EVENT_*); 0 if invalid.
FAKE_CUDA_API unsigned long long fake_cuda_event_id(CUevent event);
// Streams created and not destroyed (per-thread and legacy streams not counted).
FAKE_CUDA_API int fake_cuda_live_streams(void);
// Events created and not destroyed.
FAKE_CUDA_API int fake_cuda_live_events(void);
// Allocations (device and host) not freed.
FAKE_CUDA_API int fake_cuda_live_allocations(void);
// Waits until every stream of every context has nothing pending: 0, or -1 after timeout_ms.
FAKE_CUDA_API int fake_cuda_wait_idle(unsigned timeout_ms);
// The clock of the log's timestamps (steady, nanoseconds).
FAKE_CUDA_API unsigned long long fake_cuda_now_ns(void);
// Sets the SM count of every device (132 at load): CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
// and the SM resource of cuDeviceGetDevResource. Green contexts keep the count they were made with.
FAKE_CUDA_API void fake_cuda_set_sm_count(unsigned count);
// 0: every green-context call (cuDeviceGetDevResource, cuDevSmResourceSplitByCount,
// cuGreenCtx*, cuCtxFromGreenCtx, ...) returns CUDA_ERROR_NOT_SUPPORTED, as a driver
// older than CUDA 12.4 would; nonzero (the default): they work.
FAKE_CUDA_API void fake_cuda_set_green_supported(int supported);
// The SMs of the context whose cuCtxGetId is ctx_id (FakeCudaLogEntry::ctx_id):
// a green context's own count, the device's for other contexts; 0 if no context has that id.
FAKE_CUDA_API unsigned fake_cuda_ctx_sm_count(unsigned long long ctx_id);

#ifdef __cplusplus
}  // extern "C"
#endif

#ifdef __cplusplus
#include <dlfcn.h>

#include <type_traits>

// The test API through a dlopen handle of libfake_cuda.so.
struct FakeCudaApi {
  decltype(&fake_cuda_log_read) log_read;
  decltype(&fake_cuda_log_clear) log_clear;
  decltype(&fake_cuda_launch_count) launch_count;
  decltype(&fake_cuda_call_count) call_count;
  decltype(&fake_cuda_calls_read) calls_read;
  decltype(&fake_cuda_reset_counters) reset_counters;
  decltype(&fake_cuda_set_launch_delay_us) set_launch_delay_us;
  decltype(&fake_cuda_set_unloaded) set_unloaded;
  decltype(&fake_cuda_inject_error) inject_error;
  decltype(&fake_cuda_stream_pending) stream_pending;
  decltype(&fake_cuda_event_id) event_id;
  decltype(&fake_cuda_live_streams) live_streams;
  decltype(&fake_cuda_live_events) live_events;
  decltype(&fake_cuda_live_allocations) live_allocations;
  decltype(&fake_cuda_wait_idle) wait_idle;
  decltype(&fake_cuda_now_ns) now_ns;
  decltype(&fake_cuda_set_sm_count) set_sm_count;
  decltype(&fake_cuda_set_green_supported) set_green_supported;
  decltype(&fake_cuda_ctx_sm_count) ctx_sm_count;
};

// Fills `api` from `handle`; false if a symbol is missing.
inline bool fake_cuda_api_load(void* handle, FakeCudaApi* api) {
  bool ok = true;
  auto get = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
    ok = ok && fn != nullptr;
  };
  get(api->log_read, "fake_cuda_log_read");
  get(api->log_clear, "fake_cuda_log_clear");
  get(api->launch_count, "fake_cuda_launch_count");
  get(api->call_count, "fake_cuda_call_count");
  get(api->calls_read, "fake_cuda_calls_read");
  get(api->reset_counters, "fake_cuda_reset_counters");
  get(api->set_launch_delay_us, "fake_cuda_set_launch_delay_us");
  get(api->set_unloaded, "fake_cuda_set_unloaded");
  get(api->inject_error, "fake_cuda_inject_error");
  get(api->stream_pending, "fake_cuda_stream_pending");
  get(api->event_id, "fake_cuda_event_id");
  get(api->live_streams, "fake_cuda_live_streams");
  get(api->live_events, "fake_cuda_live_events");
  get(api->live_allocations, "fake_cuda_live_allocations");
  get(api->wait_idle, "fake_cuda_wait_idle");
  get(api->now_ns, "fake_cuda_now_ns");
  get(api->set_sm_count, "fake_cuda_set_sm_count");
  get(api->set_green_supported, "fake_cuda_set_green_supported");
  get(api->ctx_sm_count, "fake_cuda_ctx_sm_count");
  return ok;
}
#endif

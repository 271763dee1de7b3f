// The fake HIP runtime's internals, shared by its source files: the objects
// behind the handles (streams, events, allocations), the registry of them all,
// and what one part of the runtime uses of another. Private to libfake_hip.so.
#pragma once

#include <hip/hip_runtime_api.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

// An exported entry point (C linkage; the version script exports.map lists them all).
#define FAKE_HIP_EXPORT extern "C" __attribute__((visibility("default")))

namespace fake_hip {

using u64 = std::uint64_t;

constexpr int kMaxDevices = 8;
constexpr int kMultiprocessorCount = 4;

inline u64 now_ns() {
  return static_cast<u64>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count());
}

// Set at process exit: workers stop, waits give up.
inline std::atomic<bool> g_shutdown{false};

struct Stream;

// "Wait until stream s has completed its operation number seq."
struct Dep {
  std::shared_ptr<Stream> s;
  u64 seq = 0;
};

struct Op {
  u64 seq = 0;
  std::vector<Dep> deps;     // waited for on the worker, before run
  std::function<void()> run;  // may be empty (a pure wait)
};

// A stream: its operations run in FIFO order on its worker thread.
struct Stream {
  int device = 0;  // the current device at creation
  unsigned flags = 0;
  int priority = 0;
  bool null_stream = false;

  std::mutex m;
  std::condition_variable work_cv;  // the worker waits for operations
  std::condition_variable done_cv;  // others wait for completions
  std::deque<Op> queue;             // not started yet
  u64 submitted = 0;                // seq of the last enqueued operation
  u64 completed = 0;                // seq of the last finished operation
  bool stopping = false;            // destroyed: no more operations, the worker exits when drained
  std::thread worker;
};

// One hipEventRecord: reached when its stream completes operation `seq`.
struct Record {
  std::shared_ptr<Stream> s;
  u64 seq = 0;
  std::atomic<u64> time_ns{0};  // steady_clock, when reached
};

struct Event {
  unsigned flags = 0;
  std::mutex m;
  std::shared_ptr<Record> last;  // the newest record; null: never recorded
};

enum class AllocKind { Device, HostMalloc, Registered };

struct Alloc {
  size_t size = 0;
  AllocKind kind = AllocKind::Device;
  int device = 0;
  unsigned flags = 0;
};

// Everything global; never destroyed (calls from other libraries' destructors
// find it intact). Lock order: Registry::m -> Stream::m; alloc_m and Event::m are leaves.
struct Registry {
  std::mutex m;
  std::unordered_map<hipStream_t, std::shared_ptr<Stream>> streams;  // user streams
  std::array<std::shared_ptr<Stream>, kMaxDevices> null_streams{};   // made on first use
  std::unordered_map<hipEvent_t, std::shared_ptr<Event>> events;
  std::vector<std::shared_ptr<Stream>> detached;  // destroyed by a host function of their own
  std::vector<std::shared_ptr<Stream>> per_thread;  // every thread's per-thread default streams, never destroyed

  std::mutex alloc_m;
  std::map<std::uintptr_t, Alloc> allocs;  // by start address

  std::atomic<unsigned long long> launches{0};
  std::atomic<unsigned long long> ext_launches{0};  // of those, through hipExtModuleLaunchKernel
};

inline Registry& reg() {
  static Registry* r = new Registry;
  return *r;
}

// ---- fake_hip.cpp: devices ----

int device_count();
int current_device();
bool valid_device(int d);

// ---- fake_hip_streams.cpp: workers ----

// The stream that handle h names (0: the current device's null stream,
// hipStreamPerThread: the calling thread's per-thread stream of the current
// device; both made on first use).
hipError_t resolve(hipStream_t h, std::shared_ptr<Stream>& out);
// Enqueues op on s; *seq_out: its number.
hipError_t enqueue(Stream& s, Op op, u64* seq_out = nullptr);
// Waits until s has completed operation seq (or the process exits).
void wait_seq(Stream& s, u64 seq);
// Waits for everything enqueued so far on the streams of device `device` (-1: of every device).
void sync_streams(int device);
// Enqueues fn on stream h and returns its enqueue status (the operation runs later).
hipError_t enqueue_fn(hipStream_t h, std::function<void()> fn);
// extra (HIP_LAUNCH_PARAM_BUFFER_POINTER, ptr, HIP_LAUNCH_PARAM_BUFFER_SIZE,
// &size, HIP_LAUNCH_PARAM_END; null: no arguments): a copy of the buffer into args.
hipError_t copy_packed(void** extra, std::vector<unsigned char>& args);
// Enqueues kernel k on stream h with a copy of its packed arguments; counts it when it has run.
hipError_t enqueue_kernel(hipStream_t h, const void* k, std::shared_ptr<std::vector<unsigned char>> args, bool ext);

}  // namespace fake_hip

// Streams at work: each stream runs its operations in FIFO order on a worker
// thread of its own, so streams run concurrently, like kernels of different
// streams on a GPU. Also what is enqueued on them that is not memory: events,
// kernel launches, host functions, waits on a memory word; and the shutdown
// of every worker at process exit.

#include "fake_hip_internal.h"
#include "fake_hip_kernel.h"

#include <cstring>

namespace fake_hip {

namespace {

void worker_loop(Stream& s) {
  for (;;) {
    Op op;
    {
      std::unique_lock lk(s.m);
      s.work_cv.wait(lk, [&] { return !s.queue.empty() || s.stopping || g_shutdown.load(); });
      if (g_shutdown.load() || s.queue.empty()) return;
      op = std::move(s.queue.front());
      s.queue.pop_front();
    }
    for (const Dep& d : op.deps) wait_seq(*d.s, d.seq);
    if (g_shutdown.load()) return;
    if (op.run) op.run();
    const u64 seq = op.seq;
    op = Op{};  // release what it holds before the completion is seen
    {
      std::lock_guard lk(s.m);
      s.completed = seq;
    }
    s.done_cv.notify_all();
  }
}

// Under Registry::m.
std::shared_ptr<Stream> make_stream(int device, unsigned flags, int priority, bool null_stream) {
  auto s = std::make_shared<Stream>();
  s->device = device;
  s->flags = flags;
  s->priority = priority;
  s->null_stream = null_stream;
  Stream* raw = s.get();
  s->worker = std::thread([raw] { worker_loop(*raw); });
  return s;
}

// The newest enqueued operation of s, to wait for.
Dep pending(const std::shared_ptr<Stream>& s) {
  std::lock_guard lk(s->m);
  return {s, s->submitted};
}

hipError_t stream_create(hipStream_t* out, unsigned flags, int priority) {
  if (out == nullptr || (flags & ~static_cast<unsigned>(hipStreamNonBlocking)) != 0) return hipErrorInvalidValue;
  if (g_shutdown.load()) return hipErrorDeinitialized;
  Registry& r = reg();
  std::lock_guard lk(r.m);
  auto s = make_stream(current_device(), flags, priority, false);
  const auto h = reinterpret_cast<hipStream_t>(s.get());
  r.streams[h] = std::move(s);
  *out = h;
  return hipSuccess;
}

hipError_t find_event(hipEvent_t e, std::shared_ptr<Event>& out) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  auto it = r.events.find(e);
  if (it == r.events.end()) return hipErrorInvalidHandle;
  out = it->second;
  return hipSuccess;
}

std::shared_ptr<Record> last_record(Event& ev) {
  std::lock_guard lk(ev.m);
  return ev.last;
}

bool record_done(const Record& rec) {
  std::lock_guard lk(rec.s->m);
  return rec.s->completed >= rec.seq;
}

// extra: HIP_LAUNCH_PARAM_BUFFER_POINTER, ptr, HIP_LAUNCH_PARAM_BUFFER_SIZE, &size,
// HIP_LAUNCH_PARAM_END (the pairs in any order); a copy of the buffer into args.
hipError_t copy_extra(void** extra, std::vector<unsigned char>& args) {
  if (extra == nullptr) return hipSuccess;  // no arguments
  const void* buf = nullptr;
  const size_t* size = nullptr;
  bool have_buf = false;
  for (size_t i = 0;; i += 2) {
    if (i >= 64) return hipErrorInvalidValue;  // no HIP_LAUNCH_PARAM_END
    if (extra[i] == HIP_LAUNCH_PARAM_END) break;
    if (extra[i] == HIP_LAUNCH_PARAM_BUFFER_POINTER) {
      buf = extra[i + 1];
      have_buf = true;
    } else if (extra[i] == HIP_LAUNCH_PARAM_BUFFER_SIZE) {
      size = static_cast<const size_t*>(extra[i + 1]);
      if (size == nullptr) return hipErrorInvalidValue;
    } else {
      return hipErrorInvalidValue;
    }
  }
  if (!have_buf || size == nullptr || (buf == nullptr && *size != 0)) return hipErrorInvalidValue;
  args.resize(*size);
  if (*size != 0) std::memcpy(args.data(), buf, *size);
  return hipSuccess;
}

// At process exit (or dlclose): stop every worker, dropping what it had not
// started (as the real runtime abandons queued work at exit), and join them.
__attribute__((destructor)) void fake_hip_shutdown() {
  Registry& r = reg();
  std::vector<std::shared_ptr<Stream>> ws;
  {
    std::lock_guard lk(r.m);
    g_shutdown.store(true);
    for (auto& [h, s] : r.streams) ws.push_back(s);
    for (auto& s : r.null_streams)
      if (s) ws.push_back(s);
    for (auto& s : r.per_thread) ws.push_back(s);
  }
  for (auto& s : ws) {
    { std::lock_guard lk(s->m); }  // a waiter between its check and its wait sees the notify
    s->work_cv.notify_all();
    s->done_cv.notify_all();
  }
  for (auto& s : ws) {
    if (!s->worker.joinable()) continue;
    if (s->worker.get_id() == std::this_thread::get_id())
      s->worker.detach();  // exit() called from a host function
    else
      s->worker.join();
  }
  // The streams stay in the registry: late callers may still hold them.
}

}  // namespace

hipError_t resolve(hipStream_t h, std::shared_ptr<Stream>& out) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  if (g_shutdown.load()) return hipErrorDeinitialized;
  if (h == nullptr) {
    const int d = current_device();
    auto& ns = r.null_streams[static_cast<size_t>(d)];
    if (!ns) ns = make_stream(d, 0, 0, true);
    out = ns;
    return hipSuccess;
  }
  if (h == hipStreamPerThread) {
    thread_local std::array<std::shared_ptr<Stream>, kMaxDevices> mine{};
    const int d = current_device();
    auto& pt = mine[static_cast<size_t>(d)];
    if (!pt) {
      pt = make_stream(d, 0, 0, false);  // blocking, as the runtime's
      r.per_thread.push_back(pt);
    }
    out = pt;
    return hipSuccess;
  }
  auto it = r.streams.find(h);
  if (it == r.streams.end()) return hipErrorInvalidHandle;
  out = it->second;
  return hipSuccess;
}

hipError_t enqueue(Stream& s, Op op, u64* seq_out) {
  {
    std::lock_guard lk(s.m);
    if (s.stopping || g_shutdown.load()) return hipErrorInvalidHandle;
    op.seq = ++s.submitted;
    if (seq_out != nullptr) *seq_out = op.seq;
    s.queue.push_back(std::move(op));
  }
  s.work_cv.notify_one();
  return hipSuccess;
}

void wait_seq(Stream& s, u64 seq) {
  std::unique_lock lk(s.m);
  s.done_cv.wait(lk, [&] { return s.completed >= seq || g_shutdown.load(); });
}

void sync_streams(int device) {
  Registry& r = reg();
  std::vector<Dep> deps;
  {
    std::lock_guard lk(r.m);
    for (auto& [h, s] : r.streams)
      if (device < 0 || s->device == device) deps.push_back(pending(s));
    for (auto& s : r.null_streams)
      if (s && (device < 0 || s->device == device)) deps.push_back(pending(s));
    for (auto& s : r.per_thread)
      if (device < 0 || s->device == device) deps.push_back(pending(s));
  }
  for (const Dep& d : deps) wait_seq(*d.s, d.seq);
}

hipError_t enqueue_kernel(hipStream_t h, const void* f, std::shared_ptr<std::vector<unsigned char>> args, bool ext) {
  const auto* k = static_cast<const FakeHipKernel*>(f);
  return enqueue_fn(h, [k, args = std::move(args), ext] {
    k->fn(args->empty() ? nullptr : args->data(), args->size());
    reg().launches.fetch_add(1);
    if (ext) reg().ext_launches.fetch_add(1);
  });
}

hipError_t copy_packed(void** extra, std::vector<unsigned char>& args) { return copy_extra(extra, args); }

hipError_t enqueue_fn(hipStream_t h, std::function<void()> fn) {
  std::shared_ptr<Stream> s;
  if (hipError_t e = resolve(h, s); e != hipSuccess) return e;
  Op op;
  op.run = std::move(fn);
  return enqueue(*s, std::move(op));
}

}  // namespace fake_hip

using namespace fake_hip;  // the runtime's internals, for the entry points below

// ---- streams ----

FAKE_HIP_EXPORT hipError_t hipStreamCreate(hipStream_t* stream) { return stream_create(stream, 0, 0); }

FAKE_HIP_EXPORT hipError_t hipStreamCreateWithFlags(hipStream_t* stream, unsigned int flags) {
  return stream_create(stream, flags, 0);
}

FAKE_HIP_EXPORT hipError_t hipStreamCreateWithPriority(hipStream_t* stream, unsigned int flags, int priority) {
  return stream_create(stream, flags, priority);
}

// Waits for the stream's work, then stops its worker.
FAKE_HIP_EXPORT hipError_t hipStreamDestroy(hipStream_t stream) {
  if (stream == nullptr) return hipErrorInvalidHandle;
  std::shared_ptr<Stream> s;
  {
    Registry& r = reg();
    std::lock_guard lk(r.m);
    auto it = r.streams.find(stream);
    if (it == r.streams.end()) return hipErrorInvalidHandle;
    s = std::move(it->second);
    r.streams.erase(it);
  }
  const bool own_worker = s->worker.get_id() == std::this_thread::get_id();  // from a host function
  if (!own_worker) wait_seq(*s, pending(s).seq);
  {
    std::lock_guard lk(s->m);
    s->stopping = true;
  }
  s->work_cv.notify_all();
  if (own_worker) {
    s->worker.detach();
    Registry& r = reg();
    std::lock_guard lk(r.m);
    r.detached.push_back(std::move(s));  // its worker still runs on it: never freed
  } else {
    s->worker.join();
  }
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipStreamSynchronize(hipStream_t stream) {
  std::shared_ptr<Stream> s;
  if (hipError_t e = resolve(stream, s); e != hipSuccess) return e;
  wait_seq(*s, pending(s).seq);
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipStreamQuery(hipStream_t stream) {
  std::shared_ptr<Stream> s;
  if (hipError_t e = resolve(stream, s); e != hipSuccess) return e;
  std::lock_guard lk(s->m);
  return s->completed < s->submitted ? hipErrorNotReady : hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipStreamGetFlags(hipStream_t stream, unsigned int* flags) {
  if (flags == nullptr) return hipErrorInvalidValue;
  std::shared_ptr<Stream> s;
  if (hipError_t e = resolve(stream, s); e != hipSuccess) return e;
  *flags = s->flags;
  return hipSuccess;
}

// ---- events ----

FAKE_HIP_EXPORT hipError_t hipEventCreateWithFlags(hipEvent_t* event, unsigned flags) {
  constexpr unsigned kAll = hipEventBlockingSync | hipEventDisableTiming | hipEventInterprocess |
                            hipEventReleaseToDevice | hipEventReleaseToSystem;
  if (event == nullptr || (flags & ~kAll) != 0) return hipErrorInvalidValue;
  if ((flags & hipEventInterprocess) != 0 && (flags & hipEventDisableTiming) == 0) return hipErrorInvalidValue;
  auto ev = std::make_shared<Event>();
  ev->flags = flags;
  const auto h = reinterpret_cast<hipEvent_t>(ev.get());
  Registry& r = reg();
  std::lock_guard lk(r.m);
  r.events[h] = std::move(ev);
  *event = h;
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipEventCreate(hipEvent_t* event) { return hipEventCreateWithFlags(event, 0); }

// A marker in the stream: reached when the stream's earlier work is done.
FAKE_HIP_EXPORT hipError_t hipEventRecord(hipEvent_t event, hipStream_t stream) {
  std::shared_ptr<Event> ev;
  if (hipError_t e = find_event(event, ev); e != hipSuccess) return e;
  std::shared_ptr<Stream> s;
  if (hipError_t e = resolve(stream, s); e != hipSuccess) return e;
  auto rec = std::make_shared<Record>();
  rec->s = s;
  Op op;
  op.run = [rec] { rec->time_ns.store(now_ns()); };
  if (hipError_t e = enqueue(*s, std::move(op), &rec->seq); e != hipSuccess) return e;
  std::lock_guard lk(ev->m);
  ev->last = std::move(rec);
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipEventDestroy(hipEvent_t event) {
  std::shared_ptr<Event> ev;  // released outside the lock
  Registry& r = reg();
  std::lock_guard lk(r.m);
  auto it = r.events.find(event);
  if (it == r.events.end()) return hipErrorInvalidHandle;
  ev = std::move(it->second);
  r.events.erase(it);
  return hipSuccess;  // pending records still complete
}

FAKE_HIP_EXPORT hipError_t hipEventSynchronize(hipEvent_t event) {
  std::shared_ptr<Event> ev;
  if (hipError_t e = find_event(event, ev); e != hipSuccess) return e;
  if (auto rec = last_record(*ev)) wait_seq(*rec->s, rec->seq);
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipEventQuery(hipEvent_t event) {
  std::shared_ptr<Event> ev;
  if (hipError_t e = find_event(event, ev); e != hipSuccess) return e;
  auto rec = last_record(*ev);
  return !rec || record_done(*rec) ? hipSuccess : hipErrorNotReady;
}

FAKE_HIP_EXPORT hipError_t hipEventElapsedTime(float* ms, hipEvent_t start, hipEvent_t stop) {
  if (ms == nullptr) return hipErrorInvalidValue;
  std::shared_ptr<Event> a, b;
  if (hipError_t e = find_event(start, a); e != hipSuccess) return e;
  if (hipError_t e = find_event(stop, b); e != hipSuccess) return e;
  if (((a->flags | b->flags) & hipEventDisableTiming) != 0) return hipErrorInvalidHandle;
  auto ra = last_record(*a);
  auto rb = last_record(*b);
  if (!ra || !rb) return hipErrorInvalidHandle;
  if (!record_done(*ra) || !record_done(*rb)) return hipErrorNotReady;
  const auto d = static_cast<long long>(rb->time_ns.load() - ra->time_ns.load());
  *ms = static_cast<float>(static_cast<double>(d) / 1e6);
  return hipSuccess;
}

// The stream waits, on its worker, for the event's record that is newest now.
FAKE_HIP_EXPORT hipError_t hipStreamWaitEvent(hipStream_t stream, hipEvent_t event, unsigned int flags) {
  if (flags != 0) return hipErrorInvalidValue;
  std::shared_ptr<Event> ev;
  if (hipError_t e = find_event(event, ev); e != hipSuccess) return e;
  std::shared_ptr<Stream> s;
  if (hipError_t e = resolve(stream, s); e != hipSuccess) return e;
  Op op;
  if (auto rec = last_record(*ev)) op.deps.push_back({rec->s, rec->seq});
  return enqueue(*s, std::move(op));
}

// ---- kernels, host functions, waits on memory ----

FAKE_HIP_EXPORT hipError_t hipModuleLaunchKernel(hipFunction_t f, unsigned int gridDimX, unsigned int gridDimY,
                                                 unsigned int gridDimZ, unsigned int blockDimX,
                                                 unsigned int blockDimY, unsigned int blockDimZ,
                                                 unsigned int sharedMemBytes, hipStream_t stream,
                                                 void** kernelParams, void** extra) {
  (void)sharedMemBytes;
  if (f == nullptr) return hipErrorInvalidResourceHandle;
  if (kernelParams != nullptr) return hipErrorInvalidValue;  // argument sizes unknown to the fake
  if (gridDimX == 0 || gridDimY == 0 || gridDimZ == 0 || blockDimX == 0 || blockDimY == 0 || blockDimZ == 0)
    return hipErrorInvalidValue;
  auto args = std::make_shared<std::vector<unsigned char>>();
  if (hipError_t e = copy_extra(extra, *args); e != hipSuccess) return e;
  return enqueue_kernel(stream, f, std::move(args), false);
}

FAKE_HIP_EXPORT hipError_t hipLaunchHostFunc(hipStream_t stream, hipHostFn_t fn, void* userData) {
  if (fn == nullptr) return hipErrorInvalidValue;
  return enqueue_fn(stream, [fn, userData] { fn(userData); });
}

// flags: hipStreamWaitValueGte only; the worker polls until (*ptr & mask) >= value.
FAKE_HIP_EXPORT hipError_t hipStreamWaitValue32(hipStream_t stream, void* ptr, uint32_t value, unsigned int flags,
                                                uint32_t mask) {
  if (flags != hipStreamWaitValueGte) return hipErrorInvalidValue;
  if (ptr == nullptr || reinterpret_cast<std::uintptr_t>(ptr) % alignof(uint32_t) != 0) return hipErrorInvalidValue;
  auto* word = static_cast<uint32_t*>(ptr);
  return enqueue_fn(stream, [word, value, mask] {
    const std::atomic_ref<uint32_t> w(*word);
    while (!g_shutdown.load()) {
      if ((w.load(std::memory_order_acquire) & mask) >= value) return;
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  });
}

FAKE_HIP_EXPORT unsigned long long fake_hip_launches(void) { return reg().launches.load(); }

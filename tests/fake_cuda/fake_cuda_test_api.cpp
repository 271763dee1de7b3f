// The test-only API (fake_cuda.h): what tests use to see and steer the driver.

#include "fake_cuda_internal.h"

#include <algorithm>
#include <string>
#include <string_view>

using namespace fake_cuda;  // the driver's internals, for the entry points below

FAKE_EXPORT size_t fake_cuda_log_read(FakeCudaLogEntry* out, size_t capacity) {
  Registry& r = reg();
  std::lock_guard lk(r.log_m);
  const size_t n = std::min(capacity, r.log.size());
  if (out != nullptr) std::copy(r.log.begin(), r.log.begin() + static_cast<std::ptrdiff_t>(n), out);
  return r.log.size();
}

FAKE_EXPORT void fake_cuda_log_clear(void) {
  Registry& r = reg();
  std::lock_guard lk(r.log_m);
  r.log.clear();
  ++r.log_gen;
}

FAKE_EXPORT unsigned long long fake_cuda_launch_count(void) { return reg().launches.load(); }

FAKE_EXPORT unsigned long long fake_cuda_call_count(const char* name) {
  if (name == nullptr) return 0;
  Registry& r = reg();
  std::lock_guard lk(r.count_m);
  auto it = r.calls.find(std::string_view(name));
  return it == r.calls.end() ? 0 : it->second;
}

FAKE_EXPORT size_t fake_cuda_calls_read(const char** out, size_t capacity) {
  Registry& r = reg();
  std::lock_guard lk(r.count_m);
  const size_t n = std::min(capacity, r.call_list.size());
  if (out != nullptr) std::copy(r.call_list.begin(), r.call_list.begin() + static_cast<std::ptrdiff_t>(n), out);
  return r.call_list.size();
}

FAKE_EXPORT void fake_cuda_reset_counters(void) {
  Registry& r = reg();
  r.launches.store(0);
  std::lock_guard lk(r.count_m);
  r.calls.clear();
  r.call_list.clear();
}

FAKE_EXPORT void fake_cuda_set_launch_delay_us(unsigned microseconds) { reg().launch_delay_us.store(microseconds); }

FAKE_EXPORT void fake_cuda_set_unloaded(CUfunction f) {
  Registry& r = reg();
  std::lock_guard lk(r.lazy_m);
  r.unloaded.insert(f);
}

FAKE_EXPORT void fake_cuda_inject_error(const char* name, CUresult err, unsigned count) {
  if (name == nullptr) return;
  Registry& r = reg();
  std::lock_guard lk(r.count_m);
  if (count == 0)
    r.injections.erase(std::string(name));
  else
    r.injections[std::string(name)] = Injection{err, count};
}

FAKE_EXPORT long long fake_cuda_stream_pending(CUstream stream) {
  std::shared_ptr<Stream> s;
  if (resolve(stream, false, s) != CUDA_SUCCESS) return -1;
  std::lock_guard lk(s->m);
  return static_cast<long long>(s->submitted - s->completed);
}

FAKE_EXPORT unsigned long long fake_cuda_event_id(CUevent event) {
  std::shared_ptr<Event> ev;
  return find_event(event, ev) == CUDA_SUCCESS ? ev->id : 0;
}

FAKE_EXPORT int fake_cuda_live_streams(void) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  return static_cast<int>(r.streams.size());
}

FAKE_EXPORT int fake_cuda_live_events(void) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  return static_cast<int>(r.events.size());
}

FAKE_EXPORT int fake_cuda_live_allocations(void) {
  Registry& r = reg();
  std::lock_guard lk(r.alloc_m);
  return static_cast<int>(std::count_if(r.allocs.begin(), r.allocs.end(), [](const auto& kv) {
    return kv.second.kind != AllocKind::HostRegistered;
  }));
}

FAKE_EXPORT int fake_cuda_wait_idle(unsigned timeout_ms) {
  Registry& r = reg();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<Context*> ctxs;
  {
    std::lock_guard lk(r.m);
    for (const auto& c : r.contexts) ctxs.push_back(c.get());
  }
  std::vector<std::shared_ptr<Stream>> ss;
  for (Context* c : ctxs) {
    std::lock_guard lk(c->m);
    ss.push_back(c->legacy);
    ss.insert(ss.end(), c->streams.begin(), c->streams.end());
  }
  for (auto& s : ss) {
    std::unique_lock lk(s->m);
    if (!s->done_cv.wait_until(lk, deadline, [&] { return s->completed == s->submitted || g_shutdown.load(); }))
      return -1;
  }
  return 0;
}

FAKE_EXPORT unsigned long long fake_cuda_now_ns(void) { return now_ns(); }

FAKE_EXPORT void fake_cuda_set_sm_count(unsigned count) { reg().sm_count.store(count); }

FAKE_EXPORT void fake_cuda_set_green_supported(int supported) { reg().green_supported.store(supported != 0); }

FAKE_EXPORT unsigned fake_cuda_ctx_sm_count(unsigned long long ctx_id) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  for (const auto& c : r.contexts)
    if (c->id == ctx_id) return ctx_sm_count(*c);
  return 0;
}

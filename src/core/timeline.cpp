#include "core/timeline.h"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/timeline_ring.h"

namespace xsched::timeline {

std::atomic<bool> g_enabled{false};

namespace {

using detail::Entry;
using detail::kCapacity;

// Made once recording is on, never destroyed: queues may record while the
// process exits, after the writer ran.
detail::Ring* g_ring = nullptr;
detail::Names* g_names = nullptr;
std::string* g_path = nullptr;
std::mutex g_flush_mu;
std::atomic<bool> g_flush_asked{false};
std::atomic<uint64_t> g_next_flow{0};

struct ThreadCause {
  Reason reason = Reason::kNone;
  uint64_t queue = 0;
  uint64_t flow = 0;  // made at the first hold it causes
};
thread_local ThreadCause t_cause;

void on_signal(int) { g_flush_asked.store(true, std::memory_order_relaxed); }

// SIGUSR2 asks for the file now. A signal handler may only set a flag: a
// thread of ours writes the file. Only where the program left the signal alone.
void watch_signal() {
  struct sigaction old{};
  if (sigaction(SIGUSR2, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) return;
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGUSR2, &sa, nullptr) != 0) return;
  std::thread([] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (g_flush_asked.exchange(false, std::memory_order_relaxed)) flush();
    }
  }).detach();
}

void flush_at_exit() { flush(); }

}  // namespace

namespace {

std::once_flag g_init_once;

void start(const std::string& path) {
  try {
    g_path = new std::string(expand_pid(path));
    g_names = new detail::Names;
    g_ring = new detail::Ring;
  } catch (const std::bad_alloc&) {
    log(LogLevel::kWarn, "timeline: no memory for the timeline; not recorded");
    return;
  }
  if (std::atexit(flush_at_exit) != 0) log(LogLevel::kWarn, "timeline: no file at exit (atexit failed)");
  watch_signal();
  g_enabled.store(true, std::memory_order_release);
}

}  // namespace

void init_from_config() {
  std::call_once(g_init_once, [] {
    const std::string& path = process_config().timeline;
    if (!path.empty()) start(path);
  });
}

bool init(const std::string& path) {
  std::call_once(g_init_once, [&] {
    if (!path.empty()) start(path);
  });
  return enabled();
}

void name_queue(uint64_t queue, const char* platform, int32_t device, const char* device_name) {
  if (!enabled()) return;
  std::string name = "queue " + std::to_string(queue) + ", " + platform;
  if (device >= 0) name += ":" + std::to_string(device);
  if (device_name != nullptr && *device_name != '\0') name += std::string(", ") + device_name;
  try {
    std::lock_guard lk(g_names->mu);
    g_names->tracks[queue] = std::move(name);
  } catch (const std::exception&) {
    // An unnamed track still shows its queue id.
  }
}

void name_track(uint64_t track, const std::string& name) {
  if (!enabled()) return;
  try {
    std::lock_guard lk(g_names->mu);
    g_names->tracks[track] = name;
  } catch (const std::exception&) {
    // An unnamed track still shows its number.
  }
}

void record(Event e, uint64_t queue, Reason reason, uint64_t a, uint64_t b) {
  if (!enabled()) return;
  // A sequence lock without fences (ThreadSanitizer has none): the fields'
  // release stores keep the stamp's reset before them, so a reader that saw
  // any new field sees the stamp change and drops the slot.
  constexpr auto kRelease = std::memory_order_release;
  const uint64_t n = g_ring->next.fetch_add(1, std::memory_order_relaxed);
  Entry& s = g_ring->slots[n & (kCapacity - 1)];
  s.stamp.store(0, std::memory_order_relaxed);  // a reader skips the slot while it is rewritten
  s.ts_ns.store(now_ns(), kRelease);
  s.queue.store(queue, kRelease);
  s.a.store(a, kRelease);
  s.b.store(b, kRelease);
  s.event.store(static_cast<uint8_t>(e), kRelease);
  s.reason.store(static_cast<uint8_t>(reason), kRelease);
  s.stamp.store(n + 1, kRelease);
}

bool flush() {
  if (!enabled()) return false;
  std::lock_guard lk(g_flush_mu);
  const std::vector<detail::Copy> events = detail::snapshot(*g_ring);
  const bool ok = detail::write_json(*g_path, events, *g_names, now_ns());
  if (!ok) log(LogLevel::kWarn, "timeline: cannot write %s: %s", g_path->c_str(), std::strerror(errno));
  return ok;
}

Cause::Cause(Reason reason, uint64_t queue) {
  if (!enabled()) return;
  t_cause = ThreadCause{reason, queue, 0};
}

Cause::~Cause() {
  if (!enabled()) return;
  t_cause = ThreadCause{};
}

Reason current_reason(uint64_t* flow) {
  if (flow != nullptr) *flow = 0;
  if (flow != nullptr && t_cause.queue != 0) {
    if (t_cause.flow == 0) {
      t_cause.flow = g_next_flow.fetch_add(1, std::memory_order_relaxed) + 1;
      record(Event::kCause, t_cause.queue, t_cause.reason, t_cause.flow);
    }
    *flow = t_cause.flow;
  }
  return t_cause.reason == Reason::kNone ? Reason::kPolicy : t_cause.reason;
}

}  // namespace xsched::timeline

#include "interpose/common/trace.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>

#include "core/config.h"
#include "core/log.h"

namespace xsched::interpose {
namespace detail {
constinit std::atomic<int> g_trace_state{-1};
}  // namespace detail

namespace {

constexpr size_t kLineBytes = 1024;

// All state is constant-initialised and trivially destructible: the summary
// runs from an exit handler while other threads may still be tracing.
constinit std::mutex g_init_mutex;
constinit std::atomic<int> g_fd{STDERR_FILENO};

// Per-name counts: open addressing on the name's characters. The driver has
// about 640 entry points, so 1024 slots never fill in practice; names beyond
// that are counted under "(other)".
constexpr size_t kSlots = 1024;
constexpr size_t kNameBytes = 64;  // the longest driver name has 52 characters
struct Counter {
  char name[kNameBytes];
  uint64_t calls;
  uint64_t failures;
};
constinit std::mutex g_count_mutex;
constinit Counter g_counters[kSlots] = {};
constinit Counter g_other = {"(other)", 0, 0};

void write_all(const char* p, size_t len) {
  const int fd = g_fd.load(std::memory_order_relaxed);
  while (len > 0) {
    const ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to report it
    p += n;
    len -= static_cast<size_t>(n);
  }
}

void summary_at_exit() { trace_write_summary(); }

uint64_t hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

void count(const char* name, int result) {
  std::string_view key = name != nullptr ? name : "(null)";
  if (key.size() >= kNameBytes) key = key.substr(0, kNameBytes - 1);
  const bool failed = result != 0 && !kTraceResults.is_answer(result);
  std::lock_guard<std::mutex> lock(g_count_mutex);
  Counter* c = &g_other;
  for (size_t i = 0, at = hash(key) % kSlots; i < kSlots; ++i, at = (at + 1) % kSlots) {
    Counter& slot = g_counters[at];
    if (slot.name[0] == '\0') {
      std::memcpy(slot.name, key.data(), key.size());
      slot.name[key.size()] = '\0';
      c = &slot;
      break;
    }
    if (key == slot.name) {
      c = &slot;
      break;
    }
  }
  ++c->calls;
  if (failed) ++c->failures;
}

}  // namespace

namespace detail {

bool trace_init() noexcept {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  const int s = g_trace_state.load(std::memory_order_relaxed);
  if (s >= 0) return s != 0;
  process_config();  // applies XSCHED_LOG_LEVEL to the warnings below
  const bool on = env_switch("XSCHED_TRACE");  // 1/on/true/yes; anything else off
  if (on) {
    const char* file = getenv("XSCHED_TRACE_FILE");
    if (file != nullptr && file[0] != '\0') {
      const int fd = ::open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0) g_fd.store(fd, std::memory_order_relaxed);
      else log(LogLevel::kWarn, "XSCHED_TRACE_FILE=%s: %s; tracing to stderr", file, std::strerror(errno));
    }
    // The file stays open to the end: the summary is written at exit.
    if (std::atexit(summary_at_exit) != 0) log(LogLevel::kWarn, "tracing: no summary at exit (atexit failed)");
  }
  g_trace_state.store(on ? 1 : 0, std::memory_order_release);
  return on;
}

}  // namespace detail

void trace_call(const char* name, int result, const char* fmt, ...) {
  // Acquire pairs with trace_init's release: the file descriptor is set.
  if (!trace_enabled() || detail::g_trace_state.load(std::memory_order_acquire) != 1) return;
  const int saved_errno = errno;  // the wrapper's caller may look at it
  count(name, result);

  char line[kLineBytes];
  constexpr size_t kTail = 96;  // room kept for " -> <result> <name>\n"
  int n = std::snprintf(line, kLineBytes - kTail, "xsched-trace %s", name != nullptr ? name : "(null)");
  size_t len = n > 0 ? std::min(static_cast<size_t>(n), kLineBytes - kTail - 1) : 0;
  if (fmt != nullptr && fmt[0] != '\0' && len + 1 < kLineBytes - kTail) {
    line[len++] = ' ';
    va_list args;
    va_start(args, fmt);
    n = std::vsnprintf(line + len, kLineBytes - kTail - len, fmt, args);
    va_end(args);
    if (n > 0) len = std::min(len + static_cast<size_t>(n), kLineBytes - kTail - 1);
  }
  const char* rname = kTraceResults.name(result);
  n = std::snprintf(line + len, kLineBytes - len, rname != nullptr ? " -> %d %s\n" : " -> %d\n", result, rname);
  len = n > 0 ? std::min(len + static_cast<size_t>(n), kLineBytes - 1) : len;
  if (line[len - 1] != '\n') line[len - 1] = '\n';  // a cut result name still ends the line
  write_all(line, len);
  errno = saved_errno;
}

void trace_count(const char* name, int result) {
  if (!trace_enabled()) return;
  count(name, result);
}

void trace_write_summary() {
  if (detail::g_trace_state.load(std::memory_order_acquire) != 1) return;
  const int saved_errno = errno;
  std::lock_guard<std::mutex> lock(g_count_mutex);
  // Most called first; equal counts by name, so the order is reproducible.
  const Counter* order[kSlots + 1];
  size_t n = 0;
  for (const Counter& c : g_counters)
    if (c.name[0] != '\0') order[n++] = &c;
  if (g_other.calls > 0) order[n++] = &g_other;
  std::sort(order, order + n, [](const Counter* a, const Counter* b) {
    return a->calls != b->calls ? a->calls > b->calls : std::strcmp(a->name, b->name) < 0;
  });
  uint64_t calls = 0, failures = 0;
  char line[kLineBytes];
  for (size_t i = 0; i < n; ++i) {
    const int len = std::snprintf(line, sizeof line, "xsched-trace summary %s calls=%llu failures=%llu\n", order[i]->name,
                                  static_cast<unsigned long long>(order[i]->calls),
                                  static_cast<unsigned long long>(order[i]->failures));
    if (len > 0) write_all(line, std::min(static_cast<size_t>(len), sizeof line - 1));
    calls += order[i]->calls;
    failures += order[i]->failures;
  }
  const int len = std::snprintf(line, sizeof line, "xsched-trace summary total calls=%llu failures=%llu\n",
                                static_cast<unsigned long long>(calls), static_cast<unsigned long long>(failures));
  if (len > 0) write_all(line, static_cast<size_t>(len));
  errno = saved_errno;
}

}  // namespace xsched::interpose

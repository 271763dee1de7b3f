#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <ctime>

namespace xsched {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kWarn)};
std::atomic<const char*> g_program{"xsched"};
std::atomic<bool> g_timestamps{false};

const char* prefix(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "error: ";
    case LogLevel::kWarn: return "warning: ";
    case LogLevel::kInfo: return "info: ";
    case LogLevel::kDebug: return "debug: ";
  }
  return "";
}

}  // namespace

void set_log_program(const char* name) { g_program.store(name, std::memory_order_relaxed); }

void set_log_timestamps(bool on) { g_timestamps.store(on, std::memory_order_relaxed); }

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

void log(LogLevel level, const char* fmt, ...) {
  if (!log_enabled(level)) return;
  // Callers may be inspecting errno from the failure they are reporting.
  const int saved_errno = errno;

  // One buffer and one write(2) per line: concurrent lines never interleave,
  // and logging works where the heap cannot be trusted.
  char buf[1024];
  size_t len = 0;
  if (g_timestamps.load(std::memory_order_relaxed)) {
    timespec ts{};
    tm utc{};
    clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &utc) != nullptr) {
      len = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
      const int ms = std::snprintf(buf + len, sizeof buf - len, ".%03ldZ ", ts.tv_nsec / 1'000'000);
      len += ms > 0 ? static_cast<size_t>(ms) : 0;
    }
  }
  const int head =
      std::snprintf(buf + len, sizeof buf - len, "%s: %s", g_program.load(std::memory_order_relaxed), prefix(level));
  len += head > 0 ? static_cast<size_t>(head) : 0;

  const size_t room = sizeof buf - len - 1;  // the last byte is kept for '\n'
  va_list args;
  va_start(args, fmt);
  const int body = std::vsnprintf(buf + len, room, fmt, args);
  va_end(args);
  if (body > 0) len += static_cast<size_t>(body) < room ? static_cast<size_t>(body) : room - 1;  // truncated
  buf[len++] = '\n';

  const char* p = buf;
  while (len > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // nowhere left to report a failure to report
    p += n;
    len -= static_cast<size_t>(n);
  }
  errno = saved_errno;
}

}  // namespace xsched

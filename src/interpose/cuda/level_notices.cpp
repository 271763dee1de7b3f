#include "interpose/cuda/level_notices.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>

#include "core/config.h"
#include "core/log.h"
#include "interpose/cuda/real_driver.h"

namespace xsched::interpose {

void warn_level_lowered(xs_level_t asked, xs_level_t got) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  log(LogLevel::kWarn, "XSCHED_LEVEL=%d: this device's CUDA queues support level %d at most; using it", static_cast<int>(asked),
      static_cast<int>(got));
}

namespace {

bool announcing() {
  static const bool enabled = env_switch("XSCHED_ANNOUNCE");  // "off" is off, as for XSCHED_TRACE
  return enabled;
}

// `xsched run` names the process it runs (XSCHED_RUN_PID: exec keeps the
// pid). That process ending without a single CUDA call had nothing
// scheduled, which a user would otherwise learn from silence: said at exit,
// where the announcements are on. Every CUDA call starts the driver's search.
// The line goes to a copy of stderr taken at start: programs close their
// stderr in exit handlers that run before this one (coreutils do).
int g_run_stderr = -1;

void say_if_no_cuda() {
  if (real_driver_searched() || g_run_stderr < 0) return;
  char line[200];
  const int n = std::snprintf(line, sizeof line,
                              "xsched: pid %d made no CUDA call: nothing of it was scheduled (CUDA in its child "
                              "processes is scheduled, and announced, there)\n",
                              static_cast<int>(getpid()));
  if (n > 0 && write(g_run_stderr, line, static_cast<std::size_t>(std::min<int>(n, sizeof line - 1))) < 0) return;
}

__attribute__((constructor)) void watch_the_run() {
  const char* v = std::getenv("XSCHED_RUN_PID");
  if (v == nullptr || std::atoi(v) != static_cast<int>(getpid()) || !announcing()) return;
  g_run_stderr = fcntl(2, F_DUPFD_CLOEXEC, 3);
  if (g_run_stderr >= 0) std::atexit(say_if_no_cuda);
}

}  // namespace

void announce_device(int32_t ordinal, const DeviceId& id, const char* name) {
  if (!announcing()) return;
  // Few devices per process: a short list, searched under a lock, once per new queue.
  static std::mutex mu;
  static DeviceId seen[64];
  static std::size_t n = 0;
  {
    std::lock_guard lk(mu);
    for (std::size_t i = 0; i < n; ++i) {
      if (seen[i] == id) return;
    }
    if (n == std::size(seen)) return;
    seen[n++] = id;
  }
  std::fprintf(stderr, "xsched: pid %d: CUDA device %d, %s, %s (its own scheduling domain)\n", static_cast<int>(getpid()),
               static_cast<int>(ordinal), name != nullptr && *name != '\0' ? name : "(no name)", id.text("cuda").c_str());
}

void announce_level(xs_level_t level, uint32_t window) {
  const bool enabled = announcing();
  static std::atomic<unsigned> announced{0};
  const unsigned bit = 1u << static_cast<unsigned>(level);
  if (!enabled || (announced.fetch_or(bit) & bit) != 0) return;
  std::fprintf(stderr, "xsched: pid %d: CUDA queues at level %d (%s), window %u\n", static_cast<int>(getpid()),
               static_cast<int>(level), level >= XS_LEVEL_DEACTIVATE ? "stream-ordered gates" : "progressive launching",
               window);
}

}  // namespace xsched::interpose

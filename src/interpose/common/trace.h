// Call tracing for an interposer's wrappers (XSCHED_TRACE=1), whatever the
// platform: it names results and tells answers from failures through
// kTraceResults, which the platform defines (CUDA: cuda/trace_results.cpp).
//
// One line per traced call, written with a single write(2) so lines of
// concurrent threads never interleave, to stderr or to XSCHED_TRACE_FILE:
//   xsched-trace cuMemAlloc_v2 size=1048576 ptr=0x7f3a00000000 -> 0 CUDA_SUCCESS
// Calls and failures are counted per name; at exit a summary follows, one
// line per name, most called first, then the total:
//   xsched-trace summary cuMemAlloc_v2 calls=12 failures=0
//   xsched-trace summary total calls=40 failures=1
// A result the platform calls an answer (CUDA_ERROR_NOT_READY from a query)
// is not counted as a failure. When tracing is off (the default) every call
// below returns at once.
#pragma once

#include <atomic>

namespace xsched::interpose {

// What the platform tells the trace about a call's result code.
struct TraceResults {
  // Its name ("CUDA_SUCCESS"), or nullptr when none is known (yet).
  const char* (*name)(int result);
  // Whether a nonzero result is an answer rather than a failure.
  bool (*is_answer)(int result);
};
extern const TraceResults kTraceResults;  // defined by the platform

namespace detail {
extern std::atomic<int> g_trace_state;  // -1: XSCHED_TRACE not read yet, 0: off, 1: on
bool trace_init() noexcept;
}  // namespace detail

// Whether XSCHED_TRACE is on: one relaxed load once it has been read.
inline bool trace_enabled() {
  const int s = detail::g_trace_state.load(std::memory_order_relaxed);
  if (s >= 0) [[likely]] return s != 0;
  return detail::trace_init();
}

// Writes the line for one call and counts it. `fmt` (printf-style; nullptr
// when there is nothing to show) describes the arguments; `result` is the
// platform's result code, named by kTraceResults (the number alone if it
// has no name). A line
// longer than 1 KiB is cut. Does nothing when tracing is off.
void trace_call(const char* name, int result, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

// Counts one call without writing its line.
void trace_count(const char* name, int result);

// Writes the summary now. At exit this happens by itself when tracing is on.
void trace_write_summary();

}  // namespace xsched::interpose

// Diagnostics to stderr, one line per message, prefixed "xsched: ".
// Safe from any thread; formats into a stack buffer and writes once.
#pragma once

namespace xsched {

enum class LogLevel : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
// The name before each line ("xsched" unless a tool says otherwise); a string literal.
void set_log_program(const char* name);
LogLevel log_level();
inline bool log_enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(log_level()); }

// printf-style; dropped when `level` is above the current log level.
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace xsched

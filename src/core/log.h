// Diagnostics to stderr, one line per message, prefixed "xsched: ".
// Safe from any thread; formats into a stack buffer and writes once.
#pragma once

namespace xsched {

enum class LogLevel : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
// The name before each line ("xsched" unless a tool says otherwise); a string literal.
void set_log_program(const char* name);
// Each line starts with the UTC time ("2025-01-31T12:00:00.123Z ") when on
// (xschedd: a daemon's log is read later); off by default.
void set_log_timestamps(bool on);
LogLevel log_level();
inline bool log_enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(log_level()); }

// printf-style; dropped when `level` is above the current log level.
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace xsched

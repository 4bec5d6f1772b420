#pragma once
// Diagnostics that never block a loop: records go into a bounded in-memory
// ring that a thread of their own ("ferry-log") writes to stderr. When the
// ring is full, records are dropped and counted, never waited for.

#include <cstdint>
#include <string>

namespace ferry {

/// syslog priorities, as sd-daemon.h's "<N>" prefixes use them.
enum class LogLevel { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

/// "error", "warning", "notice", "info", "debug"; kInfo for anything else.
LogLevel ParseLogLevel(const std::string& name);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

/// Formats one line (printf-style) and logs it: into the ring when one is
/// installed in this process, else straight to stderr. Never blocks when a
/// ring is installed. Lines go to stderr as "ferryd[PID]: text", or as
/// "<N>text" when stderr is the journal (JOURNAL_STREAM).
void Log(LogLevel level, const char* format, ...)
    __attribute__((format(printf, 2, 3)));

/// While alive, this process's Log() calls go through a ring of `records`
/// lines drained by a thread. Destroying it writes what is left. One per
/// process, made by the loop thread before it serves.
class LogRing {
 public:
  explicit LogRing(std::uint32_t records);
  ~LogRing();
  LogRing(const LogRing&) = delete;
  LogRing& operator=(const LogRing&) = delete;

  /// Records dropped so far because the ring was full.
  static std::uint64_t Dropped();
};

}  // namespace ferry

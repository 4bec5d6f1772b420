#pragma once
// Diagnostics that never block a loop: records go into a bounded in-memory
// ring that a thread of their own ("ferry-log") writes to stderr. When the
// ring is full, records are dropped and counted, never waited for.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "unique_fd.h"

namespace ferry {

/// syslog priorities, as sd-daemon.h's "<N>" prefixes use them.
enum class LogLevel {
  kError = 3,
  kWarning = 4,
  kNotice = 5,
  kInfo = 6,
  kDebug = 7
};

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
/// lines drained by a thread, and so do access records (AccessLog()) when
/// `access_log` is a file, "-" (stdout) or "syslog" (not "off"). Destroying
/// it writes what is left, but gives up on an access log that accepts
/// nothing (a FIFO nobody reads) instead of waiting for it. One per process,
/// made by the loop thread before it serves; threads that log must be gone
/// before it is destroyed.
class LogRing {
 public:
  /// `access_file` is the access log already opened (OpenAccessLogFile,
  /// before privileges were dropped) when `access_log` names a file.
  LogRing(std::uint32_t records, const std::string& access_log,
          UniqueFd access_file);
  ~LogRing();
  LogRing(const LogRing&) = delete;
  LogRing& operator=(const LogRing&) = delete;

  /// True when access records are wanted.
  static bool AccessLogEnabled();
  /// Queues one access record (a whole line, '\n' included). Never blocks;
  /// returns false when the record was dropped.
  static bool AccessLog(const char* line, std::size_t length);
  /// Makes the log thread write access records to `file` from now on (the
  /// master reopened the log on SIGUSR1 and passed it over).
  static void ReplaceAccessLog(UniqueFd file);

  /// Records dropped so far because a ring was full.
  static std::uint64_t Dropped();
};

/// True when --access-log names a file (not -, syslog or off).
inline bool AccessLogIsFile(const std::string& where) {
  return where != "off" && where != "-" && where != "syslog";
}

/// Opens an access log file for appending (created 0640 when missing),
/// safely as root in a directory another user can write: the last
/// component must not be a symlink (O_NOFOLLOW), and the open file must be
/// a regular file with no other hard link, or a FIFO (O_NONBLOCK: a FIFO
/// cannot hang the open), owned by the caller or by `serving_uid` (the
/// workers' --user). Returns the descriptor or a negative errno:
/// AccessLogError() words it.
int OpenAccessLogFile(const std::string& path, uid_t serving_uid);

/// Why OpenAccessLogFile() failed with `error` (negative), for a message.
std::string AccessLogError(int error);

}  // namespace ferry

#pragma once
// Access log records: one line per response, in the Common Log Format, the
// combined format, or JSON. Formatting only; the line goes through the log
// ring (log.h) so the loop never writes a file.

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

namespace ferry {

enum class AccessLogFormat { kCommon, kCombined, kJson };

/// "common", "combined", "json" (the values --access-log-format accepts).
AccessLogFormat ParseAccessLogFormat(std::string_view name);

/// What one line says. Views are only read during FormatAccessRecord.
struct AccessRecord {
  std::string_view client;  ///< "127.0.0.1", "::1", "unix"
  std::time_t time = 0;
  std::string_view request_line;  ///< as received, escaped when written
  int status = 0;
  std::uint64_t body_bytes = 0;  ///< body bytes actually sent
  std::string_view referer;
  std::string_view user_agent;
};

/// Writes the record as one line ending in '\n' into out[0..capacity) and
/// returns its length; an over-long line is cut (and still ends in '\n').
/// Bytes of the request that are not printable ASCII, and '"' and '\',
/// become \xHH. Local time, as strftime's "%d/%b/%Y:%H:%M:%S %z" (tzset()
/// must have run before the first call: the loop must not read the zone
/// file).
std::size_t FormatAccessRecord(const AccessRecord& record,
                               AccessLogFormat format, char* out,
                               std::size_t capacity);

}  // namespace ferry

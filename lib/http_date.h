#pragma once
// IMF-fixdate formatting and the three HTTP date formats' parsing.

#include <ctime>
#include <optional>
#include <string_view>

namespace ferry {

inline constexpr std::size_t kHttpDateLength =
    29;  // "Sun, 06 Nov 1994 08:49:37 GMT"

/// Writes the IMF-fixdate of `t` (UTC) into out[0..29) and returns a view of
/// it. `out` needs kHttpDateLength bytes; no terminating NUL is written.
std::string_view FormatHttpDate(std::time_t t, char* out);

/// Parses IMF-fixdate, RFC 850 and asctime dates; nullopt when malformed.
std::optional<std::time_t> ParseHttpDate(std::string_view text);

}  // namespace ferry

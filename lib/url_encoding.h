#pragma once
// Percent-encoding (RFC 3986 section 2.1) of paths that ferryd puts back
// into URLs it sends: the Location of a redirect.

#include <string>
#include <string_view>

namespace ferry {

/// Appends `path` (decoded bytes, segments separated by '/') to `out` with
/// every byte percent-encoded except the unreserved characters, the
/// sub-delims, ':', '@' and '/'. So '%', '?', '#', '\', spaces, control
/// characters and non-ASCII bytes never reach a URL as they are.
void AppendPercentEncodedPath(std::string_view path, std::string* out);

}  // namespace ferry

#pragma once
// The Range header (RFC 9110 section 14): byte ranges of a representation.

#include <cstdint>
#include <string_view>
#include <vector>

namespace ferry {

/// A satisfiable byte range, [first, last] inclusive, last < size.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const { return last - first + 1; }
};

struct RangeResult {
  enum class Kind {
    kIgnore,         ///< no or invalid Range, or over max_ranges: send 200
    kSatisfiable,    ///< send 206 with `ranges` (one: single part)
    kUnsatisfiable,  ///< send 416 with Content-Range: bytes */size
  };
  Kind kind = Kind::kIgnore;
  std::vector<ByteRange> ranges;   ///< in the order to send
  std::vector<ByteRange> scratch;  ///< ParseRange's working space (reused)
};

/// Parses `header` ("bytes=0-99,200-,-50") against a representation of
/// `size` bytes. Unsatisfiable specs are dropped; if none is left, the result
/// is kUnsatisfiable. When ranges overlap or touch, all are sorted and
/// coalesced, so the body never exceeds `size`. More than `max_ranges`
/// ranges (after coalescing) are ignored as a whole (kIgnore), as Apache
/// does. Syntax errors and units other than "bytes" give kIgnore.
/// `out` is reused to avoid allocation; it never holds more than
/// 2 * max_ranges + 2 ranges, whatever the header's length: when that many
/// satisfiable specs have been read, they are coalesced, and if more than
/// `max_ranges` are still left the header is ignored (kIgnore) without
/// reading further.
void ParseRange(std::string_view header, std::uint64_t size, int max_ranges,
                RangeResult* out);

}  // namespace ferry

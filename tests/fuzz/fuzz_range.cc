// ParseRange against a reference that computes the set of bytes asked for.
// Input: an optional first line "SIZE MAX_RANGES\n" (decimal; otherwise
// 10000 and 16), then the Range header's value.

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "http_range.h"

namespace {

using ferry::ByteRange;
using ferry::RangeResult;
using Kind = RangeResult::Kind;

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

/// 1*DIGIT, saturating: a huge first-byte-pos is unsatisfiable, not bad.
bool Number(std::string_view s, std::uint64_t* value) {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    v = v > (kMax - digit) / 10 ? kMax : v * 10 + digit;
  }
  *value = v;
  return true;
}

bool LowerEquals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

std::vector<ByteRange> Union(std::vector<ByteRange> r);

/// Appends `r` as ParseRange's contract says: a list of `cap` ranges is
/// first replaced by its union, and more than `limit` left is the end.
bool Add(const ByteRange& r, std::size_t limit, std::size_t cap,
         std::vector<ByteRange>* out) {
  if (out->size() >= cap) {
    *out = Union(*out);
    if (out->size() > limit) return false;
  }
  out->push_back(r);
  return true;
}

/// The satisfiable ranges the header asks for, or false when it is to be
/// ignored (not "bytes", a syntax error, no spec at all, too many ranges
/// before the list's bound).
bool Satisfiable(std::string_view header, std::uint64_t size, std::size_t limit,
                 std::vector<ByteRange>* out) {
  const std::size_t cap = 2 * limit + 2;
  const std::size_t eq = header.find('=');
  if (eq == std::string_view::npos ||
      !LowerEquals(header.substr(0, eq), "bytes")) {
    return false;
  }
  std::string_view set = header.substr(eq + 1);
  bool any = false;
  while (true) {
    const std::size_t comma = set.find(',');
    const std::string_view spec = TrimOws(set.substr(0, comma));
    if (!spec.empty()) {
      any = true;
      const std::size_t dash = spec.find('-');
      if (dash == std::string_view::npos) return false;
      std::uint64_t first = 0;
      std::uint64_t last = 0;
      const std::string_view a = spec.substr(0, dash);
      const std::string_view b = spec.substr(dash + 1);
      if (a.empty()) {
        if (!Number(b, &last)) return false;
        if (last > 0 && size > 0 &&
            !Add({last >= size ? 0 : size - last, size - 1}, limit, cap, out)) {
          return false;
        }
      } else {
        if (!Number(a, &first)) return false;
        const bool open = b.empty();
        if (!open && !Number(b, &last)) return false;
        if (!open && last < first) return false;
        if (first < size &&
            !Add({first, open || last >= size ? size - 1 : last}, limit, cap,
                 out)) {
          return false;
        }
      }
    }
    if (comma == std::string_view::npos) break;
    set.remove_prefix(comma + 1);
  }
  return any;
}

/// Sorted, disjoint, non-adjacent intervals covering the same bytes.
std::vector<ByteRange> Union(std::vector<ByteRange> r) {
  std::sort(r.begin(), r.end(), [](const ByteRange& a, const ByteRange& b) {
    return a.first < b.first;
  });
  std::vector<ByteRange> u;
  for (const ByteRange& x : r) {
    if (!u.empty() && x.first <= u.back().last + 1) {
      u.back().last = std::max(u.back().last, x.last);
    } else {
      u.push_back(x);
    }
  }
  return u;
}

bool Equal(const std::vector<ByteRange>& a, const std::vector<ByteRange>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const ByteRange& x, const ByteRange& y) {
                      return x.first == y.first && x.last == y.last;
                    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string_view header(reinterpret_cast<const char*>(data), size);
  std::uint64_t file_size = 10000;
  int max_ranges = 16;
  if (const std::size_t nl = header.find('\n'); nl != std::string_view::npos) {
    const std::string_view line = header.substr(0, nl);
    const char* end = line.data() + line.size();
    std::uint64_t s = 0;
    int m = 0;
    auto [p, ec] = std::from_chars(line.data(), end, s);
    if (ec == std::errc() && p != end && *p == ' ') {
      auto [q, ec2] = std::from_chars(p + 1, end, m);
      if (ec2 == std::errc() && q == end) {
        file_size = s;
        max_ranges = m;
        header.remove_prefix(nl + 1);
      }
    }
  }

  static RangeResult result;  // reused, as a connection's layout is
  ferry::ParseRange(header, file_size, max_ranges, &result);
  const std::size_t limit =
      max_ranges > 0 ? static_cast<std::size_t>(max_ranges) : 0;
  // What a header costs is bounded by the limit, not by its length: a
  // fresh result never holds (or grows to hold) more than the bound.
  const std::size_t cap = 2 * limit + 2;
  FUZZ_CHECK(result.ranges.size() <= cap);
  {
    RangeResult fresh;
    ferry::ParseRange(header, file_size, max_ranges, &fresh);
    FUZZ_CHECK(fresh.kind == result.kind);
    FUZZ_CHECK(fresh.ranges.capacity() <= 2 * cap);
    FUZZ_CHECK(fresh.scratch.capacity() <= 2 * cap);
  }

  std::vector<ByteRange> asked;
  const bool valid = Satisfiable(header, file_size, limit, &asked);
  const std::vector<ByteRange> expected = Union(asked);
  Kind expected_kind = Kind::kIgnore;
  if (valid && asked.empty()) {
    expected_kind = Kind::kUnsatisfiable;
  } else if (valid && expected.size() <= limit) {
    expected_kind = Kind::kSatisfiable;
  }
  FUZZ_CHECK(result.kind == expected_kind);
  if (result.kind != Kind::kSatisfiable) {
    FUZZ_CHECK(result.ranges.empty());
    return 0;
  }

  // Satisfiable: within [0, size), at most max_ranges, never more bytes
  // than the file, exactly the bytes asked for.
  FUZZ_CHECK(!result.ranges.empty() && result.ranges.size() <= limit);
  std::uint64_t total = 0;
  for (const ByteRange& r : result.ranges) {
    FUZZ_CHECK(r.first <= r.last && r.last < file_size);
    FUZZ_CHECK(r.length() <= file_size - total);
    total += r.length();
  }
  FUZZ_CHECK(Equal(Union(result.ranges), expected));
  // No two ranges overlap or touch (they would have been coalesced), so
  // the union has as many intervals as the result.
  FUZZ_CHECK(expected.size() == result.ranges.size());
  return 0;
}

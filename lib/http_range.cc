#include "http_range.h"

#include <algorithm>
#include <limits>

#include "http_syntax.h"

namespace ferry {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads 1*DIGIT at `*pos`, saturating at 2^64-1 (a first-byte-pos that large
// is merely unsatisfiable, not malformed). False when there is no digit.
bool TakeNumber(std::string_view s, std::size_t* pos, std::uint64_t* value) {
  std::size_t i = *pos;
  std::uint64_t v = 0;
  while (i < s.size() && IsDigit(s[i])) {
    const auto digit = static_cast<std::uint64_t>(s[i] - '0');
    v = v > (kMax - digit) / 10 ? kMax : v * 10 + digit;
    ++i;
  }
  if (i == *pos) return false;
  *pos = i;
  *value = v;
  return true;
}

bool Touch(const ByteRange& a, const ByteRange& b) {
  // last < size <= 2^64-1, so last + 1 cannot overflow.
  return a.first <= b.last + 1 && b.first <= a.last + 1;
}

void SortByFirst(std::vector<ByteRange>* ranges) {
  std::sort(
      ranges->begin(), ranges->end(),
      [](const ByteRange& a, const ByteRange& b) { return a.first < b.first; });
}

// Merges overlapping or adjacent neighbours of a list sorted by first.
void Coalesce(std::vector<ByteRange>* ranges) {
  auto& r = *ranges;
  std::size_t out = 0;
  for (std::size_t i = 1; i < r.size(); ++i) {
    if (r[i].first <= r[out].last + 1) {
      r[out].last = std::max(r[out].last, r[i].last);
    } else {
      r[++out] = r[i];
    }
  }
  r.resize(out + 1);
}

// True when some two ranges overlap or are adjacent. Ascending, separated
// ranges (what clients send) are recognised in one pass; otherwise a copy
// sorted into `sorted` is checked, in O(n log n): a pairwise check let one
// request of 10,000 ranges hold a loop for a second. When the answer is
// true, `sorted` holds the ranges sorted by first.
bool AnyTouch(const std::vector<ByteRange>& r, std::vector<ByteRange>* sorted) {
  bool ascending = true;
  for (std::size_t i = 1; i < r.size() && ascending; ++i) {
    ascending = r[i - 1].last + 1 < r[i].first;
  }
  if (ascending) return false;
  sorted->assign(r.begin(), r.end());
  SortByFirst(sorted);
  for (std::size_t i = 1; i < sorted->size(); ++i) {
    if (Touch((*sorted)[i - 1], (*sorted)[i])) return true;
  }
  return false;
}

// Appends `r` to `ranges`, which never holds more than `cap` ranges: a
// full list is sorted and coalesced first. False when that leaves it with
// more than `limit` ranges (cap > limit): the Range is to be ignored.
bool AddRange(const ByteRange& r, std::size_t limit, std::size_t cap,
              std::vector<ByteRange>* ranges) {
  if (ranges->size() >= cap) {
    SortByFirst(ranges);
    Coalesce(ranges);
    if (ranges->size() > limit) return false;
  }
  ranges->push_back(r);
  return true;
}

// Parses the range-set after "bytes=" into `ranges`, dropping
// unsatisfiable specs and holding at most `cap` ranges (see AddRange).
// False on a syntax error, or when the ranges are too many.
bool ParseRangeSet(std::string_view set, std::uint64_t size, std::size_t limit,
                   std::size_t cap, std::vector<ByteRange>* ranges) {
  std::size_t pos = 0;
  bool any_spec = false;
  while (true) {
    // A list may hold empty elements ("a, ,b"); skip them with their OWS.
    while (pos < set.size() && (IsOws(set[pos]) || set[pos] == ',')) ++pos;
    if (pos == set.size()) break;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    if (set[pos] == '-') {
      ++pos;
      if (!TakeNumber(set, &pos, &last)) return false;
      // A suffix of 0 bytes, or any suffix of an empty file, is
      // unsatisfiable.
      if (last > 0 && size > 0 &&
          !AddRange({last >= size ? 0 : size - last, size - 1}, limit, cap,
                    ranges)) {
        return false;
      }
    } else {
      if (!TakeNumber(set, &pos, &first)) return false;
      if (pos == set.size() || set[pos] != '-') return false;
      ++pos;
      bool open = !TakeNumber(set, &pos, &last);
      if (!open && last < first) return false;
      if (first < size &&
          !AddRange({first, open || last >= size ? size - 1 : last}, limit, cap,
                    ranges)) {
        return false;
      }
    }
    any_spec = true;
    while (pos < set.size() && IsOws(set[pos])) ++pos;
    if (pos == set.size()) break;
    if (set[pos] != ',') return false;
  }
  return any_spec;
}

}  // namespace

void ParseRange(std::string_view header, std::uint64_t size, int max_ranges,
                RangeResult* out) {
  out->kind = RangeResult::Kind::kIgnore;
  out->ranges.clear();
  const std::size_t eq = header.find('=');
  if (eq == std::string_view::npos ||
      !EqualsLower(header.substr(0, eq), "bytes")) {
    return;
  }
  const std::size_t limit =
      max_ranges > 0 ? static_cast<std::size_t>(max_ranges) : 0;
  // Room for twice the limit before coalescing must bring the list down:
  // what a header of many small or overlapping ranges can cost is bounded
  // by the limit, not by the header's length.
  const std::size_t cap = 2 * limit + 2;
  if (!ParseRangeSet(header.substr(eq + 1), size, limit, cap, &out->ranges)) {
    out->ranges.clear();
    return;
  }
  if (out->ranges.empty()) {
    out->kind = RangeResult::Kind::kUnsatisfiable;
    return;
  }
  // The scratch space grows with the ranges, so that a reused result stops
  // allocating once it has seen a list that long, in whatever order.
  if (out->scratch.capacity() < out->ranges.capacity()) {
    out->scratch.reserve(out->ranges.capacity());
  }
  // Over the limit, only coalescing could still bring the count down, and
  // the order no longer matters (the whole header is ignored otherwise).
  if (out->ranges.size() > limit) {
    SortByFirst(&out->ranges);
    Coalesce(&out->ranges);
  } else if (AnyTouch(out->ranges, &out->scratch)) {
    out->ranges.swap(out->scratch);  // already sorted: coalesce only
    Coalesce(&out->ranges);
  }
  if (out->ranges.size() > limit) {
    out->ranges.clear();
    return;
  }
  out->kind = RangeResult::Kind::kSatisfiable;
}

}  // namespace ferry

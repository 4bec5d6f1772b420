#include "http_date.h"

#include <array>
#include <cstdint>

namespace ferry {
namespace {

constexpr std::array<std::string_view, 7> kShortDays = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "Sunday",   "Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonths = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

constexpr std::int64_t kSecondsPerDay = 86400;

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil). Pure arithmetic: no gmtime/timegm, which take glibc's
// time-zone lock on the hot path.
constexpr std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};

constexpr Civil CivilFromDays(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

bool IsLeap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned DaysInMonth(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

void Put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// A cursor over the date text; every Take* fails (returns false) rather than
// reading past the end.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}
  bool AtEnd() const { return pos_ == text_.size(); }

  bool Take(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  bool Take(std::string_view s) {
    if (text_.substr(pos_, s.size()) != s) return false;
    pos_ += s.size();
    return true;
  }
  /// Exactly `n` digits.
  bool TakeDigits(int n, unsigned* value) {
    unsigned v = 0;
    for (int i = 0; i < n; ++i) {
      if (pos_ >= text_.size()) return false;
      const char c = text_[pos_];
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
      ++pos_;
    }
    *value = v;
    return true;
  }
  template <std::size_t N>
  bool TakeName(const std::array<std::string_view, N>& names, unsigned* index) {
    for (std::size_t i = 0; i < N; ++i) {
      if (Take(names[i])) {
        *index = static_cast<unsigned>(i);
        return true;
      }
    }
    return false;
  }
  /// "HH:MM:SS".
  bool TakeTime(unsigned* h, unsigned* m, unsigned* s) {
    return TakeDigits(2, h) && Take(':') && TakeDigits(2, m) && Take(':') &&
           TakeDigits(2, s);
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

std::optional<std::time_t> Assemble(std::int64_t year, unsigned month,
                                    unsigned day, unsigned h, unsigned m,
                                    unsigned s) {
  // Second 60 is a leap second (RFC 9110 section 5.6.7); it rolls over.
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) ||
      h > 23 || m > 59 || s > 60) {
    return std::nullopt;
  }
  const std::int64_t seconds_of_day =
      std::int64_t{h} * 3600 + std::int64_t{m} * 60 + s;
  const std::int64_t t =
      DaysFromCivil(year, month, day) * kSecondsPerDay + seconds_of_day;
  return static_cast<std::time_t>(t);
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<std::time_t> ParseImfFixdate(std::string_view text) {
  Cursor c(text);
  unsigned wday, day, month, year, h, m, s;
  if (c.TakeName(kShortDays, &wday) && c.Take(", ") && c.TakeDigits(2, &day) &&
      c.Take(' ') && c.TakeName(kMonths, &month) && c.Take(' ') &&
      c.TakeDigits(4, &year) && c.Take(' ') && c.TakeTime(&h, &m, &s) &&
      c.Take(" GMT") && c.AtEnd()) {
    return Assemble(year, month + 1, day, h, m, s);
  }
  return std::nullopt;
}

// "Sunday, 06-Nov-94 08:49:37 GMT". Two-digit years below 70 are 20xx, as
// nginx and most clients read them.
std::optional<std::time_t> ParseRfc850(std::string_view text) {
  Cursor c(text);
  unsigned wday, day, month, year, h, m, s;
  if (c.TakeName(kLongDays, &wday) && c.Take(", ") && c.TakeDigits(2, &day) &&
      c.Take('-') && c.TakeName(kMonths, &month) && c.Take('-') &&
      c.TakeDigits(2, &year) && c.Take(' ') && c.TakeTime(&h, &m, &s) &&
      c.Take(" GMT") && c.AtEnd()) {
    return Assemble(year < 70 ? 2000 + year : 1900 + year, month + 1, day, h, m,
                    s);
  }
  return std::nullopt;
}

// "Sun Nov  6 08:49:37 1994" (the day may also be written "06").
std::optional<std::time_t> ParseAsctime(std::string_view text) {
  Cursor c(text);
  unsigned wday, day, month, year, h, m, s;
  if (!(c.TakeName(kShortDays, &wday) && c.Take(' ') &&
        c.TakeName(kMonths, &month) && c.Take(' '))) {
    return std::nullopt;
  }
  if (!(c.Take(' ') ? c.TakeDigits(1, &day) : c.TakeDigits(2, &day))) {
    return std::nullopt;
  }
  if (c.Take(' ') && c.TakeTime(&h, &m, &s) && c.Take(' ') &&
      c.TakeDigits(4, &year) && c.AtEnd()) {
    return Assemble(year, month + 1, day, h, m, s);
  }
  return std::nullopt;
}

}  // namespace

std::string_view FormatHttpDate(std::time_t t, char* out) {
  // Four-digit years only: clamp to 0000-01-01 .. 9999-12-31 23:59:59.
  constexpr std::int64_t kMin = DaysFromCivil(0, 1, 1) * kSecondsPerDay;
  constexpr std::int64_t kMax = DaysFromCivil(10000, 1, 1) * kSecondsPerDay - 1;
  std::int64_t secs = static_cast<std::int64_t>(t);
  if (secs < kMin) secs = kMin;
  if (secs > kMax) secs = kMax;
  std::int64_t days = secs / kSecondsPerDay;
  std::int64_t rem = secs % kSecondsPerDay;
  if (rem < 0) {
    rem += kSecondsPerDay;
    --days;
  }
  const Civil date = CivilFromDays(days);
  // 1970-01-01 was a Thursday (index 4).
  const auto wday = static_cast<std::size_t>(((days % 7) + 11) % 7);
  const auto year = static_cast<unsigned>(date.year);
  const auto sod = static_cast<unsigned>(rem);

  char* p = out;
  for (char ch : kShortDays[wday]) *p++ = ch;
  *p++ = ',';
  *p++ = ' ';
  Put2(p, date.day);
  p += 2;
  *p++ = ' ';
  for (char ch : kMonths[date.month - 1]) *p++ = ch;
  *p++ = ' ';
  Put2(p, year / 100);
  Put2(p + 2, year % 100);
  p += 4;
  *p++ = ' ';
  Put2(p, sod / 3600);
  p[2] = ':';
  Put2(p + 3, sod / 60 % 60);
  p[5] = ':';
  Put2(p + 6, sod % 60);
  p += 8;
  for (char ch : std::string_view(" GMT")) *p++ = ch;
  return std::string_view(out, kHttpDateLength);
}

std::optional<std::time_t> ParseHttpDate(std::string_view text) {
  if (text.size() < 4) return std::nullopt;
  // The weekday tells the formats apart: "Sun," / "Sunday," / "Sun ".
  if (text[3] == ',') return ParseImfFixdate(text);
  if (text[3] == ' ') return ParseAsctime(text);
  return ParseRfc850(text);
}

}  // namespace ferry

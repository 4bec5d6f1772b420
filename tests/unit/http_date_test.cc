#include "http_date.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry {
namespace {

constexpr std::time_t kRfcExample = 784111777;  // Sun, 06 Nov 1994 08:49:37

std::string Format(std::time_t t) {
  char buf[kHttpDateLength];
  return std::string(FormatHttpDate(t, buf));
}

TEST(FormatHttpDate, RfcExample) {
  EXPECT_EQ(Format(kRfcExample), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(FormatHttpDate, Epoch) {
  EXPECT_EQ(Format(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(FormatHttpDate, LeapDayAndYearEnd) {
  EXPECT_EQ(Format(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(Format(1704067199), "Sun, 31 Dec 2023 23:59:59 GMT");
}

TEST(FormatHttpDate, BeyondThirtyTwoBits) {
  EXPECT_EQ(Format(4102444800), "Fri, 01 Jan 2100 00:00:00 GMT");
}

TEST(FormatHttpDate, BeforeEpoch) {
  EXPECT_EQ(Format(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
  EXPECT_EQ(Format(-2208988800), "Mon, 01 Jan 1900 00:00:00 GMT");
}

TEST(FormatHttpDate, WritesExactlyTwentyNineBytes) {
  char buf[kHttpDateLength + 1];
  buf[kHttpDateLength] = 'X';
  const std::string_view view = FormatHttpDate(kRfcExample, buf);
  EXPECT_EQ(view.size(), kHttpDateLength);
  EXPECT_EQ(view.data(), buf);
  EXPECT_EQ(buf[kHttpDateLength], 'X');
}

TEST(FormatHttpDate, ClampsToFourDigitYears) {
  EXPECT_EQ(Format(static_cast<std::time_t>(1) << 50),
            "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(Format(-(static_cast<std::time_t>(1) << 50)),
            "Sat, 01 Jan 0000 00:00:00 GMT");
}

TEST(ParseHttpDate, ImfFixdate) {
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), kRfcExample);
}

TEST(ParseHttpDate, Rfc850) {
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), kRfcExample);
}

TEST(ParseHttpDate, Rfc850TwoDigitYearPivot) {
  EXPECT_EQ(ParseHttpDate("Thursday, 01-Jan-70 00:00:00 GMT"), 0);
  EXPECT_EQ(ParseHttpDate("Monday, 01-Jan-24 00:00:00 GMT"), 1704067200);
}

TEST(ParseHttpDate, Asctime) {
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), kRfcExample);
  EXPECT_EQ(ParseHttpDate("Sun Nov 06 08:49:37 1994"), kRfcExample);
  EXPECT_EQ(ParseHttpDate("Sat Feb 29 12:00:00 2020"), 1582977600);
}

TEST(ParseHttpDate, RoundTrip) {
  for (std::time_t t : {std::time_t{0}, kRfcExample, std::time_t{951782400},
                        std::time_t{1700000000}, std::time_t{4102444800}}) {
    EXPECT_EQ(ParseHttpDate(Format(t)), t) << Format(t);
  }
}

TEST(ParseHttpDate, LeapSecondRollsOver) {
  EXPECT_EQ(ParseHttpDate("Sat, 31 Dec 2016 23:59:60 GMT"), 1483228800);
}

TEST(ParseHttpDate, RejectsMalformed) {
  for (std::string_view bad : {
           "",
           "Sun",
           "Sun, 06 Nov 1994 08:49:37",         // no zone
           "Sun, 06 Nov 1994 08:49:37 UTC",     // wrong zone
           "Sun, 06 Nov 1994 08:49:37 GMT ",    // trailing space
           " Sun, 06 Nov 1994 08:49:37 GMT",    // leading space
           "Sun, 6 Nov 1994 08:49:37 GMT",      // one-digit day
           "Sun, 06 nov 1994 08:49:37 GMT",     // month case
           "Xyz, 06 Nov 1994 08:49:37 GMT",     // weekday
           "Sun, 06 Nov 94 08:49:37 GMT",       // two-digit year
           "Sun, 31 Nov 1994 08:49:37 GMT",     // no 31 November
           "Mon, 29 Feb 2100 00:00:00 GMT",     // 2100 is not leap
           "Sun, 00 Nov 1994 08:49:37 GMT",     // day 0
           "Sun, 06 Nov 1994 24:00:00 GMT",     // hour
           "Sun, 06 Nov 1994 08:60:00 GMT",     // minute
           "Sun, 06 Nov 1994 08:49:61 GMT",     // second
           "Sun, 06 Nov 1994 08-49-37 GMT",     // separators
           "Sunday, 06-Nov-1994 08:49:37 GMT",  // RFC 850 with 4-digit year
           "Sunday, 06 Nov 94 08:49:37 GMT",    // RFC 850 without dashes
           "Sun Nov  6 08:49:37 94",            // asctime 2-digit year
           "Sun Nov 6 08:49:37 1994",           // asctime unpadded day
           "Sun Nov  6 08:49:37 1994 GMT",      // asctime with zone
           "1994-11-06T08:49:37Z",
           "784111777",
       }) {
    EXPECT_FALSE(ParseHttpDate(bad).has_value()) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace ferry

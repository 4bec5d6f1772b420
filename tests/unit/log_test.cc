#include "log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace ferry {
namespace {

TEST(LogRing, AFullRingDropsAndCountsInsteadOfWaiting) {
  // An access log nobody drains would block a writer; the ring must not.
  UniqueFd none;
  LogRing ring(4, "off", std::move(none));
  std::uint64_t before = LogRing::Dropped();
  auto start = std::chrono::steady_clock::now();
  SetLogLevel(LogLevel::kError);
  int accepted = 0;
  for (int i = 0; i < 100000; ++i) {
    // The log thread drains every 100 ms: a 4-record ring overflows.
    accepted += LogRing::AccessLog("x\n", 2) ? 1 : 0;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_FALSE(LogRing::AccessLogEnabled());
  EXPECT_LT(accepted, 100000);
  EXPECT_EQ(LogRing::Dropped() - before, 100000u - accepted);
}

TEST(Log, LevelsFilter) {
  SetLogLevel(LogLevel::kWarning);
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  EXPECT_TRUE(LogEnabled(LogLevel::kWarning));
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_EQ(ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("nonsense"), LogLevel::kInfo);
}

}  // namespace
}  // namespace ferry

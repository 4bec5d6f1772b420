#include "send_limit.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

// 100,000 bytes/s: a quantum of 5,000 (a twentieth of a second's worth).
constexpr std::uint64_t kRate = 100'000;

TEST(SendLimit, WithoutARateEverythingMayGo) {
  SendLimit limit;
  limit.Start(0);
  EXPECT_FALSE(limit.limited());
  EXPECT_EQ(limit.Allowance(0, 1'000'000'000), SendLimit::kUnlimited);
  EXPECT_EQ(limit.LimitedBytes(0, 1000), 0U);
}

TEST(SendLimit, TheFirstBytesAndAQuantumGoAtOnce) {
  SendLimit limit(kRate, 50'000);
  limit.Start(1000);
  EXPECT_EQ(limit.Quantum(), 5'000U);
  EXPECT_EQ(limit.Allowance(1000, 0), 55'000U);
  EXPECT_EQ(limit.Allowance(1000, 55'000), 0U);
}

TEST(SendLimit, TheAllowanceGrowsAtTheRate) {
  SendLimit limit(kRate, 0);
  limit.Start(0);
  EXPECT_EQ(limit.Allowance(0, 5'000), 0U);
  EXPECT_EQ(limit.Allowance(10, 5'000), 1'000U);       // 10 ms: 1,000 bytes
  EXPECT_EQ(limit.Allowance(2'500, 5'000), 250'000U);  // 2.5 s
  // Over a long response the average is the rate: 10 s, a million bytes.
  EXPECT_EQ(limit.Allowance(10'000, 1'005'000), 0U);
}

TEST(SendLimit, TheNextSendIsWhenAQuantumIsAllowedAgain) {
  SendLimit limit(kRate, 0);
  limit.Start(100);
  // Sent the first quantum: the next one is allowed 50 ms later.
  std::int64_t next = limit.NextSendMs(5'000);
  EXPECT_EQ(next, 150);
  EXPECT_EQ(limit.Allowance(next, 5'000), limit.Quantum());
  EXPECT_EQ(limit.Allowance(next - 1, 5'000), limit.Quantum() - 100);
  // Not a whole number of milliseconds: rounded up, never early.
  next = limit.NextSendMs(5'001);
  EXPECT_GE(limit.Allowance(next, 5'001), limit.Quantum());
  EXPECT_LT(limit.Allowance(next - 1, 5'001), limit.Quantum());
}

TEST(SendLimit, WithinTheFreeBytesTheNextSendIsNow) {
  SendLimit limit(kRate, 50'000);
  limit.Start(700);
  EXPECT_EQ(limit.NextSendMs(49'999), 700);
}

TEST(SendLimit, OnlyBytesPastTheFreeOnesCountAsLimited) {
  SendLimit limit(kRate, 1'000);
  EXPECT_EQ(limit.LimitedBytes(0, 999), 0U);
  EXPECT_EQ(limit.LimitedBytes(500, 1'500), 500U);
  EXPECT_EQ(limit.LimitedBytes(2'000, 3'000), 1'000U);
}

TEST(SendLimit, TheQuantumStaysBetweenOneAnd64KiB) {
  EXPECT_EQ(SendLimit(1024, 0).Quantum(), 1024U);
  EXPECT_EQ(SendLimit(std::uint64_t{1} << 30, 0).Quantum(), 65'536U);
}

TEST(SendLimit, AWeekLongResponseAtAHighRateDoesNotOverflow) {
  constexpr std::uint64_t kFast = std::uint64_t{64} << 30;  // 64 GiB/s
  SendLimit limit(kFast, 0);
  limit.Start(0);
  constexpr std::int64_t kWeekMs = std::int64_t{7} * 24 * 3600 * 1000;
  EXPECT_EQ(limit.Allowance(kWeekMs, 0),
            kFast * 7 * 24 * 3600 + limit.Quantum());
}

}  // namespace
}  // namespace ferry

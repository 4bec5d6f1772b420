#include "send_rate.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

// 1,000 bytes/s over 10 s windows: 10,000 bytes a window.
constexpr std::uint64_t kRate = 1000;
constexpr std::int64_t kWindow = 10'000;

TEST(SendRate, NothingIsJudgedBeforeAWindowEnds) {
  SendRate rate(kRate, kWindow);
  rate.Start(0);
  EXPECT_FALSE(rate.TooSlow(kWindow - 1, 1'000'000, 1'000'000));
}

TEST(SendRate, AClientBelowTheRateWithOurBytesWaitingIsTooSlow) {
  SendRate rate(kRate, kWindow);
  rate.Start(0);
  // Sent 100,000; it acknowledged 9,999 in the window.
  EXPECT_TRUE(rate.TooSlow(kWindow, 100'000, 100'000 - 9'999));
}

TEST(SendRate, AClientAtTheRateOpensTheNextWindow) {
  SendRate rate(kRate, kWindow);
  rate.Start(0);
  EXPECT_FALSE(rate.TooSlow(kWindow, 100'000, 90'000));  // took 10,000
  EXPECT_EQ(rate.window_start_ms(), kWindow);
  // The next window counts from what it had taken: 5,000 more is too few.
  EXPECT_TRUE(rate.TooSlow(2 * kWindow, 100'000, 85'000));
}

TEST(SendRate, WaitingForUsIsNotTheClientsFault) {
  SendRate rate(kRate, kWindow);
  rate.Start(0);
  // Everything we sent was acknowledged: the disk was slow, not the client.
  EXPECT_FALSE(rate.TooSlow(kWindow, 500, 0));
}

TEST(SendRate, ZeroMeansNoMinimum) {
  SendRate rate(0, kWindow);
  rate.Start(0);
  EXPECT_FALSE(rate.TooSlow(100 * kWindow, 100'000, 100'000));
}

TEST(SendRate, StartForgetsTheLastResponse) {
  SendRate rate(kRate, kWindow);
  rate.Start(0);
  EXPECT_FALSE(rate.TooSlow(kWindow, 50'000, 0));
  rate.Start(kWindow + 5);
  EXPECT_FALSE(rate.TooSlow(2 * kWindow, 0, 0));  // the window is not over
  EXPECT_TRUE(rate.TooSlow(2 * kWindow + 5, 1'000, 1'000));
}

}  // namespace
}  // namespace ferry

#include "pacer.h"

#include <gtest/gtest.h>

#include <vector>

namespace ferry {
namespace {

TEST(Pacer, NobodyWaitingMeansNoTimeout) {
  Pacer pacer;
  EXPECT_EQ(pacer.TimeoutMs(0), -1);
}

TEST(Pacer, TheTimeoutIsUntilTheEarliest) {
  Pacer pacer;
  pacer.Add(500, 1);
  pacer.Add(120, 2);
  pacer.Add(300, 3);
  EXPECT_EQ(pacer.TimeoutMs(100), 20);
  EXPECT_EQ(pacer.TimeoutMs(200), 0);  // overdue: at once
}

TEST(Pacer, TheDueOnesComeOutEarliestFirstAndOnlyThey) {
  Pacer pacer;
  pacer.Add(500, 1);
  pacer.Add(120, 2);
  pacer.Add(300, 3);
  std::vector<std::uint64_t> due = {99};
  pacer.TakeDue(300, &due);
  EXPECT_EQ(due, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(pacer.size(), 1U);
  EXPECT_EQ(pacer.TimeoutMs(300), 200);
  pacer.TakeDue(499, &due);
  EXPECT_TRUE(due.empty());
}

}  // namespace
}  // namespace ferry

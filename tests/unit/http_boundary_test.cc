#include "http_boundary.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>

namespace ferry {
namespace {

bool IsLowerHex(std::string_view text) {
  return text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

TEST(MakeBoundary, HexDigitsAndNul) {
  char out[kBoundaryLength + 1];
  const std::string_view boundary = MakeBoundary(out);
  EXPECT_EQ(boundary.size(), kBoundaryLength);
  EXPECT_EQ(boundary.data(), out);
  EXPECT_TRUE(IsLowerHex(boundary)) << boundary;
  EXPECT_EQ(out[kBoundaryLength], '\0');
}

// Consecutive boundaries share no structure a client could extrapolate:
// no two are equal, and they do not differ in a few low digits only (as a
// counter, or a counter times a constant, would).
TEST(MakeBoundary, ConsecutiveBoundariesAreUnrelated) {
  char out[kBoundaryLength + 1];
  std::set<std::string> seen;
  std::string previous(MakeBoundary(out));
  int same_prefix = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string next(MakeBoundary(out));
    EXPECT_TRUE(seen.insert(next).second) << next;
    if (next.substr(0, 8) == previous.substr(0, 8)) ++same_prefix;
    previous = next;
  }
  EXPECT_LE(same_prefix, 1);
}

// Each thread draws its own key: two threads' first boundaries differ.
TEST(MakeBoundary, ThreadsDrawTheirOwnKeys) {
  std::string first[2];
  for (std::string& boundary : first) {
    std::thread([&boundary] {
      char out[kBoundaryLength + 1];
      boundary = MakeBoundary(out);
    }).join();
  }
  EXPECT_NE(first[0], first[1]);
}

}  // namespace
}  // namespace ferry

#include "http_range.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "allocation_counter.h"
namespace ferry {
namespace {

using Kind = RangeResult::Kind;
using Pairs = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

constexpr int kMaxRanges = 64;

RangeResult Parse(std::string_view header, std::uint64_t size,
                  int max_ranges = kMaxRanges) {
  RangeResult result;
  ParseRange(header, size, max_ranges, &result);
  return result;
}

Pairs Ranges(const RangeResult& result) {
  Pairs out;
  for (const ByteRange& r : result.ranges) out.emplace_back(r.first, r.last);
  return out;
}

TEST(ParseRange, Single) {
  const RangeResult r = Parse("bytes=0-99", 1000);
  EXPECT_EQ(r.kind, Kind::kSatisfiable);
  EXPECT_EQ(Ranges(r), (Pairs{{0, 99}}));
  EXPECT_EQ(r.ranges[0].length(), 100u);
}

TEST(ParseRange, SingleByte) {
  EXPECT_EQ(Ranges(Parse("bytes=999-999", 1000)), (Pairs{{999, 999}}));
  EXPECT_EQ(Ranges(Parse("bytes=0-0", 1)), (Pairs{{0, 0}}));
}

TEST(ParseRange, Suffix) {
  EXPECT_EQ(Ranges(Parse("bytes=-100", 1000)), (Pairs{{900, 999}}));
  EXPECT_EQ(Ranges(Parse("bytes=-1", 1000)), (Pairs{{999, 999}}));
}

TEST(ParseRange, SuffixLongerThanFileIsWholeFile) {
  EXPECT_EQ(Ranges(Parse("bytes=-5000", 1000)), (Pairs{{0, 999}}));
  EXPECT_EQ(Ranges(Parse("bytes=-1000", 1000)), (Pairs{{0, 999}}));
}

TEST(ParseRange, OpenEnded) {
  EXPECT_EQ(Ranges(Parse("bytes=100-", 1000)), (Pairs{{100, 999}}));
  EXPECT_EQ(Ranges(Parse("bytes=0-", 1000)), (Pairs{{0, 999}}));
}

TEST(ParseRange, LastClampedToSize) {
  EXPECT_EQ(Ranges(Parse("bytes=500-99999", 1000)), (Pairs{{500, 999}}));
  EXPECT_EQ(Ranges(Parse("bytes=0-1000", 1000)), (Pairs{{0, 999}}));
}

TEST(ParseRange, ListKeepsOrderWhenSeparate) {
  const RangeResult r = Parse("bytes=500-599,0-99,-100", 1000);
  EXPECT_EQ(r.kind, Kind::kSatisfiable);
  EXPECT_EQ(Ranges(r), (Pairs{{500, 599}, {0, 99}, {900, 999}}));
}

TEST(ParseRange, ListWithOwsAndEmptyElements) {
  EXPECT_EQ(Ranges(Parse("bytes=0-9 , 20-29,,\t40-49", 100)),
            (Pairs{{0, 9}, {20, 29}, {40, 49}}));
}

TEST(ParseRange, TrailingEmptyElementIsAllowed) {
  EXPECT_EQ(Ranges(Parse("bytes=0-9,", 1000)), (Pairs{{0, 9}}));
}

TEST(ParseRange, OverlapCoalescesAndSorts) {
  EXPECT_EQ(Ranges(Parse("bytes=500-700,0-99,600-800", 1000)),
            (Pairs{{0, 99}, {500, 800}}));
}

TEST(ParseRange, AdjacentCoalesce) {
  EXPECT_EQ(Ranges(Parse("bytes=100-199,0-99", 1000)), (Pairs{{0, 199}}));
  EXPECT_EQ(Ranges(Parse("bytes=0-9,10-19,30-39", 1000)),
            (Pairs{{0, 19}, {30, 39}}));
}

TEST(ParseRange, GapOfOneByteDoesNotCoalesce) {
  EXPECT_EQ(Ranges(Parse("bytes=0-9,11-19", 1000)), (Pairs{{0, 9}, {11, 19}}));
}

TEST(ParseRange, ContainedRangeCoalesces) {
  EXPECT_EQ(Ranges(Parse("bytes=0-999,10-20", 1000)), (Pairs{{0, 999}}));
  EXPECT_EQ(Ranges(Parse("bytes=-500,0-", 1000)), (Pairs{{0, 999}}));
}

TEST(ParseRange, UnsatisfiableSpecsDropped) {
  EXPECT_EQ(Ranges(Parse("bytes=2000-3000,0-9,1000-", 1000)), (Pairs{{0, 9}}));
  EXPECT_EQ(Ranges(Parse("bytes=-0,0-9", 1000)), (Pairs{{0, 9}}));
}

TEST(ParseRange, NoneLeftIsUnsatisfiable) {
  EXPECT_EQ(Parse("bytes=1000-", 1000).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(Parse("bytes=1000-1000", 1000).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(Parse("bytes=-0", 1000).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(Parse("bytes=5000-6000,-0", 1000).kind, Kind::kUnsatisfiable);
  EXPECT_TRUE(Parse("bytes=1000-", 1000).ranges.empty());
}

TEST(ParseRange, EmptyFileAnyValidRangeIsUnsatisfiable) {
  for (std::string_view h :
       {"bytes=0-", "bytes=0-0", "bytes=-1", "bytes=-0", "bytes=0-99,-5"}) {
    EXPECT_EQ(Parse(h, 0).kind, Kind::kUnsatisfiable) << h;
  }
  EXPECT_EQ(Parse("bytes=abc", 0).kind, Kind::kIgnore);
}

TEST(ParseRange, SyntaxErrorsAreIgnored) {
  for (std::string_view h : {
           "",
           "bytes",
           "bytes=",
           "bytes=,",
           "bytes=-",
           "bytes=abc",
           "bytes=1",
           "bytes=5-1",      // last before first
           "bytes=0-9,5-1",  // one bad spec spoils the set
           "bytes=0-9;10-19",
           "bytes=0 -9",
           "bytes= 0-9x",
           "bytes=--5",
           "bytes=+1-2",
           "bytes=0x10-20",
       }) {
    const RangeResult r = Parse(h, 1000);
    EXPECT_EQ(r.kind, Kind::kIgnore) << h;
    EXPECT_TRUE(r.ranges.empty()) << h;
  }
}

TEST(ParseRange, OtherUnitsAreIgnored) {
  EXPECT_EQ(Parse("items=0-9", 1000).kind, Kind::kIgnore);
  EXPECT_EQ(Parse("byte=0-9", 1000).kind, Kind::kIgnore);
  EXPECT_EQ(Parse("bytes =0-9", 1000).kind, Kind::kIgnore);
}

TEST(ParseRange, UnitIsCaseInsensitive) {
  EXPECT_EQ(Ranges(Parse("Bytes=0-9", 1000)), (Pairs{{0, 9}}));
  EXPECT_EQ(Ranges(Parse("BYTES=0-9", 1000)), (Pairs{{0, 9}}));
}

TEST(ParseRange, HugeFileOverFourGiB) {
  constexpr std::uint64_t kSize = 6ull << 30;  // 6 GiB
  EXPECT_EQ(Ranges(Parse("bytes=5000000000-", kSize)),
            (Pairs{{5000000000ull, kSize - 1}}));
  EXPECT_EQ(Ranges(Parse("bytes=-5000000000", kSize)),
            (Pairs{{kSize - 5000000000ull, kSize - 1}}));
  EXPECT_EQ(Ranges(Parse("bytes=4294967296-4294967299", kSize)),
            (Pairs{{4294967296ull, 4294967299ull}}));
}

TEST(ParseRange, NumbersBeyondSixtyFourBitsSaturate) {
  EXPECT_EQ(Ranges(Parse("bytes=0-99999999999999999999999999", 1000)),
            (Pairs{{0, 999}}));
  EXPECT_EQ(Ranges(Parse("bytes=-99999999999999999999999999", 1000)),
            (Pairs{{0, 999}}));
  EXPECT_EQ(Parse("bytes=99999999999999999999999999-", 1000).kind,
            Kind::kUnsatisfiable);
}

TEST(ParseRange, MaxRangesExactlyIsAllowed) {
  EXPECT_EQ(Parse("bytes=0-0,2-2,4-4", 100, 3).kind, Kind::kSatisfiable);
}

TEST(ParseRange, OverMaxRangesIsIgnored) {
  const RangeResult r = Parse("bytes=0-0,2-2,4-4,6-6", 100, 3);
  EXPECT_EQ(r.kind, Kind::kIgnore);
  EXPECT_TRUE(r.ranges.empty());
}

TEST(ParseRange, MaxRangesCountsAfterCoalescing) {
  const RangeResult r = Parse("bytes=0-0,1-1,2-2,3-3,10-10", 100, 2);
  EXPECT_EQ(r.kind, Kind::kSatisfiable);
  EXPECT_EQ(Ranges(r), (Pairs{{0, 3}, {10, 10}}));
}

TEST(ParseRange, ManyOverlappingSpecsCollapse) {
  std::string header = "bytes=";
  for (int i = 0; i < 1000; ++i) header += "0-99,";
  const RangeResult r = Parse(header, 1000, 8);
  EXPECT_EQ(r.kind, Kind::kSatisfiable);
  EXPECT_EQ(Ranges(r), (Pairs{{0, 99}}));
}

// A header of thousands of specs (16 KB of "0-,") costs what the limit
// allows, not what the header is long: the list is coalesced on the way.
TEST(ParseRange, LongListStaysWithinTheLimitsBound) {
  std::string header = "bytes=";
  while (header.size() < 16 * 1024 - 3) header += "0-,";
  header += "0-";
  ASSERT_GT(header.size() / 3, 5000u);
  RangeResult r;
  const AllocationCounter counter;
  ParseRange(header, 1000, 4, &r);
  EXPECT_EQ(r.kind, Kind::kSatisfiable);
  EXPECT_EQ(Ranges(r), (Pairs{{0, 999}}));
  EXPECT_LE(r.ranges.capacity(), 2u * (2 * 4 + 2));
  EXPECT_LE(r.scratch.capacity(), 2u * (2 * 4 + 2));
  EXPECT_LE(counter.count(), 10);
}

// Disjoint specs beyond twice the limit are not read on: the header is
// ignored, as it would be once coalesced, without holding them all.
TEST(ParseRange, ManyDisjointSpecsAreIgnoredWithinTheBound) {
  std::string header = "bytes=";
  for (int i = 0; i < 5300; ++i)
    header += std::to_string(2 * i) + "-" + std::to_string(2 * i) + ",";
  RangeResult r;
  ParseRange(header, 100000, 4, &r);
  EXPECT_EQ(r.kind, Kind::kIgnore);
  EXPECT_TRUE(r.ranges.empty());
  EXPECT_LE(r.ranges.capacity(), 2u * (2 * 4 + 2));
  // Within twice the limit, coalescing still counts as before.
  EXPECT_EQ(Ranges(Parse("bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,"
                         "0-20",
                         100, 4)),
            (Pairs{{0, 20}}));
}

TEST(ParseRange, ReusesCapacity) {
  RangeResult r;
  ParseRange("bytes=0-0,2-2,4-4,6-6", 100, 8, &r);
  ASSERT_EQ(r.ranges.size(), 4u);
  const ByteRange* data = r.ranges.data();
  ParseRange("bytes=10-19", 100, 8, &r);
  EXPECT_EQ(r.ranges.data(), data);
  EXPECT_EQ(Ranges(r), (Pairs{{10, 19}}));
  ParseRange("nonsense", 100, 8, &r);
  EXPECT_EQ(r.kind, Kind::kIgnore);
  EXPECT_TRUE(r.ranges.empty());
}

TEST(ParseRange, ReusedResultAllocatesNothing) {
  RangeResult r;
  ParseRange("bytes=0-0,2-2,4-4,6-6,8-8", 100, 8, &r);
  const AllocationCounter counter;
  ParseRange("bytes=8-8,0-0,4-4,2-2,6-6", 100, 8, &r);
  ParseRange("bytes=0-5,2-9,-3", 100, 8, &r);
  EXPECT_EQ(counter.count(), 0);
}

}  // namespace
}  // namespace ferry

#include "continuation_table.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <vector>

namespace ferry {
namespace {

struct Thing {
  int value = 0;
};

auto MakeThing = [] { return std::make_unique<Thing>(); };

TEST(ContinuationTable, FindsALiveObjectByItsToken) {
  ContinuationTable<Thing> table(4);
  Thing* thing = nullptr;
  std::uint64_t token = table.Add(&thing, MakeThing);
  ASSERT_NE(token, ContinuationTable<Thing>::kNoToken);
  thing->value = 7;
  ASSERT_EQ(table.Find(token), thing);
  EXPECT_EQ(table.live(), 1u);
}

TEST(ContinuationTable, AStaleTokenFindsNothingEvenWhenTheSlotIsReused) {
  ContinuationTable<Thing> table(1);
  Thing* first = nullptr;
  std::uint64_t old_token = table.Add(&first, MakeThing);
  table.Remove(old_token);
  EXPECT_EQ(table.Find(old_token), nullptr);
  Thing* second = nullptr;
  std::uint64_t new_token = table.Add(&second, MakeThing);
  EXPECT_EQ(second, first) << "the slot's object is recycled";
  EXPECT_NE(new_token, old_token);
  EXPECT_EQ(table.Find(old_token), nullptr) << "a read of the old client";
  EXPECT_EQ(table.Find(new_token), second);
}

TEST(ContinuationTable, RefusesWhenFullAndRemovingTwiceIsHarmless) {
  ContinuationTable<Thing> table(2);
  Thing* thing = nullptr;
  std::uint64_t a = table.Add(&thing, MakeThing);
  std::uint64_t b = table.Add(&thing, MakeThing);
  EXPECT_EQ(table.Add(&thing, MakeThing), ContinuationTable<Thing>::kNoToken);
  table.Remove(a);
  table.Remove(a);
  EXPECT_EQ(table.live(), 1u);
  EXPECT_NE(table.Find(b), nullptr);
  EXPECT_NE(table.Add(&thing, MakeThing), ContinuationTable<Thing>::kNoToken);
}

TEST(ContinuationTable, GarbageTokensFindNothing) {
  ContinuationTable<Thing> table(2);
  EXPECT_EQ(table.Find(0), nullptr);
  EXPECT_EQ(table.Find(UINT64_MAX), nullptr);
  EXPECT_EQ(table.Find((1ull << 32) | 1), nullptr);
}

TEST(ContinuationTable, ForEachVisitsLiveObjectsAndAllowsRemoval) {
  ContinuationTable<Thing> table(3);
  Thing* thing = nullptr;
  table.Add(&thing, MakeThing);
  std::uint64_t b = table.Add(&thing, MakeThing);
  table.Add(&thing, MakeThing);
  table.Remove(b);
  int visited = 0;
  table.ForEach([&](std::uint64_t token, Thing&) {
    ++visited;
    table.Remove(token);
  });
  EXPECT_EQ(visited, 2);
  EXPECT_EQ(table.live(), 0u);
}

TEST(ContinuationTable, ForEachVisitsExactlyTheLiveAfterMixedAddsAndRemoves) {
  ContinuationTable<Thing> table(64);
  Thing* thing = nullptr;
  std::set<std::uint64_t> live;
  std::vector<std::uint64_t> order;
  for (int i = 0; i < 64; ++i) order.push_back(table.Add(&thing, MakeThing));
  // Remove every third, in an order unlike the adds, then refill some.
  for (std::size_t i = 0; i < order.size(); ++i) {
    std::size_t pick = (i * 37) % order.size();
    if (pick % 3 == 0) table.Remove(order[pick]);
  }
  for (std::uint64_t token : order) {
    if (table.Find(token) != nullptr) live.insert(token);
  }
  for (int i = 0; i < 5; ++i) live.insert(table.Add(&thing, MakeThing));
  std::set<std::uint64_t> visited;
  table.ForEach([&](std::uint64_t token, Thing& object) {
    EXPECT_EQ(table.Find(token), &object);
    EXPECT_TRUE(visited.insert(token).second) << "visited twice";
  });
  EXPECT_EQ(visited, live);
  EXPECT_EQ(table.live(), live.size());
}

TEST(ContinuationTable, ObjectsAddedDuringForEachWaitForTheNextWalk) {
  ContinuationTable<Thing> table(8);
  Thing* thing = nullptr;
  table.Add(&thing, MakeThing);
  table.Add(&thing, MakeThing);
  int visited = 0;
  table.ForEach([&](std::uint64_t token, Thing&) {
    ++visited;
    table.Add(&thing, MakeThing);  // an accept during a walk
    table.Remove(token);
  });
  EXPECT_EQ(visited, 2);
  EXPECT_EQ(table.live(), 2u);
}

}  // namespace
}  // namespace ferry

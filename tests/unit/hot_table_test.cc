#include "hot_table.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ferry {
namespace {

constexpr std::int64_t kWindow = 1000;

FileStatus File(std::uint64_t inode, std::uint64_t size) {
  FileStatus status;
  status.type = FileStatus::Type::kRegular;
  status.inode = inode;
  status.device = 7;
  status.size = size;
  status.mtime_sec = 1'700'000'000;
  status.change_ns = 1;
  return status;
}

TEST(HotTableTest, AFileSentOnceStaysColdAndTwiceIsHot) {
  HotTable table(1000, kWindow, 2);
  const FileStatus a = File(1, 100);
  EXPECT_EQ(table.Request(a, a.size, 0), -1);
  const int entry = table.Request(a, a.size, 10);
  ASSERT_GE(entry, 0);
  EXPECT_EQ(table.Request(a, a.size, 20), entry);
  EXPECT_TRUE(table.Wanted(entry, a));
  EXPECT_EQ(table.charged(), 100u);
  EXPECT_EQ(table.admitted(), 1u);
}

TEST(HotTableTest, ACountHalvesEveryWindow) {
  HotTable table(1000, kWindow, 2);
  const FileStatus a = File(1, 100);
  EXPECT_EQ(table.Request(a, a.size, 0), -1);
  // Two windows later the first request counts for nothing.
  EXPECT_EQ(table.Request(a, a.size, 2 * kWindow), -1);
  EXPECT_GE(table.Request(a, a.size, 2 * kWindow + 1), 0);
}

TEST(HotTableTest, AHotFileNoLongerAskedForCoolsAndGivesItsRoomBack) {
  HotTable table(1000, kWindow, 2);
  const FileStatus a = File(1, 100);
  table.Request(a, a.size, 0);
  const int entry = table.Request(a, a.size, 1);
  ASSERT_GE(entry, 0);
  table.CoolDown(2 * kWindow + 1);
  EXPECT_TRUE(table.Wanted(entry, a));
  // Two copies halve below half a copy in three windows.
  table.CoolDown(3 * kWindow + 1);
  EXPECT_FALSE(table.Wanted(entry, a));
  EXPECT_EQ(table.charged(), 0u);
  EXPECT_EQ(table.evicted(), 1u);
}

TEST(HotTableTest, AFileChangedOnDiskIsForgotten) {
  HotTable table(1000, kWindow, 2);
  const FileStatus a = File(1, 100);
  table.Request(a, a.size, 0);
  const int entry = table.Request(a, a.size, 1);
  ASSERT_TRUE(table.Hold(entry, 0, a));
  table.Forget(entry, a);
  EXPECT_FALSE(table.Wanted(entry, a));
  EXPECT_EQ(table.charged(), 100u);  // until the pin goes
  table.Release(entry, 0);
  EXPECT_EQ(table.charged(), 0u);
}

TEST(HotTableTest, RangesThatAddUpToOneCopyAreOneDownload) {
  HotTable table(1000, kWindow, 2);
  const FileStatus a = File(1, 100);
  // A download manager's four connections, a quarter each.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(table.Request(a, 25, i), -1);
  EXPECT_EQ(table.Request(a, 50, 5), -1);  // one and a half copies
  EXPECT_GE(table.Request(a, 50, 6), 0);   // two: sent again
}

TEST(HotTableTest, AFileLargerThanTheBudgetIsNeverHot) {
  HotTable table(1000, kWindow, 2);
  const FileStatus big = File(1, 1001);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(table.Request(big, big.size, i), -1);
  EXPECT_EQ(table.charged(), 0u);
}

TEST(HotTableTest, AChangedFileIsAnotherEntry) {
  HotTable table(1000, kWindow, 2);
  FileStatus a = File(1, 100);
  table.Request(a, a.size, 0);
  const int entry = table.Request(a, a.size, 1);
  ASSERT_GE(entry, 0);
  FileStatus changed = a;
  changed.change_ns = 2;
  EXPECT_FALSE(table.Wanted(entry, changed));
  EXPECT_EQ(table.Request(changed, changed.size, 2),
            -1);  // asked for once, as itself
}

TEST(HotTableTest, AdmissionEvictsTheLeastAskedForAndKeepsTheBudget) {
  HotTable table(100, kWindow, 2);
  const FileStatus a = File(1, 60), b = File(2, 60);
  table.Request(a, a.size, 0);
  const int ea = table.Request(a, a.size, 1);
  ASSERT_GE(ea, 0);
  table.Request(b, b.size, 2);
  const int eb = table.Request(b, b.size, 3);  // as popular as a, and newer
  ASSERT_GE(eb, 0);
  EXPECT_FALSE(table.Wanted(ea, a));
  EXPECT_TRUE(table.Wanted(eb, b));
  EXPECT_EQ(table.charged(), 60u);
  EXPECT_EQ(table.evicted(), 1u);
}

TEST(HotTableTest, APopularFileIsNotDisplacedByOneAskedForLess) {
  HotTable table(100, kWindow, 2);
  const FileStatus a = File(1, 60), b = File(2, 60);
  for (int i = 0; i < 5; ++i) table.Request(a, a.size, i);
  const int ea = table.Request(a, a.size, 5);
  table.Request(b, b.size, 6);
  EXPECT_EQ(table.Request(b, b.size, 7), -1);
  EXPECT_TRUE(table.Wanted(ea, a));
  EXPECT_EQ(table.charged(), 60u);
}

TEST(HotTableTest, AnEvictedFileStillPinnedKeepsItsBytesUntilReleased) {
  HotTable table(100, kWindow, 2);
  const FileStatus a = File(1, 60), b = File(2, 60);
  table.Request(a, a.size, 0);
  const int ea = table.Request(a, a.size, 1);
  ASSERT_TRUE(table.Hold(ea, 0, a));
  table.Request(b, b.size, 2);
  // a is evicted for b, but slot 0 still pins it: no room for b yet.
  EXPECT_EQ(table.Request(b, b.size, 3), -1);
  EXPECT_FALSE(table.Wanted(ea, a));
  EXPECT_EQ(table.charged(), 60u);
  table.Release(ea, 0);
  EXPECT_EQ(table.charged(), 0u);
  EXPECT_GE(table.Request(b, b.size, 4), 0);
  EXPECT_EQ(table.charged(), 60u);
}

TEST(HotTableTest, AHoldOnAFileEvictedMeanwhileIsRefused) {
  HotTable table(100, kWindow, 2);
  const FileStatus a = File(1, 60), b = File(2, 60);
  table.Request(a, a.size, 0);
  const int ea = table.Request(a, a.size, 1);
  table.Request(b, b.size, 2);
  ASSERT_GE(table.Request(b, b.size, 3),
            0);  // a evicted before anyone pinned it
  EXPECT_FALSE(table.Hold(ea, 1, a));
  EXPECT_EQ(table.charged(), 60u);
}

TEST(HotTableTest, ReleaseAllLetsGoOfEverythingASlotHeld) {
  HotTable table(700, kWindow, 3);
  const FileStatus a = File(1, 60), b = File(2, 60), c = File(3, 600);
  table.Request(a, a.size, 0);
  const int ea = table.Request(a, a.size, 1);
  table.Request(b, b.size, 0);
  const int eb = table.Request(b, b.size, 1);
  ASSERT_TRUE(table.Hold(ea, 2, a));
  ASSERT_TRUE(table.Hold(eb, 2, b));
  ASSERT_TRUE(table.Hold(eb, 1, b));
  // c evicts a, which slot 2 still pins: no room for c yet.
  table.Request(c, c.size, 2);
  EXPECT_EQ(table.Request(c, c.size, 3), -1);
  EXPECT_EQ(table.charged(), 120u);
  // Slot 2's process is gone: a's bytes leave, b stays hot.
  table.ReleaseAll(2);
  EXPECT_EQ(table.charged(), 60u);
  EXPECT_TRUE(table.Wanted(eb, b));
  EXPECT_GE(table.Request(c, c.size, 4), 0);
  EXPECT_EQ(table.charged(), 660u);
}

TEST(HotTableTest, ProcessesForkedAfterItShareOneTable) {
  HotTable table(1000, kWindow, 2);
  const FileStatus a = File(1, 100);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(table.Request(a, a.size, 0) == -1 ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The child's request counted: this one is the second.
  EXPECT_GE(table.Request(a, a.size, 1), 0);
}

}  // namespace
}  // namespace ferry

#include "extent_map.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "test_files.h"
#include "unique_fd.h"

namespace ferry {
namespace {

constexpr std::uint64_t kBlock = 4096;

/// A file of `extents` extents: every other 4 KiB block written.
UniqueFd Fragmented(testing::TempDir& dir, int extents) {
  std::string path = dir.path() + "/fragmented";
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  std::string block(kBlock, 'x');
  for (int i = 0; i < extents; ++i) {
    EXPECT_EQ(pwrite(fd.get(), block.data(), kBlock, 2 * i * kBlock),
              static_cast<ssize_t>(kBlock));
  }
  EXPECT_EQ(fsync(fd.get()), 0);  // FIEMAP maps what has blocks
  return fd;
}

TEST(ExtentMap, AReadStaysInsideOneExtent) {
  testing::TempDir dir;
  UniqueFd fd = Fragmented(dir, 8);
  ExtentMap map;
  int result = map.Load(fd.get());
  if (result == -EOPNOTSUPP) GTEST_SKIP() << dir.path() << " has no FIEMAP";
  ASSERT_EQ(result, 0);
  EXPECT_EQ(map.extents(), 8u);
  // From an extent's start: up to its end, whatever was asked.
  EXPECT_EQ(map.OneRequest(0, 1 << 20, 0), kBlock);
  EXPECT_EQ(map.OneRequest(2 * kBlock, 1 << 20, 0), kBlock);
  // From a hole: up to the end of the extent after it.
  EXPECT_EQ(map.OneRequest(kBlock, 1 << 20, 0), 2 * kBlock);
  // Smaller asks stay as they are; past the last extent nothing is cut.
  EXPECT_EQ(map.OneRequest(0, 512, 0), 512u);
  EXPECT_EQ(map.OneRequest(64 * kBlock, 1 << 20, 0), 1u << 20);
}

TEST(ExtentMap, ADeviceLimitCutsLongReads) {
  ExtentMap empty;  // nothing loaded: only the device's limit applies
  EXPECT_EQ(empty.OneRequest(0, 1 << 20, 128 * 1024), 128u * 1024);
  EXPECT_EQ(empty.OneRequest(0, 1 << 20, 0), 1u << 20);
}

TEST(ExtentMap, TooManyExtentsMeansOneBlockAtATime) {
  testing::TempDir dir;
  UniqueFd fd = Fragmented(dir, ExtentMap::kMaxExtents + 10);
  ExtentMap map;
  int result = map.Load(fd.get());
  if (result == -EOPNOTSUPP) GTEST_SKIP() << dir.path() << " has no FIEMAP";
  ASSERT_EQ(result, 0);
  EXPECT_EQ(map.extents(), 0u);  // not kept: bounded memory
  EXPECT_EQ(map.OneRequest(0, 1 << 20, 0), kBlock);
  map.Clear();
  EXPECT_EQ(map.OneRequest(0, 1 << 20, 0), 1u << 20);
}

}  // namespace
}  // namespace ferry

#include "block_queue.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace ferry {
namespace {

TEST(BlockQueue, WorkersShareThreeQuartersOfTheQueue) {
  BlockQueue queue{256, 1 << 20};
  EXPECT_EQ(ReadsInFlightShare(queue, 2, 128), 96u);
  EXPECT_EQ(ReadsInFlightShare(queue, 1, 128), 128u);   // --queue-depth wins
  EXPECT_EQ(ReadsInFlightShare(queue, 1000, 128), 1u);  // never none
  EXPECT_EQ(ReadsInFlightShare(BlockQueue{}, 2, 128), 128u);  // unknown
}

TEST(BlockQueue, AnUnknownDeviceHasNoQueue) {
  BlockQueue queue = ReadBlockQueue(makedev(0, 0));
  EXPECT_EQ(queue.requests, 0u);
  EXPECT_EQ(queue.max_request_bytes, 0u);
}

TEST(BlockQueue, TheRootFileSystemsDiskIsFound) {
  struct stat root {};
  ASSERT_EQ(stat("/", &root), 0);
  BlockQueue queue = ReadBlockQueue(root.st_dev);
  if (queue.requests == 0) GTEST_SKIP() << "/ is not on a block device";
  EXPECT_GT(queue.max_request_bytes, 0u);
}

}  // namespace
}  // namespace ferry

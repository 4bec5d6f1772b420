#include "block_reads.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(BlockReads, AReadNamesItsBlock) {
  BlockReads reads(8);
  EXPECT_EQ(reads.blocks(), 8u);
  for (std::uint32_t block = 0; block < 8; ++block) {
    EXPECT_EQ(reads.BlockOf(&reads.Of(block)), block);
  }
  // What the kernel hands back is the iocb; its read is the same object.
  EXPECT_EQ(reads.BlockOf(AioRead::FromRaw(reads.Of(5).raw())), 5u);
}

}  // namespace
}  // namespace ferry

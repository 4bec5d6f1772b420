#include "buffer_pool.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

namespace ferry {
namespace {

TEST(BufferPool, BlocksArePageAlignedDistinctAndBounded) {
  BufferPool pool(64 * 1024, 8);
  std::set<std::uint32_t> taken;
  for (int i = 0; i < 8; ++i) {
    std::uint32_t block = pool.Acquire();
    ASSERT_NE(block, BufferPool::kNone);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(pool.Data(block)) % 4096, 0u);
    taken.insert(block);
  }
  EXPECT_EQ(taken.size(), 8u);
  EXPECT_EQ(pool.Acquire(), BufferPool::kNone) << "the pool never grows";
  EXPECT_EQ(pool.free_count(), 0u);
}

TEST(BufferPool, ReleasedBlocksComeBackAndHoldData) {
  BufferPool pool(4096, 2);
  std::uint32_t a = pool.Acquire();
  std::memset(pool.Data(a), 'x', pool.block_size());
  pool.Release(a);
  EXPECT_EQ(pool.free_count(), 2u);
  std::uint32_t again = pool.Acquire();
  EXPECT_EQ(again, a) << "most recently used first: it is warm";
  EXPECT_EQ(pool.Data(again)[4095], 'x');
}

TEST(BufferPool, BlocksDoNotOverlap) {
  BufferPool pool(8192, 3);
  std::uint32_t a = pool.Acquire(), b = pool.Acquire();
  std::memset(pool.Data(a), 1, 8192);
  std::memset(pool.Data(b), 2, 8192);
  EXPECT_EQ(pool.Data(a)[8191], 1);
  EXPECT_EQ(pool.Data(b)[0], 2);
}

/// Resident pages of [data, data + bytes), by mincore.
std::size_t ResidentPages(char* data, std::size_t bytes) {
  const std::size_t page = 4096;
  std::vector<unsigned char> vec(bytes / page);
  EXPECT_EQ(mincore(data, bytes, vec.data()), 0);
  std::size_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  return resident;
}

TEST(BufferPool, GrowsAStepAtATimeWhenFreeBlocksRunLow) {
  constexpr std::size_t kBlock = 1 << 20;  // steps of 8 blocks
  BufferPool pool(kBlock, 20, /*initial_blocks=*/1);
  EXPECT_EQ(pool.ready_count(), 8u) << "at least a step";
  EXPECT_EQ(ResidentPages(pool.Data(8), 12 * kBlock), 0u)
      << "the rest is address space only";
  EXPECT_FALSE(pool.NextGrowth()) << "a step's worth is free";

  std::vector<std::uint32_t> taken;
  for (int i = 0; i < 4; ++i) taken.push_back(pool.Acquire());
  EXPECT_FALSE(pool.NextGrowth()) << "half a step is free";
  taken.push_back(pool.Acquire());
  const std::optional<BufferPool::Growth> growth = pool.NextGrowth();
  ASSERT_TRUE(growth);
  EXPECT_EQ(growth->data, pool.Data(8));
  EXPECT_EQ(growth->bytes, 8 * kBlock);
  EXPECT_FALSE(pool.NextGrowth()) << "one step at a time";
  while (pool.free_count() > 0) taken.push_back(pool.Acquire());
  EXPECT_EQ(pool.Acquire(), BufferPool::kNone) << "not before it is present";
  EXPECT_TRUE(pool.can_grow());

  ASSERT_EQ(MakePresent(growth->data, growth->bytes), 0);
  EXPECT_EQ(ResidentPages(growth->data, growth->bytes), 8 * kBlock / 4096);
  pool.Grew(0);
  EXPECT_EQ(pool.ready_count(), 16u);
  EXPECT_EQ(pool.free_count(), 8u);

  for (int i = 0; i < 5; ++i) taken.push_back(pool.Acquire());
  const std::optional<BufferPool::Growth> last = pool.NextGrowth();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->bytes, 4 * kBlock) << "not past the pool's size";
  pool.Grew(0);
  EXPECT_EQ(pool.ready_count(), 20u);
  EXPECT_FALSE(pool.can_grow());
  EXPECT_FALSE(pool.NextGrowth());
  std::set<std::uint32_t> distinct(taken.begin(), taken.end());
  EXPECT_EQ(distinct.size(), 13u);
  for (std::uint32_t block : taken) pool.Release(block);
  EXPECT_EQ(pool.free_count(), 20u);
}

TEST(BufferPool, AFailedStepStopsTheGrowth) {
  BufferPool pool(1 << 20, 20, 1);
  while (pool.free_count() > 0) pool.Acquire();
  ASSERT_TRUE(pool.NextGrowth());
  pool.Grew(-ENOMEM);
  EXPECT_EQ(pool.ready_count(), 8u);
  EXPECT_FALSE(pool.can_grow());
  EXPECT_FALSE(pool.NextGrowth());
}

}  // namespace
}  // namespace ferry

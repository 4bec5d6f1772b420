#include "buffer_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>

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

}  // namespace
}  // namespace ferry

#include "input_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace ferry {
namespace {

constexpr std::size_t kInitial = InputBuffer::kInitial;

/// `n` bytes that tell their positions apart.
std::string Pattern(std::size_t n) {
  std::string bytes(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    bytes[i] = static_cast<char>('a' + i % 23 + i / 23 % 3);
  }
  return bytes;
}

/// Receives `bytes` into `buffer`, as a connection does.
void Receive(InputBuffer& buffer, const std::string& bytes) {
  buffer.Prepare();
  ASSERT_LE(bytes.size(), buffer.room());
  std::memcpy(buffer.space(), bytes.data(), bytes.size());
  buffer.Added(bytes.size());
}

TEST(InputBufferTest, HoldsNothingUntilPreparedThenABlock) {
  InputBlocks blocks;
  InputBuffer buffer;
  buffer.Reset(16384, &blocks);
  EXPECT_EQ(buffer.capacity(), 0u) << "an idle client costs no input memory";
  EXPECT_EQ(buffer.size(), 0u);
  buffer.Prepare();
  EXPECT_EQ(buffer.capacity(), kInitial);
  EXPECT_EQ(buffer.room(), kInitial);
  EXPECT_FALSE(buffer.full());
  EXPECT_FALSE(buffer.at_limit());
}

TEST(InputBufferTest, ALimitBelowTheInitialSizeIsTheCapacity) {
  InputBlocks blocks;
  InputBuffer buffer;
  buffer.Reset(1000, &blocks);
  buffer.Prepare();
  EXPECT_EQ(buffer.capacity(), 1000u);
  EXPECT_TRUE(buffer.at_limit());
  Receive(buffer, Pattern(1000));
  EXPECT_TRUE(buffer.full());
}

TEST(InputBufferTest, GrowDoublesUpToTheLimitAndKeepsTheBytes) {
  InputBlocks blocks;
  InputBuffer buffer;
  buffer.Reset(5000, &blocks);
  const std::string head = Pattern(kInitial);
  Receive(buffer, head);
  EXPECT_TRUE(buffer.full());
  buffer.Grow();
  EXPECT_EQ(blocks.spares(), 1u) << "the block went back";
  EXPECT_EQ(buffer.capacity(), 2 * kInitial);
  EXPECT_FALSE(buffer.at_limit());
  EXPECT_EQ(buffer.bytes(), head);
  EXPECT_EQ(buffer.room(), kInitial);
  buffer.Grow();
  EXPECT_EQ(buffer.capacity(), 5000u) << "not past the limit";
  EXPECT_TRUE(buffer.at_limit());
  EXPECT_EQ(buffer.bytes(), head);
  buffer.Grow();
  EXPECT_EQ(buffer.capacity(), 5000u);
}

TEST(InputBufferTest, ConsumeMovesTheRestToTheFrontAndAnEmptyOneGivesBack) {
  InputBlocks blocks;
  InputBuffer buffer;
  buffer.Reset(16384, &blocks);
  const std::string bytes = Pattern(1500);
  Receive(buffer, bytes);
  buffer.Consume(600);
  EXPECT_EQ(buffer.bytes(), bytes.substr(600));
  EXPECT_EQ(buffer.capacity(), kInitial);
  EXPECT_EQ(blocks.spares(), 0u);
  buffer.Consume(900);
  EXPECT_EQ(buffer.size(), 0u);
  EXPECT_EQ(buffer.capacity(), 0u);
  EXPECT_EQ(blocks.spares(), 1u);
  buffer.Prepare();
  EXPECT_EQ(blocks.spares(), 0u) << "the spare is taken again";
  EXPECT_EQ(buffer.room(), kInitial);
}

TEST(InputBufferTest, ConsumeShrinksOnlyWhenTheRestFits) {
  InputBlocks blocks;
  InputBuffer buffer;
  buffer.Reset(16384, &blocks);
  buffer.Prepare();
  buffer.Grow();
  buffer.Grow();
  ASSERT_EQ(buffer.capacity(), 4 * kInitial);
  const std::string bytes = Pattern(4 * kInitial);
  Receive(buffer, bytes);

  buffer.Consume(kInitial - 1);  // 3 * kInitial + 1 left: no smaller
  EXPECT_EQ(buffer.capacity(), 4 * kInitial);
  EXPECT_EQ(buffer.bytes(), bytes.substr(kInitial - 1));

  buffer.Consume(2 * kInitial + 1);  // exactly kInitial left: fits
  EXPECT_EQ(buffer.capacity(), kInitial);
  EXPECT_EQ(buffer.bytes(), bytes.substr(3 * kInitial));
  EXPECT_TRUE(buffer.full());
}

TEST(InputBufferTest, ReleaseGivesBackABlockAndFreesAGrownBuffer) {
  InputBlocks blocks;
  InputBuffer buffer;
  buffer.Reset(16384, &blocks);
  Receive(buffer, "abc");
  buffer.Release();
  EXPECT_EQ(buffer.size(), 0u);
  EXPECT_EQ(buffer.capacity(), 0u);
  EXPECT_EQ(blocks.spares(), 1u);

  Receive(buffer, "abc");
  buffer.Grow();
  EXPECT_EQ(blocks.spares(), 1u);
  buffer.Release();
  EXPECT_EQ(buffer.capacity(), 0u);
  EXPECT_EQ(blocks.spares(), 1u) << "a grown buffer is freed, not kept";
  buffer.Reset(16384, &blocks);
  Receive(buffer, Pattern(kInitial));
  EXPECT_EQ(buffer.bytes(), Pattern(kInitial));
}

TEST(InputBlocksTest, KeepsABoundedNumberOfSpares) {
  InputBlocks blocks;
  for (std::size_t i = 0; i < InputBlocks::kMaxSpares + 10; ++i) {
    blocks.Give(std::make_unique<char[]>(InputBlocks::kSize));
  }
  EXPECT_EQ(blocks.spares(), InputBlocks::kMaxSpares);
}

}  // namespace
}  // namespace ferry

#include "aio_context.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "buffer_pool.h"
#include "test_files.h"

namespace ferry {
namespace {

using testing::TempDir;

class AioContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::SupportsDirectIo(dir_.path())) {
      GTEST_SKIP() << dir_.path() << " refuses O_DIRECT";
    }
    content_.resize(3 * 4096 + 100);
    for (std::size_t i = 0; i < content_.size(); ++i) {
      content_[i] = static_cast<char>('a' + i % 26);
    }
    std::string path = dir_.Write("data", content_);
    fd_.Reset(open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
    ASSERT_TRUE(fd_);
  }

  /// Waits for the eventfd and reaps until `count` completions arrived.
  std::vector<AioCompletion> WaitFor(AioContext& aio, std::size_t count) {
    std::vector<AioCompletion> all, batch;
    while (all.size() < count) {
      pollfd pfd{aio.event_fd(), POLLIN, 0};
      if (poll(&pfd, 1, 5000) != 1) break;
      aio.Reap(&batch);
      all.insert(all.end(), batch.begin(), batch.end());
    }
    return all;
  }

  TempDir dir_;
  std::string content_;
  UniqueFd fd_;
};

TEST_F(AioContextTest, ReadsCompleteWithTheirTokensAndBytes) {
  AioContext aio(8);
  BufferPool pool(4096, 4);
  AioRead reads[4];
  for (std::uint32_t i = 0; i < 4; ++i) {
    ASSERT_EQ(pool.Acquire(), i);
    reads[i].Prepare(fd_.get(), pool.Data(i), 4096, i * 4096ull, 100 + i,
                     false);
    aio.Queue(&reads[i]);
  }
  EXPECT_EQ(aio.Capacity(), 4u);
  aio.Submit();
  EXPECT_EQ(aio.in_flight(), 4u);
  std::vector<AioCompletion> done = WaitFor(aio, 4);
  ASSERT_EQ(done.size(), 4u);
  for (const AioCompletion& completion : done) {
    auto i = static_cast<std::uint32_t>(completion.read - reads);
    EXPECT_EQ(completion.read->token(), 100 + i);
    // The last block holds the file's 100-byte tail: a short read.
    long expected = i < 3 ? 4096 : 100;
    EXPECT_EQ(completion.result, expected);
    EXPECT_EQ(std::memcmp(pool.Data(i), content_.data() + i * 4096, expected),
              0);
  }
  EXPECT_EQ(aio.in_flight(), 0u);
}

TEST_F(AioContextTest, InjectedFailuresReplaceResults) {
  AioContext aio(4);
  BufferPool pool(4096, 1);
  AioRead read;
  read.Prepare(fd_.get(), pool.Data(pool.Acquire()), 4096, 0, 1, true);
  aio.InjectFailures(1, -EIO);
  aio.Queue(&read);
  aio.Submit();
  std::vector<AioCompletion> done = WaitFor(aio, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result, -EIO);
}

TEST_F(AioContextTest, AMisalignedReadFailsWithoutHurtingTheOthers) {
  AioContext aio(4);
  BufferPool pool(8192, 2);
  AioRead bad, good;
  // O_DIRECT needs aligned offsets: 1 is not.
  bad.Prepare(fd_.get(), pool.Data(pool.Acquire()), 4096, 1, 1, false);
  good.Prepare(fd_.get(), pool.Data(pool.Acquire()), 4096, 0, 2, false);
  aio.Queue(&bad);
  aio.Queue(&good);
  aio.Submit();
  std::vector<AioCompletion> done = WaitFor(aio, 2);
  ASSERT_EQ(done.size(), 2u);
  for (const AioCompletion& completion : done) {
    if (completion.read == &bad) {
      EXPECT_EQ(completion.result, -EINVAL);
    } else {
      EXPECT_EQ(completion.result, 4096);
    }
  }
}

TEST(AioContext, AnImpossibleDepthSaysWhichSysctlToRaise) {
  try {
    AioContext aio(1u << 20);  // more than fs.aio-max-nr's default 65536
    FAIL() << "io_setup accepted 2^20 events";
  } catch (const std::system_error& error) {
    EXPECT_NE(std::string(error.what()).find("fs.aio-max-nr"),
              std::string::npos)
        << error.what();
  }
}

// Closing a file whose read is queued but not yet submitted: the read is
// taken back, so it can never reach whatever reuses the descriptor number.
TEST_F(AioContextTest, AnUnsubmittedReadCanBeTakenBack) {
  AioContext aio(4);
  BufferPool pool(4096, 2);
  AioRead kept, dropped;
  kept.Prepare(fd_.get(), pool.Data(pool.Acquire()), 4096, 0, 1, false);
  dropped.Prepare(fd_.get(), pool.Data(pool.Acquire()), 4096, 4096, 2, false);
  aio.Queue(&kept);
  aio.Queue(&dropped);
  EXPECT_TRUE(aio.Unqueue(&dropped));
  EXPECT_FALSE(aio.Unqueue(&dropped));
  EXPECT_EQ(aio.Capacity(), 3u);
  aio.Submit();
  EXPECT_FALSE(aio.Unqueue(&kept));  // submitted: the kernel has it
  std::vector<AioCompletion> done = WaitFor(aio, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].read, &kept);
  EXPECT_EQ(aio.in_flight(), 0u);
}

}  // namespace
}  // namespace ferry

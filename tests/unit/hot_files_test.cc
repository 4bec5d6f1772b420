#include "hot_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>

#include <string>
#include <vector>

#include "helper_pool.h"
#include "signals.h"
#include "test_files.h"

namespace ferry {
namespace {

using testing::TempDir;

class HotFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BlockDaemonSignals();
    sigset_t doorbell;
    sigemptyset(&doorbell);
    sigaddset(&doorbell, kDoorbellSignal);
    signals_ = std::make_unique<SignalFd>(doorbell);
    dir_.Write("big.bin", std::string(3 * 4096 + 17, 'h'));
    root_ = std::make_unique<DocumentRoot>(dir_.path());
    OpenedFile opened = root_->Open("big.bin", /*cached_only=*/false);
    ASSERT_EQ(opened.error, 0);
    status_ = opened.status;
  }

  /// Waits for the helpers' doorbell and hands back what they finished.
  void TakeJobs(HelperPool& pool, HotFiles& hot, std::size_t count) {
    std::vector<HelperJob> batch;
    std::size_t taken = 0;
    while (taken < count) {
      pollfd pfd{signals_->fd(), POLLIN, 0};
      ASSERT_EQ(poll(&pfd, 1, 5000), 1) << "no helper finished";
      signalfd_siginfo info[8];
      signals_->Read(info, 8);
      pool.TakeCompleted(&batch);
      for (HelperJob& job : batch) {
        if (job.kind == HelperJob::Kind::kPin) hot.OnPinned(job);
        if (job.kind == HelperJob::Kind::kUnpin) hot.OnUnpinned(job);
        ++taken;
      }
    }
  }

  TempDir dir_;
  std::unique_ptr<SignalFd> signals_;
  std::unique_ptr<DocumentRoot> root_;
  FileStatus status_;
  WorkerCounters counters_{};
};

TEST_F(HotFilesTest, APinIsABufferedDescriptorOverLockedResidentPages) {
  UniqueFd fd;
  void* mapping = nullptr;
  ASSERT_EQ(PinFile(*root_, "big.bin", status_, &fd, &mapping), 0);
  EXPECT_EQ(fcntl(fd.get(), F_GETFL) & O_DIRECT, 0);
  const std::size_t pages = (status_.size + 4095) / 4096;
  std::vector<unsigned char> resident(pages);
  ASSERT_EQ(mincore(mapping, status_.size, resident.data()), 0);
  for (unsigned char page : resident) EXPECT_EQ(page & 1, 1);
  const int file = open((dir_.path() + "/big.bin").c_str(), O_RDONLY);
  ASSERT_GE(file, 0);
  UnpinFile(std::move(fd), mapping, status_.size);
  // The last pin gone, the file's pages leave the page cache.
  void* look = mmap(nullptr, status_.size, PROT_READ, MAP_SHARED, file, 0);
  ASSERT_NE(look, MAP_FAILED);
  ASSERT_EQ(mincore(look, status_.size, resident.data()), 0);
  for (unsigned char page : resident) EXPECT_EQ(page & 1, 0);
  munmap(look, status_.size);
  close(file);
}

TEST_F(HotFilesTest, AFileChangedSinceItsStatusIsNotPinned) {
  FileStatus old = status_;
  old.change_ns -= 1;
  UniqueFd fd;
  void* mapping = nullptr;
  EXPECT_EQ(PinFile(*root_, "big.bin", old, &fd, &mapping), -ESTALE);
  EXPECT_FALSE(fd);
}

TEST_F(HotFilesTest, TheSecondCopySentPinsAndTheNextIsSentFromThePin) {
  HotTable table(1 << 20, 60'000, 2);
  HelperPool pool(1, *root_, CurrentThreadId());
  HotFiles hot(table, 0, pool, counters_);
  EXPECT_EQ(hot.Find(status_), nullptr);
  hot.Count("big.bin", status_, status_.size, 0);
  EXPECT_EQ(hot.Find(status_), nullptr);
  hot.Count("big.bin", status_, status_.size, 1);  // hot: pinning
  hot.Count("big.bin", status_, status_.size, 2);  // one pin job only
  EXPECT_EQ(hot.Find(status_), nullptr);
  TakeJobs(pool, hot, 1);
  std::shared_ptr<const PinnedFile> pinned = hot.Find(status_);
  ASSERT_NE(pinned, nullptr);
  EXPECT_EQ(hot.pinned_bytes(), status_.size);
  EXPECT_EQ(counters_.hot_pins.load(), 1u);
  PinnedBody body;
  body.Reset(pinned);
  EXPECT_TRUE(body.ServesAnyRange());
  EXPECT_EQ(body.SendfileFd(0, status_.size), pinned->fd.get());
}

TEST_F(HotFilesTest, AnEvictedPinGoesOnlyOnceNoResponseSendsFromIt) {
  HotTable table(status_.size, 60'000, 2);
  HelperPool pool(1, *root_, CurrentThreadId());
  HotFiles hot(table, 0, pool, counters_);
  hot.Count("big.bin", status_, status_.size, 0);
  hot.Count("big.bin", status_, status_.size, 1);
  TakeJobs(pool, hot, 1);
  std::shared_ptr<const PinnedFile> sending = hot.Find(status_);
  ASSERT_NE(sending, nullptr);
  // Another file, asked for more often, takes the budget.
  FileStatus other = status_;
  other.inode += 1;
  for (int i = 0; i < 8; ++i) table.Request(other, other.size, 3 + i);
  hot.OnTick(20);
  EXPECT_EQ(hot.pins(), 0u);
  EXPECT_EQ(counters_.hot_unpins.load(), 0u);  // still sending
  EXPECT_EQ(table.charged(), status_.size);    // and still charged
  sending.reset();
  hot.OnTick(20);
  EXPECT_EQ(counters_.hot_unpins.load(), 1u);
  TakeJobs(pool, hot, 1);
  EXPECT_EQ(table.charged(), 0u);
  EXPECT_GE(table.Request(other, other.size, 20), 0);
}

TEST_F(HotFilesTest, APinOfAFileDeletedOnDiskIsLetGoAtTheTick) {
  HotTable table(1 << 20, 60'000, 2);
  HelperPool pool(1, *root_, CurrentThreadId());
  HotFiles hot(table, 0, pool, counters_);
  hot.Count("big.bin", status_, status_.size, 0);
  hot.Count("big.bin", status_, status_.size, 1);
  TakeJobs(pool, hot, 1);
  ASSERT_EQ(hot.pins(), 1u);
  hot.OnTick(2);
  EXPECT_EQ(hot.pins(), 1u);  // unchanged: kept
  ASSERT_EQ(unlink((dir_.path() + "/big.bin").c_str()), 0);
  hot.OnTick(3);
  EXPECT_EQ(hot.pins(), 0u);
  EXPECT_EQ(hot.Find(status_), nullptr);
  TakeJobs(pool, hot, 1);
  EXPECT_EQ(table.charged(), 0u);
}

}  // namespace
}  // namespace ferry

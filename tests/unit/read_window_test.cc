#include "read_window.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "signals.h"
#include "test_files.h"

namespace ferry {
namespace {

using Outcome = ReadWindow::ReadOutcome;
using testing::TempDir;

/// Blocks the daemon's signals before any helper thread starts, so that the
/// doorbell reaches the signalfd (helper_pool.h).
struct DaemonSignalsBlocked {
  DaemonSignalsBlocked() { BlockDaemonSignals(); }
};

sigset_t Doorbell() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kDoorbellSignal);
  return set;
}

/// A window on a real O_DIRECT file, driven as the worker drives it: reads
/// queued by Fill, one io_submit, completions reaped from the eventfd and
/// handed back by block.
class ReadWindowTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kBlock = 16384;
  static constexpr std::uint32_t kBlocks = 8;
  static constexpr std::uint64_t kOwner = 77;

  void SetUp() override {
    if (!testing::SupportsDirectIo(dir_.path())) {
      GTEST_SKIP() << dir_.path() << " refuses O_DIRECT";
    }
    services_.nowait_reads = false;
    // Random bytes: a block read from the wrong offset cannot match.
    std::mt19937 random(12345);
    content_.resize(5 * kBlock + 1000);
    for (char& c : content_) c = static_cast<char>(random());
    path_ = dir_.Write("data", content_);
    UniqueFd probe = OpenDirect();
    ASSERT_TRUE(probe);
    FileStatus status;
    ASSERT_EQ(StatOpenFile(probe.get(), &status), 0);
    align_ = status.direct_align != 0 ? status.direct_align : 4096;
    if (kBlock % align_ != 0) {
      GTEST_SKIP() << "O_DIRECT alignment " << align_ << " exceeds a block";
    }
  }

  UniqueFd OpenDirect() const {
    return UniqueFd(open(path_.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  }
  /// Opens the test file into `window` and sizes its ring.
  void Open(ReadWindow& window, std::size_t slots) {
    window.Resize(slots);
    UniqueFd fd = OpenDirect();
    ASSERT_TRUE(fd);
    window.Open(std::move(fd), kOwner, align_, false, services_);
  }
  std::uint64_t AlignDown(std::uint64_t offset) const {
    return offset / align_ * align_;
  }

  /// Submits what is queued and reaps until nothing is in flight.
  std::vector<AioCompletion> SubmitAndReap() {
    aio_.Submit();
    std::vector<AioCompletion> all, batch;
    while (aio_.in_flight() > 0 || aio_.HasRejected()) {
      pollfd pfd{aio_.event_fd(), POLLIN, 0};
      if (!aio_.HasRejected() && poll(&pfd, 1, 5000) != 1) {
        ADD_FAILURE() << "no completion within 5 s";
        break;
      }
      aio_.Reap(&batch);
      all.insert(all.end(), batch.begin(), batch.end());
    }
    for (const AioCompletion& done : all) {
      EXPECT_EQ(done.read->token(), kOwner);
    }
    return all;
  }

  ReadWindow::ReadDone Deliver(ReadWindow& window, const AioCompletion& done) {
    return window.OnReadDone(reads_.BlockOf(done.read), done.result);
  }

  /// Submits, reaps and delivers until no read is queued; every read must
  /// come back ready.
  void RunReads(ReadWindow& window) {
    while (aio_.HasQueued()) {
      for (const AioCompletion& done : SubmitAndReap()) {
        EXPECT_EQ(Deliver(window, done).outcome, Outcome::kReady);
      }
    }
  }

  /// The file offset a completed read filled its block from.
  std::uint64_t OffsetRead(const AioCompletion& done) const {
    const char* data = pool_.Data(reads_.BlockOf(done.read));
    for (std::uint64_t offset = 0; offset < content_.size(); offset += align_) {
      if (std::memcmp(data, content_.data() + offset, 512) == 0) return offset;
    }
    return UINT64_MAX;
  }

  /// The bytes Gather() hands out for [position, end), concatenated.
  std::string Gathered(ReadWindow& window, std::uint64_t position,
                       std::uint64_t end, bool* complete,
                       int* iovecs = nullptr) {
    iovec iov[16];
    int n = window.Gather(position, end, iov, 16, complete);
    if (iovecs != nullptr) *iovecs = n;
    std::string bytes;
    for (int i = 0; i < n; ++i) {
      bytes.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    }
    return bytes;
  }

  /// Waits for the helpers' doorbell and takes `count` finished jobs.
  std::vector<HelperJob> WaitForHelpers(std::size_t count) {
    std::vector<HelperJob> all, batch;
    while (all.size() < count) {
      pollfd pfd{doorbell_.fd(), POLLIN, 0};
      if (poll(&pfd, 1, 5000) != 1) {
        ADD_FAILURE() << "no helper job done within 5 s";
        break;
      }
      signalfd_siginfo info[8];
      doorbell_.Read(info, 8);
      helpers_.TakeCompleted(&batch);
      for (HelperJob& job : batch) all.push_back(std::move(job));
    }
    return all;
  }

  DaemonSignalsBlocked blocked_;  // before the helper thread starts
  TempDir dir_;
  DocumentRoot root_{dir_.path()};
  SignalFd doorbell_{Doorbell()};
  HelperPool helpers_{1, root_, CurrentThreadId()};
  BufferPool pool_{kBlock, kBlocks};
  AioContext aio_{kBlocks};
  BlockReads reads_{kBlocks};
  WorkerCounters counters_{};
  std::deque<std::uint64_t> waiting_;
  ReadServices services_{pool_, aio_, reads_, helpers_, counters_, waiting_};
  std::string content_;
  std::string path_;
  std::uint32_t align_ = 0;
};

TEST_F(ReadWindowTest, GathersTheWholeFileInOrderAcrossBlocks) {
  ReadWindow window;
  Open(window, kBlocks);
  window.Select(0, content_.size());
  EXPECT_EQ(window.blocks_held(), 6u);  // five whole blocks and the tail
  EXPECT_EQ(pool_.free_count(), kBlocks - 6);
  EXPECT_EQ(counters_.aio_reads.load(), 6u);
  EXPECT_TRUE(waiting_.empty());

  bool complete = true;
  EXPECT_EQ(Gathered(window, 0, content_.size(), &complete), "");
  EXPECT_FALSE(complete) << "nothing is read yet";

  RunReads(window);
  int iovecs = 0;
  EXPECT_EQ(Gathered(window, 0, content_.size(), &complete, &iovecs), content_);
  EXPECT_TRUE(complete);
  EXPECT_EQ(iovecs, 6);
}

TEST_F(ReadWindowTest, GathersAnUnalignedRange) {
  const std::uint64_t begin = 5000, end = 3 * kBlock + 777;
  ReadWindow window;
  Open(window, kBlocks);
  window.Select(begin, end);
  RunReads(window);
  bool complete = false;
  EXPECT_EQ(Gathered(window, begin, end, &complete),
            content_.substr(begin, end - begin));
  EXPECT_TRUE(complete);
  // From the middle of a block, as after a partial send.
  const std::uint64_t middle = kBlock + 3;
  EXPECT_EQ(Gathered(window, middle, end, &complete),
            content_.substr(middle, end - middle));
  EXPECT_TRUE(complete);
}

TEST_F(ReadWindowTest, GathersAnIovecLimitedPrefix) {
  ReadWindow window;
  Open(window, kBlocks);
  window.Select(0, content_.size());
  RunReads(window);
  iovec iov[2];
  bool complete = true;
  ASSERT_EQ(window.Gather(0, content_.size(), iov, 2, &complete), 2);
  EXPECT_FALSE(complete) << "two iovecs hold two blocks, not six";
  EXPECT_EQ(iov[0].iov_len + iov[1].iov_len, 2 * kBlock);
}

TEST_F(ReadWindowTest, OutOfOrderCompletionsGatherInFileOrder) {
  ReadWindow window;
  Open(window, kBlocks);
  window.Select(0, content_.size());
  std::vector<AioCompletion> done = SubmitAndReap();
  ASSERT_EQ(done.size(), 6u);
  // The read of the third block stays "in flight" for the window.
  auto third = std::find_if(done.begin(), done.end(), [&](const auto& d) {
    return OffsetRead(d) == 2 * kBlock;
  });
  ASSERT_NE(third, done.end());
  AioCompletion held = *third;
  done.erase(third);
  std::sort(done.begin(), done.end(), [&](const auto& a, const auto& b) {
    return OffsetRead(a) > OffsetRead(b);  // last block first
  });
  for (const AioCompletion& d : done) {
    ReadWindow::ReadDone result = Deliver(window, d);
    EXPECT_EQ(result.outcome, Outcome::kReady);
    EXPECT_EQ(result.offset, OffsetRead(d));
  }
  bool complete = true;
  EXPECT_EQ(Gathered(window, 0, content_.size(), &complete),
            content_.substr(0, 2 * kBlock))
      << "gathering stops at the read in flight";
  EXPECT_FALSE(complete);

  EXPECT_EQ(Deliver(window, held).outcome, Outcome::kReady);
  EXPECT_EQ(Gathered(window, 0, content_.size(), &complete), content_);
  EXPECT_TRUE(complete);
}

TEST_F(ReadWindowTest, SentGivesBlocksBackAndRefillsWithinTheRing) {
  constexpr std::size_t kSlots = 3;
  ReadWindow window;
  Open(window, kSlots);
  window.Select(0, content_.size());
  EXPECT_EQ(window.blocks_held(), kSlots);
  RunReads(window);

  window.Sent(kBlock - 1);  // the first block is not all sent
  EXPECT_EQ(window.blocks_held(), kSlots);
  EXPECT_EQ(pool_.free_count(), kBlocks - kSlots);
  EXPECT_FALSE(aio_.HasQueued());

  // Two blocks out: both go back, and the freed room is read into.
  window.Sent(2 * kBlock);
  EXPECT_EQ(window.blocks_held(), kSlots);
  EXPECT_EQ(pool_.free_count(), kBlocks - kSlots);
  EXPECT_TRUE(aio_.HasQueued());

  // Send the rest, as much as is ready each time.
  std::string sent = content_.substr(0, 2 * kBlock);
  std::uint64_t position = 2 * kBlock;
  while (position < content_.size()) {
    RunReads(window);
    EXPECT_LE(window.blocks_held(), kSlots);
    EXPECT_GE(pool_.free_count(), kBlocks - kSlots);
    bool complete = false;
    std::string bytes = Gathered(window, position, content_.size(), &complete);
    ASSERT_FALSE(bytes.empty());
    sent += bytes;
    position += bytes.size();
    window.Sent(position);
  }
  EXPECT_EQ(sent, content_);
  EXPECT_EQ(window.blocks_held(), 0u);
  EXPECT_EQ(pool_.free_count(), kBlocks);
  EXPECT_FALSE(aio_.HasQueued()) << "nothing is read past the range";
  EXPECT_EQ(counters_.aio_reads.load(), 6u) << "each block read once";
}

TEST_F(ReadWindowTest, WaitsOnceForAFreeBlockAndResumes) {
  std::vector<std::uint32_t> taken;
  while (pool_.free_count() > 1) taken.push_back(pool_.Acquire());
  ReadWindow window;
  Open(window, 4);
  window.Select(0, content_.size());
  EXPECT_EQ(window.blocks_held(), 1u);
  ASSERT_EQ(waiting_.size(), 1u);
  EXPECT_EQ(waiting_.front(), kOwner);
  EXPECT_TRUE(services_.reclaim_wanted);

  window.Fill();  // still no block: it does not queue twice
  RunReads(window);
  window.Sent(kBlock);  // its own block comes back and is read into again
  EXPECT_EQ(window.blocks_held(), 1u);
  EXPECT_EQ(waiting_.size(), 1u);

  // The worker gives it a block, as it does for the oldest waiter.
  pool_.Release(taken.back());
  taken.pop_back();
  ASSERT_EQ(waiting_.front(), kOwner);
  waiting_.pop_front();
  window.OnBlockAvailable();
  EXPECT_EQ(window.blocks_held(), 2u);
  EXPECT_EQ(pool_.free_count(), 0u);
  ASSERT_EQ(waiting_.size(), 1u) << "out of blocks again: it waits again";
  EXPECT_EQ(waiting_.front(), kOwner);

  RunReads(window);
  bool complete = true;
  EXPECT_EQ(Gathered(window, kBlock, content_.size(), &complete),
            content_.substr(kBlock, 2 * kBlock));
  EXPECT_FALSE(complete);
  window.Close();
  for (std::uint32_t block : taken) pool_.Release(block);
  EXPECT_EQ(pool_.free_count(), kBlocks);
}

TEST_F(ReadWindowTest, WaitsForAioCapacityToo) {
  AioContext small(1);
  ReadServices services{pool_, small, reads_, helpers_, counters_, waiting_};
  services.nowait_reads = false;
  ReadWindow window;
  window.Resize(4);
  window.Open(OpenDirect(), kOwner, align_, false, services);
  window.Select(0, content_.size());
  EXPECT_EQ(window.blocks_held(), 1u);
  EXPECT_EQ(waiting_.size(), 1u);
  EXPECT_TRUE(services.reclaim_wanted);
  window.Close();  // the read was still queued: taken back
  EXPECT_FALSE(small.HasQueued());
  EXPECT_EQ(pool_.free_count(), kBlocks);
}

TEST_F(ReadWindowTest, ReclaimWaitsForReadsInFlightThenGivesAllBack) {
  constexpr std::size_t kSlots = 3;
  ReadWindow window;
  Open(window, kSlots);
  EXPECT_EQ(window.Reclaim(), 0u) << "nothing held";
  window.Select(0, content_.size());
  EXPECT_EQ(window.Reclaim(), 0u) << "reads queued";
  RunReads(window);
  const std::uint64_t unsent = kBlock + 100;
  window.Sent(unsent);  // the first block goes; a fourth read is queued
  aio_.Submit();
  EXPECT_EQ(window.Reclaim(), 0u) << "a read is in flight";
  EXPECT_EQ(window.blocks_held(), kSlots);
  for (const AioCompletion& done : SubmitAndReap()) {
    EXPECT_EQ(Deliver(window, done).outcome, Outcome::kReady);
  }

  EXPECT_EQ(window.Reclaim(), kSlots);
  EXPECT_EQ(window.blocks_held(), 0u);
  EXPECT_EQ(pool_.free_count(), kBlocks);

  // Read again from the first unsent byte, aligned down.
  window.Fill();
  EXPECT_EQ(window.blocks_held(), kSlots);
  std::vector<std::uint64_t> offsets;
  while (aio_.HasQueued()) {
    for (const AioCompletion& done : SubmitAndReap()) {
      ReadWindow::ReadDone result = Deliver(window, done);
      EXPECT_EQ(result.outcome, Outcome::kReady);
      offsets.push_back(result.offset);
    }
  }
  ASSERT_FALSE(offsets.empty());
  EXPECT_EQ(*std::min_element(offsets.begin(), offsets.end()),
            AlignDown(unsent));
  bool complete = false;
  std::string bytes = Gathered(window, unsent, content_.size(), &complete);
  ASSERT_GE(bytes.size(), 2 * kBlock - 100);
  EXPECT_EQ(bytes, content_.substr(unsent, bytes.size()));
}

TEST_F(ReadWindowTest, AFileThatShrankBeforeTheReadIsReported) {
  ReadWindow window;
  Open(window, kBlocks);
  window.Select(0, content_.size());
  // Cut the file through a second, buffered descriptor before io_submit.
  UniqueFd writer(open(path_.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(writer);
  ASSERT_EQ(ftruncate(writer.get(), kBlock + 10), 0);
  int ready = 0, shrank = 0;
  for (const AioCompletion& done : SubmitAndReap()) {
    ReadWindow::ReadDone result = Deliver(window, done);
    if (result.outcome == Outcome::kReady) {
      ++ready;
      EXPECT_EQ(result.offset, 0u);
    } else {
      EXPECT_EQ(result.outcome, Outcome::kShrank);
      EXPECT_GE(result.offset, kBlock);
      ++shrank;
    }
  }
  EXPECT_EQ(ready, 1);
  EXPECT_EQ(shrank, 5);
  // Only bytes a read filled are ever handed out: the first block's, then
  // the 10 bytes the file still has, and nothing past the short read.
  iovec iov[16];
  bool complete = true;
  int n = window.Gather(0, content_.size(), iov, 16, &complete);
  EXPECT_FALSE(complete);
  std::uint64_t gathered = 0;
  for (int i = 0; i < n; ++i) gathered += iov[i].iov_len;
  EXPECT_EQ(gathered, kBlock + 10);
}

TEST_F(ReadWindowTest, ARangePastTheEndIsReportedAsShrank) {
  ReadWindow window;
  Open(window, kBlocks);
  window.Select(4 * kBlock, content_.size() + 5000);
  std::vector<ReadWindow::ReadDone> results;
  for (const AioCompletion& done : SubmitAndReap()) {
    results.push_back(Deliver(window, done));
  }
  ASSERT_EQ(results.size(), 2u);
  std::sort(results.begin(), results.end(),
            [](const auto& a, const auto& b) { return a.offset < b.offset; });
  EXPECT_EQ(results[0].outcome, Outcome::kReady);
  EXPECT_EQ(results[1].outcome, Outcome::kShrank);
  EXPECT_EQ(results[1].offset, 5 * kBlock);
}

TEST_F(ReadWindowTest, AFailedReadIsCounted) {
  ReadWindow window;
  Open(window, 2);
  window.Select(0, content_.size());
  aio_.InjectFailures(1, -EIO);
  std::vector<Outcome> outcomes;
  for (const AioCompletion& done : SubmitAndReap()) {
    outcomes.push_back(Deliver(window, done).outcome);
  }
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), Outcome::kFailed), 1);
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), Outcome::kReady), 1);
  EXPECT_EQ(counters_.aio_errors.load(), 1u);
  window.Close();
  EXPECT_EQ(pool_.free_count(), kBlocks);
}

TEST_F(ReadWindowTest, CloseTakesBackQueuedReadsAndTheirBlocks) {
  ReadWindow window;
  Open(window, 3);
  window.Select(0, content_.size());
  ASSERT_TRUE(aio_.HasQueued());
  EXPECT_EQ(pool_.free_count(), kBlocks - 3);
  window.Close();
  EXPECT_FALSE(window.is_open());
  EXPECT_EQ(window.blocks_held(), 0u);
  EXPECT_FALSE(aio_.HasQueued()) << "no queued iocb may name a closed fd";
  EXPECT_EQ(pool_.free_count(), kBlocks);
  aio_.Submit();
  EXPECT_EQ(aio_.in_flight(), 0u);
}

TEST_F(ReadWindowTest, CloseLeavesBlocksInFlightToTheirCompletion) {
  ReadWindow window;
  Open(window, 4);
  window.Select(0, content_.size());
  std::vector<AioCompletion> done = SubmitAndReap();
  ASSERT_EQ(done.size(), 4u);
  // The first two reads come back; the other two stay in flight.
  std::sort(done.begin(), done.end(), [&](const auto& a, const auto& b) {
    return OffsetRead(a) < OffsetRead(b);
  });
  EXPECT_EQ(Deliver(window, done[0]).outcome, Outcome::kReady);
  EXPECT_EQ(Deliver(window, done[1]).outcome, Outcome::kReady);
  window.Sent(kBlock);  // frees the first block and queues a fifth read
  EXPECT_TRUE(aio_.HasQueued());
  EXPECT_EQ(pool_.free_count(), kBlocks - 4);

  window.Close();  // done: 1, in flight: 2, queued: 1
  EXPECT_FALSE(aio_.HasQueued());
  EXPECT_EQ(pool_.free_count(), kBlocks - 2);

  // The connection reads another file; the old reads then complete and
  // find no slot of the new window: their blocks go back.
  Open(window, 4);
  window.Select(0, kBlock);
  EXPECT_EQ(pool_.free_count(), kBlocks - 3);
  EXPECT_EQ(Deliver(window, done[2]).outcome, Outcome::kUnknown);
  EXPECT_EQ(Deliver(window, done[3]).outcome, Outcome::kUnknown);
  EXPECT_EQ(pool_.free_count(), kBlocks - 1);
  RunReads(window);
  bool complete = false;
  EXPECT_EQ(Gathered(window, 0, kBlock, &complete), content_.substr(0, kBlock));
  EXPECT_TRUE(complete);
  window.Close();
  EXPECT_EQ(pool_.free_count(), kBlocks);
}

TEST_F(ReadWindowTest, WholeFileOnlyWhenTheFirstBlockHoldsIt) {
  const std::string small = content_.substr(0, 1000);
  std::string path = dir_.Write("small", small);
  ReadWindow window;
  window.Resize(2);
  window.Open(UniqueFd(open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC)),
              kOwner, align_, false, services_);
  window.Select(0, small.size());
  EXPECT_EQ(window.WholeFile(small.size()), nullptr) << "not read yet";
  RunReads(window);
  const char* whole = window.WholeFile(small.size());
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(std::string(whole, small.size()), small);
  EXPECT_EQ(window.WholeFile(small.size() + 1), nullptr) << "a larger file";
  window.Close();

  Open(window, kBlocks);  // the big file: its first block is not all of it
  window.Select(0, content_.size());
  RunReads(window);
  EXPECT_EQ(window.WholeFile(content_.size()), nullptr);
  ASSERT_NE(window.WholeFile(kBlock), nullptr);
  window.Sent(kBlock);  // the first slot no longer starts the file
  EXPECT_EQ(window.WholeFile(kBlock), nullptr);
}

TEST_F(ReadWindowTest, ANowaitReadThatWouldBlockGoesToAHelper) {
  services_.nowait_reads = true;
  ReadWindow window;
  Open(window, 1);
  window.Select(0, kBlock);
  aio_.InjectFailures(1, -EAGAIN);
  std::vector<AioCompletion> done = SubmitAndReap();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].read->nowait());
  EXPECT_EQ(Deliver(window, done[0]).outcome, Outcome::kPending);
  EXPECT_EQ(counters_.aio_eagain.load(), 1u);
  EXPECT_EQ(helpers_.outstanding(), 1u);

  std::vector<HelperJob> jobs = WaitForHelpers(1);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].token, kOwner);
  EXPECT_EQ(window.OnReadDone(jobs[0].block, jobs[0].result).outcome,
            Outcome::kReady);
  bool complete = false;
  EXPECT_EQ(Gathered(window, 0, kBlock, &complete), content_.substr(0, kBlock));
  EXPECT_TRUE(complete);
}

TEST_F(ReadWindowTest, NowaitUnsupportedIsDroppedAndTheReadRetried) {
  services_.nowait_reads = true;
  ReadWindow window;
  Open(window, 1);
  window.Select(0, kBlock);
  aio_.InjectFailures(1, -EOPNOTSUPP);
  std::vector<AioCompletion> done = SubmitAndReap();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(Deliver(window, done[0]).outcome, Outcome::kPending);
  EXPECT_FALSE(services_.nowait_reads);
  ASSERT_TRUE(aio_.HasQueued());
  done = SubmitAndReap();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_FALSE(done[0].read->nowait());
  EXPECT_EQ(Deliver(window, done[0]).outcome, Outcome::kReady);
  bool complete = false;
  EXPECT_EQ(Gathered(window, 0, kBlock, &complete), content_.substr(0, kBlock));
}

TEST_F(ReadWindowTest, AFileWithoutODirectIsReadByHelpers) {
  ReadWindow window;
  window.Resize(kBlocks);
  window.Open(UniqueFd(open(path_.c_str(), O_RDONLY | O_CLOEXEC)), kOwner, 0,
              false, services_);
  const std::uint64_t begin = 7, end = 2 * kBlock + 5;
  window.Select(begin, end);
  EXPECT_FALSE(aio_.HasQueued());
  EXPECT_EQ(counters_.aio_reads.load(), 0u);
  for (HelperJob& job : WaitForHelpers(window.blocks_held())) {
    EXPECT_EQ(window.OnReadDone(job.block, job.result).outcome,
              Outcome::kReady);
  }
  bool complete = false;
  EXPECT_EQ(Gathered(window, begin, end, &complete),
            content_.substr(begin, end - begin));
  EXPECT_TRUE(complete);
}

TEST_F(ReadWindowTest, ReadsWaitForTheBlockMap) {
  ReadWindow window;
  window.Resize(kBlocks);
  window.Open(OpenDirect(), kOwner, align_, true, services_);
  window.Select(0, content_.size());
  EXPECT_EQ(window.blocks_held(), 0u);
  EXPECT_FALSE(aio_.HasQueued());
  std::vector<HelperJob> jobs = WaitForHelpers(1);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].kind, HelperJob::Kind::kLoadBlockMap);
  window.OnBlockMapLoaded(std::move(jobs[0].extents));
  EXPECT_GT(window.blocks_held(), 0u);
  RunReads(window);
  bool complete = false;
  EXPECT_EQ(Gathered(window, 0, content_.size(), &complete), content_);
  EXPECT_TRUE(complete);
}

}  // namespace
}  // namespace ferry

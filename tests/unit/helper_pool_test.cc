#include "helper_pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <string>
#include <vector>

#include "signals.h"
#include "test_files.h"

namespace ferry {
namespace {

using testing::TempDir;

/// Waits for the doorbell on a signalfd, then takes what is done.
std::vector<HelperJob> WaitForJobs(HelperPool& pool, SignalFd& signals,
                                   std::size_t count) {
  std::vector<HelperJob> all, batch;
  while (all.size() < count) {
    pollfd pfd{signals.fd(), POLLIN, 0};
    if (poll(&pfd, 1, 5000) != 1) break;
    signalfd_siginfo info[8];
    std::size_t n = signals.Read(info, 8);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(static_cast<int>(info[i].ssi_signo), kDoorbellSignal);
    }
    pool.TakeCompleted(&batch);
    for (HelperJob& job : batch) all.push_back(std::move(job));
  }
  return all;
}

class HelperPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BlockDaemonSignals();
    sigset_t doorbell;
    sigemptyset(&doorbell);
    sigaddset(&doorbell, kDoorbellSignal);
    signals_ = std::make_unique<SignalFd>(doorbell);
  }
  TempDir dir_;
  std::unique_ptr<SignalFd> signals_;
};

TEST_F(HelperPoolTest, OpensComeBackThroughTheDoorbell) {
  dir_.Write("f.txt", "12345");
  DocumentRoot root(dir_.path());
  HelperPool pool(2, root, CurrentThreadId());
  HelperJob job;
  job.kind = HelperJob::Kind::kOpen;
  job.token = 42;
  job.path = "f.txt";
  pool.Submit(std::move(job));
  HelperJob missing;
  missing.token = 43;
  missing.path = "nope";
  pool.Submit(std::move(missing));
  EXPECT_EQ(pool.outstanding(), 2u);
  std::vector<HelperJob> done = WaitForJobs(pool, *signals_, 2);
  ASSERT_EQ(done.size(), 2u);
  for (const HelperJob& result : done) {
    if (result.token == 42) {
      EXPECT_EQ(result.opened.error, 0);
      EXPECT_EQ(result.opened.status.size, 5u);
    } else {
      EXPECT_EQ(result.token, 43u);
      EXPECT_EQ(result.opened.error, -ENOENT);
    }
  }
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST_F(HelperPoolTest, ReadsFillTheBufferAndReportTheCount) {
  std::string path = dir_.Write("data", "abcdefgh");
  DocumentRoot root(dir_.path());
  HelperPool pool(1, root, CurrentThreadId());
  char buffer[16] = {};
  HelperJob job;
  job.kind = HelperJob::Kind::kRead;
  job.token = 7;
  job.fd.Reset(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  job.buffer = buffer;
  job.length = sizeof buffer;
  job.offset = 2;
  job.block = 3;
  pool.Submit(std::move(job));
  std::vector<HelperJob> done = WaitForJobs(pool, *signals_, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result, 6);
  EXPECT_EQ(done[0].block, 3u);
  EXPECT_EQ(std::string(buffer, 6), "cdefgh");
  EXPECT_FALSE(done[0].fd) << "the job's descriptor is closed when done";
}

TEST_F(HelperPoolTest, TakeCompletedIsEmptyWhenNothingFinished) {
  DocumentRoot root(dir_.path());
  HelperPool pool(1, root, CurrentThreadId());
  std::vector<HelperJob> done;
  pool.TakeCompleted(&done);
  EXPECT_TRUE(done.empty());
}

}  // namespace
}  // namespace ferry

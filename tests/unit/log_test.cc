#include "log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "test_files.h"

namespace ferry {
namespace {

TEST(LogRing, AFullRingDropsAndCountsInsteadOfWaiting) {
  // An access log nobody drains would block a writer; the ring must not.
  UniqueFd none;
  LogRing ring(4, "off", std::move(none));
  std::uint64_t before = LogRing::Dropped();
  auto start = std::chrono::steady_clock::now();
  SetLogLevel(LogLevel::kError);
  int accepted = 0;
  for (int i = 0; i < 100000; ++i) {
    // The log thread drains every 100 ms: a 4-record ring overflows.
    accepted += LogRing::AccessLog("x\n", 2) ? 1 : 0;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_FALSE(LogRing::AccessLogEnabled());
  EXPECT_LT(accepted, 100000);
  EXPECT_EQ(LogRing::Dropped() - before, 100000u - accepted);
}

TEST(OpenAccessLogFile, CreatesAndAppendsToAFileOrAFifo) {
  testing::TempDir dir;
  UniqueFd created(OpenAccessLogFile(dir.path() + "/new.log", geteuid()));
  EXPECT_TRUE(created);
  std::string fifo = dir.path() + "/log.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // No reader: the non-blocking open fails at once instead of hanging.
  EXPECT_EQ(OpenAccessLogFile(fifo, geteuid()), -ENXIO);
  UniqueFd reader(open(fifo.c_str(), O_RDONLY | O_NONBLOCK));
  UniqueFd writer(OpenAccessLogFile(fifo, geteuid()));
  EXPECT_TRUE(writer);
}

TEST(OpenAccessLogFile, RefusesWhatAnotherUserCouldHavePlanted) {
  testing::TempDir dir;
  std::string target = dir.Write("target", "not a log\n");
  std::string soft = dir.path() + "/symlink.log";
  ASSERT_EQ(symlink(target.c_str(), soft.c_str()), 0);
  EXPECT_EQ(OpenAccessLogFile(soft, geteuid()), -ELOOP);
  std::string dangling = dir.path() + "/dangling.log";
  ASSERT_EQ(symlink((dir.path() + "/made").c_str(), dangling.c_str()), 0);
  EXPECT_EQ(OpenAccessLogFile(dangling, geteuid()), -ELOOP);
  EXPECT_NE(access((dir.path() + "/made").c_str(), F_OK), 0);
  std::string hard = dir.path() + "/hard.log";
  ASSERT_EQ(link(target.c_str(), hard.c_str()), 0);
  EXPECT_EQ(OpenAccessLogFile(hard, geteuid()), -EMLINK);
  EXPECT_EQ(OpenAccessLogFile(dir.path(), geteuid()), -EISDIR);
  EXPECT_NE(AccessLogError(-ELOOP).find("symbolic link"), std::string::npos);
}

TEST(OpenAccessLogFile, RefusesAFileOfAnotherOwner) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a file away";
  testing::TempDir dir;
  std::string log = dir.Write("foreign.log", "");
  ASSERT_EQ(chown(log.c_str(), 12345, 12345), 0);
  EXPECT_EQ(OpenAccessLogFile(log, 65534), -EPERM);
  UniqueFd served(OpenAccessLogFile(log, 12345));  // --user's file: fine
  EXPECT_TRUE(served);
}

TEST(Log, LevelsFilter) {
  SetLogLevel(LogLevel::kWarning);
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  EXPECT_TRUE(LogEnabled(LogLevel::kWarning));
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_EQ(ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("nonsense"), LogLevel::kInfo);
}

}  // namespace
}  // namespace ferry

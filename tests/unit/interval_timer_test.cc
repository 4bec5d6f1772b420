#include "interval_timer.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "unique_fd.h"

namespace ferry {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kPeriod{20};

/// Blocks `signo` in this thread (and those it starts) and returns a
/// signalfd for it.
UniqueFd BlockedSignalFd(int signo) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return UniqueFd(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
}

/// When each of `count` signals came on `fd` (ms on CLOCK_MONOTONIC), fewer
/// when 5 s pass first.
std::vector<std::int64_t> Arrivals(int fd, int count, int* code) {
  std::vector<std::int64_t> times;
  std::int64_t deadline = MonotonicMillis() + 5000;
  while (static_cast<int>(times.size()) < count) {
    pollfd entry{fd, POLLIN, 0};
    int left = static_cast<int>(deadline - MonotonicMillis());
    if (left <= 0 || poll(&entry, 1, left) != 1) break;
    signalfd_siginfo info{};
    if (read(fd, &info, sizeof info) == sizeof info) {
      times.push_back(MonotonicMillis());
      *code = info.ssi_code;
    }
  }
  return times;
}

TEST(IntervalTimer, TheSignalComesToTheGivenThreadEveryPeriod) {
  const int signo = SIGRTMIN + 3;
  UniqueFd main_fd = BlockedSignalFd(signo);  // blocked in `other` too
  ASSERT_TRUE(main_fd);
  std::vector<std::int64_t> times;
  int code = 0;
  std::int64_t start = 0;
  std::thread other([&] {
    UniqueFd fd(BlockedSignalFd(signo));
    start = MonotonicMillis();
    IntervalTimer timer(signo, gettid(), kPeriod);
    times = Arrivals(fd.get(), 5, &code);
  });
  other.join();
  ASSERT_EQ(times.size(), 5u);
  EXPECT_EQ(code, SI_TIMER);
  // Five periods, give or take the scheduler.
  EXPECT_GE(times.back() - start, 5 * kPeriod.count() - 2);
  EXPECT_LT(times.back() - start, 5 * kPeriod.count() + 500);
  // None went to this thread (nor to the process).
  signalfd_siginfo info;
  EXPECT_EQ(read(main_fd.get(), &info, sizeof info), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST(IntervalTimer, NoSignalAfterItIsDeleted) {
  const int signo = SIGRTMIN + 4;
  UniqueFd fd = BlockedSignalFd(signo);
  ASSERT_TRUE(fd);
  int code = 0;
  {
    IntervalTimer timer(signo, gettid(), kPeriod);
    ASSERT_EQ(Arrivals(fd.get(), 1, &code).size(), 1u);
  }
  signalfd_siginfo info;
  while (read(fd.get(), &info, sizeof info) == sizeof info) {
  }
  pollfd entry{fd.get(), POLLIN, 0};
  EXPECT_EQ(poll(&entry, 1, static_cast<int>(3 * kPeriod.count())), 0);
}

TEST(IntervalTimer, MillisAndMicrosReadOneClock) {
  std::int64_t micros = MonotonicMicros();
  std::int64_t millis = MonotonicMillis();
  EXPECT_GE(millis, micros / 1000);
  EXPECT_LT(millis - micros / 1000, 100);
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  EXPECT_GE(now.tv_sec * 1000 + now.tv_nsec / 1'000'000, millis);
}

}  // namespace
}  // namespace ferry

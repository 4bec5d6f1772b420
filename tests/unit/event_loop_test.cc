#include "event_loop.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "interval_timer.h"
#include "signals.h"
#include "unique_fd.h"

namespace ferry {
namespace {

constexpr std::size_t kTableSize = 1024;
constexpr int kPatienceMs = 5000;

/// What the loop handed over, in order.
struct Event {
  enum class Kind { kSocket, kWatched, kSignal };
  Kind kind;
  std::uint64_t tag = 0;
  int fd = -1;
  std::uint32_t band = 0;
  int signo = 0;
};

class Recorder final : public EventLoop::Handler {
 public:
  void OnSocketReady(std::uint64_t tag, int fd, std::uint32_t band) override {
    events.push_back({Event::Kind::kSocket, tag, fd, band, 0});
  }
  void OnWatchedReady(std::uint64_t tag) override {
    events.push_back({Event::Kind::kWatched, tag, -1, 0, 0});
  }
  void OnSignal(int signo) override {
    events.push_back({Event::Kind::kSignal, 0, -1, 0, signo});
  }
  std::vector<Event> events;
};

struct SocketPair {
  UniqueFd ours, peer;
};

SocketPair MakeSocketPair() {
  int fds[2] = {-1, -1};
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

/// Sends `signo` to this thread as a process would (si_code SI_TKILL).
void SignalThisThread(int signo) {
  ASSERT_EQ(syscall(SYS_tgkill, getpid(), CurrentThreadId(), signo), 0);
}

// BlockDaemonSignals() has process-wide effects that outlive each test: it
// ignores SIGPIPE and every realtime signal ferry does not use (sigaction).
// The mask itself is the test thread's; gtest runs every test on it.
class EventLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BlockDaemonSignals();
    DrainPending();
    loop_ = std::make_unique<EventLoop>(DaemonSignals(), kTableSize);
  }
  void TearDown() override {
    loop_.reset();
    DrainPending();
  }

  /// Throws away whatever is pending of the daemon's signals, so that no
  /// test sees another's.
  static void DrainPending() {
    SignalFd signals(DaemonSignals());
    signalfd_siginfo batch[64];
    while (signals.Read(batch, 64) > 0) {
    }
  }

  /// Waits until the handler has recorded at least `count` events, or gives
  /// up after a few waits of kPatienceMs.
  bool WaitForEvents(std::size_t count) {
    for (int i = 0; i < 8 && recorder_.events.size() < count; ++i) {
      loop_->Wait(kPatienceMs, recorder_);
    }
    return recorder_.events.size() >= count;
  }

  std::unique_ptr<EventLoop> loop_;
  Recorder recorder_;
};

TEST_F(EventLoopTest, AMappedSocketsSignalReachesOnSocketReadyWithItsTag) {
  SocketPair pair = MakeSocketPair();
  ArmSocketSignals(pair.ours.get(), SocketSignal(), CurrentThreadId());
  ASSERT_TRUE(loop_->Mappable(pair.ours.get()));
  loop_->Map(pair.ours.get(), 7);
  ASSERT_EQ(write(pair.peer.get(), "x", 1), 1);
  ASSERT_TRUE(WaitForEvents(1));
  ASSERT_EQ(recorder_.events.size(), 1u);
  const Event& event = recorder_.events[0];
  EXPECT_EQ(event.kind, Event::Kind::kSocket);
  EXPECT_EQ(event.tag, 7u);
  EXPECT_EQ(event.fd, pair.ours.get());
  EXPECT_TRUE(event.band & POLLIN) << "band " << event.band;
}

TEST_F(EventLoopTest, AnUnmappedSocketsSignalReachesNobody) {
  SocketPair pair = MakeSocketPair();
  ArmSocketSignals(pair.ours.get(), SocketSignal(), CurrentThreadId());
  loop_->Map(pair.ours.get(), 7);
  loop_->Unmap(pair.ours.get(), 7);
  ASSERT_EQ(write(pair.peer.get(), "x", 1), 1);
  // The signal is there (the signalfd is ready), but it names nobody.
  EXPECT_EQ(loop_->Wait(kPatienceMs, recorder_), 1);
  EXPECT_TRUE(recorder_.events.empty());
}

TEST_F(EventLoopTest, UnmapWithAnotherTagLeavesTheMappingAlone) {
  // The slot was reused by a newer connection: the old one's Unmap must not
  // take the new one's signals away.
  SocketPair pair = MakeSocketPair();
  ArmSocketSignals(pair.ours.get(), SocketSignal(), CurrentThreadId());
  loop_->Map(pair.ours.get(), 8);
  loop_->Unmap(pair.ours.get(), 7);
  ASSERT_EQ(write(pair.peer.get(), "x", 1), 1);
  ASSERT_TRUE(WaitForEvents(1));
  EXPECT_EQ(recorder_.events[0].kind, Event::Kind::kSocket);
  EXPECT_EQ(recorder_.events[0].tag, 8u);
}

TEST_F(EventLoopTest, ASocketSignalQueuedByAProcessIsIgnored) {
  SocketPair pair = MakeSocketPair();
  ArmSocketSignals(pair.ours.get(), SocketSignal(), CurrentThreadId());
  loop_->Map(pair.ours.get(), 7);
  // SI_QUEUE, to the thread and to the process: both are someone's forgery.
  sigval value{};
  value.sival_int = pair.ours.get();
  ASSERT_EQ(pthread_sigqueue(pthread_self(), SocketSignal(), value), 0);
  ASSERT_EQ(sigqueue(getpid(), SocketSignal(), value), 0);
  SignalThisThread(SocketSignal());  // SI_TKILL
  EXPECT_EQ(loop_->Wait(kPatienceMs, recorder_), 1);
  EXPECT_TRUE(recorder_.events.empty());
  // And nothing is left over for the next wait.
  EXPECT_EQ(loop_->Wait(0, recorder_), 0);
}

TEST_F(EventLoopTest, AWatchedDescriptorReportsItsTagUntilUnwatched) {
  UniqueFd event(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  ASSERT_TRUE(event);
  loop_->Watch(event.get(), 99, EPOLLIN);
  std::uint64_t one = 1;
  ASSERT_EQ(write(event.get(), &one, sizeof one), 8);
  EXPECT_EQ(loop_->Wait(kPatienceMs, recorder_), 1);
  ASSERT_EQ(recorder_.events.size(), 1u);
  EXPECT_EQ(recorder_.events[0].kind, Event::Kind::kWatched);
  EXPECT_EQ(recorder_.events[0].tag, 99u);

  loop_->Unwatch(event.get());
  recorder_.events.clear();
  // Still readable (nobody read the counter), but no longer watched.
  EXPECT_EQ(loop_->Wait(0, recorder_), 0);
  EXPECT_TRUE(recorder_.events.empty());
}

TEST_F(EventLoopTest, OtherSignalsReachOnSignal) {
  SignalThisThread(SIGTERM);
  SignalThisThread(TimerSignal());
  ASSERT_TRUE(WaitForEvents(2));
  ASSERT_EQ(recorder_.events.size(), 2u);
  std::vector<int> seen;
  for (const Event& event : recorder_.events) {
    EXPECT_EQ(event.kind, Event::Kind::kSignal);
    seen.push_back(event.signo);
  }
  // Standard signals come out of the queue before realtime ones.
  EXPECT_EQ(seen, (std::vector<int>{SIGTERM, TimerSignal()}));
}

TEST_F(EventLoopTest, TheOverflowSignalRescansEveryMappedSocket) {
  // Two mapped sockets with input that raised no signal (it came before
  // they were armed), one unmapped socket with input too.
  SocketPair first = MakeSocketPair(), second = MakeSocketPair(),
             unmapped = MakeSocketPair();
  for (SocketPair* pair : {&first, &second, &unmapped}) {
    ASSERT_EQ(write(pair->peer.get(), "x", 1), 1);
    ArmSocketSignals(pair->ours.get(), SocketSignal(), CurrentThreadId());
  }
  loop_->Map(first.ours.get(), 1);
  loop_->Map(second.ours.get(), 2);
  ASSERT_EQ(loop_->Wait(0, recorder_), 0) << "arming raised a signal";

  SignalThisThread(kOverflowSignal);
  EXPECT_EQ(loop_->Wait(kPatienceMs, recorder_), 1);
  ASSERT_EQ(recorder_.events.size(), 3u);
  EXPECT_EQ(recorder_.events[0].kind, Event::Kind::kSignal);
  EXPECT_EQ(recorder_.events[0].signo, kOverflowSignal);
  for (std::size_t i = 1; i < 3; ++i) {
    const Event& event = recorder_.events[i];
    EXPECT_EQ(event.kind, Event::Kind::kSocket);
    EXPECT_EQ(event.tag, i);
    EXPECT_EQ(event.fd, i == 1 ? first.ours.get() : second.ours.get());
    EXPECT_TRUE(event.band & POLLIN) << "band " << event.band;
  }
}

TEST_F(EventLoopTest, ARealQueueOverflowLosesNoSocket) {
  // The kernel sends SIGIO instead of a socket's realtime signal that no
  // longer fits RLIMIT_SIGPENDING (fcntl(2), F_SETSIG): make that happen
  // for real with a tiny limit, then expect every socket to be reported.
  // The limit counts every pending signal of our user, so another
  // process's can only make the overflow come sooner.
  constexpr int kSockets = 32;
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_SIGPENDING, &saved), 0);
  rlimit tiny{4, saved.rlim_max};
  ASSERT_EQ(setrlimit(RLIMIT_SIGPENDING, &tiny), 0);
  std::vector<SocketPair> pairs;
  for (int i = 0; i < kSockets; ++i) {
    pairs.push_back(MakeSocketPair());
    ArmSocketSignals(pairs.back().ours.get(), SocketSignal(),
                     CurrentThreadId());
    loop_->Map(pairs.back().ours.get(), 100 + i);
  }
  for (SocketPair& pair : pairs) {
    ASSERT_EQ(write(pair.peer.get(), "x", 1), 1);
  }
  ASSERT_EQ(setrlimit(RLIMIT_SIGPENDING, &saved), 0);

  bool overflowed = false;
  std::vector<bool> reported(kSockets, false);
  std::size_t seen = 0;
  for (int wait = 0; wait < 8; ++wait) {
    if (std::count(reported.begin(), reported.end(), true) == kSockets) break;
    loop_->Wait(kPatienceMs, recorder_);
    for (; seen < recorder_.events.size(); ++seen) {
      const Event& event = recorder_.events[seen];
      if (event.kind == Event::Kind::kSignal) {
        overflowed = overflowed || event.signo == kOverflowSignal;
      } else if (event.kind == Event::Kind::kSocket) {
        ASSERT_GE(event.tag, 100u);
        ASSERT_LT(event.tag, 100u + kSockets);
        if (event.band & POLLIN) reported[event.tag - 100] = true;
      }
    }
  }
  EXPECT_TRUE(overflowed) << "32 signals fit a queue of 4";
  for (int i = 0; i < kSockets; ++i) {
    EXPECT_TRUE(reported[i]) << "socket " << i << " was lost";
  }
}

TEST_F(EventLoopTest, WaitWithTimeoutZeroReturnsAtOnceWhenNothingIsPending) {
  std::int64_t before = MonotonicMicros();
  EXPECT_EQ(loop_->Wait(0, recorder_), 0);
  EXPECT_LT(MonotonicMicros() - before, 1'000'000);
  EXPECT_TRUE(recorder_.events.empty());
}

TEST_F(EventLoopTest, TheClockAdvancesWithEachWait) {
  std::int64_t woke = loop_->woke_us();
  EXPECT_EQ(loop_->now_ms(), woke / 1000);
  // The wait itself is the thing measured: epoll_wait sleeps at least its
  // timeout when nothing comes.
  EXPECT_EQ(loop_->Wait(20, recorder_), 0);
  EXPECT_GE(loop_->woke_us() - woke, 20'000);
  EXPECT_EQ(loop_->now_ms(), loop_->woke_us() / 1000);
  EXPECT_LE(std::abs(loop_->now_sec() - std::time(nullptr)), 1);
  std::int64_t previous = loop_->woke_us();
  loop_->UpdateTime();
  EXPECT_GE(loop_->woke_us(), previous);
}

}  // namespace
}  // namespace ferry

#include "signals.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace ferry {
namespace {

class SignalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BlockDaemonSignals();
    sigset_t set = DaemonSignals();
    signals_ = std::make_unique<SignalFd>(set);
    Drain();
  }
  void Drain() {
    signalfd_siginfo batch[64];
    while (signals_->Read(batch, 64) > 0) {
    }
  }
  std::unique_ptr<SignalFd> signals_;
};

TEST_F(SignalsTest, ASocketSignalNamesTheFdAndTheEvent) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd ours(pair[0]), peer(pair[1]);
  ArmSocketSignals(ours.get(), SocketSignal(), CurrentThreadId());
  EXPECT_TRUE(fcntl(ours.get(), F_GETFL) & O_NONBLOCK);
  ASSERT_EQ(write(peer.get(), "x", 1), 1);
  pollfd pfd{signals_->fd(), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 5000), 1) << "no signal within 5 s";
  signalfd_siginfo info[8];
  std::size_t n = signals_->Read(info, 8);
  ASSERT_GE(n, 1u);
  EXPECT_EQ(static_cast<int>(info[0].ssi_signo), SocketSignal());
  EXPECT_EQ(static_cast<int>(info[0].ssi_fd), ours.get());
  EXPECT_TRUE(info[0].ssi_band & POLLIN);
  EXPECT_TRUE(IsKernelSocketSignal(info[0]));
}

TEST_F(SignalsTest, ASignalQueuedByAProcessIsNotTakenForASocketEvent) {
  sigval value{};
  ASSERT_EQ(pthread_sigqueue(pthread_self(), SocketSignal(), value), 0);
  signalfd_siginfo info[8];
  std::size_t n = signals_->Read(info, 8);
  ASSERT_EQ(n, 1u);
  EXPECT_FALSE(IsKernelSocketSignal(info[0])) << "SI_QUEUE must be ignored";
}

TEST_F(SignalsTest, ReadReturnsZeroWhenNothingIsPending) {
  signalfd_siginfo info[4];
  EXPECT_EQ(signals_->Read(info, 4), 0u);
}

TEST_F(SignalsTest, SignalsGoToTheOwningThreadOnly) {
  // Owned by another thread, the socket's signal is not pending for us.
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd ours(pair[0]), peer(pair[1]);
  pid_t other = 0;
  std::thread thread([&] {
    other = CurrentThreadId();
    ArmSocketSignals(ours.get(), SocketSignal(), other);
    ASSERT_EQ(write(peer.get(), "x", 1), 1);
    SignalFd own(DaemonSignals());
    pollfd pfd{own.fd(), POLLIN, 0};
    ASSERT_EQ(poll(&pfd, 1, 5000), 1);
    signalfd_siginfo info[4];
    EXPECT_EQ(own.Read(info, 4), 1u);
  });
  thread.join();
  signalfd_siginfo info[4];
  EXPECT_EQ(signals_->Read(info, 4), 0u);
}

TEST_F(SignalsTest, AnUnusedRealtimeSignalIsIgnoredNotFatal) {
  // Still alive after it: the default action would have killed the test.
  ASSERT_EQ(kill(getpid(), SIGRTMIN + 10), 0);
  ASSERT_EQ(kill(getpid(), SIGRTMAX), 0);
  struct sigaction action {};
  ASSERT_EQ(sigaction(SIGRTMIN + 10, nullptr, &action), 0);
  EXPECT_EQ(action.sa_handler, SIG_IGN);
  // The ones ferry uses still arrive through the signalfd.
  ASSERT_EQ(kill(getpid(), SocketSignal()), 0);
  signalfd_siginfo info[4];
  ASSERT_EQ(signals_->Read(info, 4), 1u);
  EXPECT_EQ(static_cast<int>(info[0].ssi_signo), SocketSignal());
}

}  // namespace
}  // namespace ferry

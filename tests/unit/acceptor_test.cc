#include "acceptor.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "address_list.h"
#include "signals.h"
#include "test_sockets.h"

namespace ferry {
namespace {

constexpr std::uint64_t kOwnTag = 7;
constexpr int kPatienceMs = 5000;

struct Accepted {
  UniqueFd socket;
  std::string client;
  bool proxy_protocol = false;
};

class Collector final : public Acceptor::Sink {
 public:
  void OnAccepted(UniqueFd socket, const sockaddr_storage& peer,
                  bool proxy_protocol, bool) override {
    accepted.push_back(
        {std::move(socket), std::string(AddressText(peer)), proxy_protocol});
  }
  std::vector<Accepted> accepted;
};

/// Hands the loop's events to the acceptor as the worker does.
class Dispatch final : public EventLoop::Handler {
 public:
  Dispatch(Acceptor& acceptor, Collector& sink)
      : acceptor_(acceptor), sink_(sink) {}
  void OnSocketReady(std::uint64_t tag, int fd, std::uint32_t) override {
    if (tag == kOwnTag) acceptor_.AcceptAll(fd, sink_);
  }
  void OnWatchedReady(std::uint64_t tag) override {
    acceptor_.AcceptAll(static_cast<int>(tag), sink_);
  }
  void OnSignal(int) override {}

 private:
  Acceptor& acceptor_;
  Collector& sink_;
};

class AcceptorTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    BlockDaemonSignals();
    Drain();
    loop_ = std::make_unique<EventLoop>(DaemonSignals(), 1024);
    UniqueFd listener = testing::ListenOnLoopback();
    ASSERT_TRUE(listener);
    port_ = testing::PortOf(listener.get());
    std::vector<WorkerListener> listeners;
    listeners.push_back({std::move(listener), /*shared=*/GetParam()});
    acceptor_ = std::make_unique<Acceptor>(std::move(listeners), *loop_,
                                           CurrentThreadId(), kOwnTag);
  }
  void TearDown() override {
    acceptor_.reset();
    loop_.reset();
    Drain();
  }
  static void Drain() {
    SignalFd signals(DaemonSignals());
    signalfd_siginfo batch[64];
    while (signals.Read(batch, 64) > 0) {
    }
  }
  /// Runs the loop until `count` clients were accepted (bounded).
  bool AwaitAccepted(std::size_t count) {
    Dispatch dispatch(*acceptor_, sink_);
    for (int i = 0; i < 8 && sink_.accepted.size() < count; ++i) {
      loop_->Wait(kPatienceMs, dispatch);
    }
    return sink_.accepted.size() >= count;
  }

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<Acceptor> acceptor_;
  Collector sink_;
  std::uint16_t port_ = 0;
};

TEST_P(AcceptorTest, AcceptsEveryClientAsTheListenerSignalsIt) {
  UniqueFd a = testing::ConnectTo(port_);
  UniqueFd b = testing::ConnectTo(port_);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(AwaitAccepted(2));
  EXPECT_EQ(sink_.accepted[0].client, "127.0.0.1");
  // Non-blocking, as the connection expects.
  char byte;
  EXPECT_EQ(recv(sink_.accepted[1].socket.get(), &byte, 1, 0), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_P(AcceptorTest, SaysWhichClientsCameToAProxyProtocolListener) {
  UniqueFd plain = testing::ListenOnLoopback();
  UniqueFd proxied = testing::ListenOnLoopback();
  ASSERT_TRUE(plain && proxied);
  const std::uint16_t plain_port = testing::PortOf(plain.get());
  const std::uint16_t proxied_port = testing::PortOf(proxied.get());
  std::vector<WorkerListener> listeners;
  listeners.push_back({std::move(plain), GetParam(), false});
  listeners.push_back({std::move(proxied), GetParam(), true});
  acceptor_.reset();
  acceptor_ = std::make_unique<Acceptor>(std::move(listeners), *loop_,
                                         CurrentThreadId(), kOwnTag);
  UniqueFd a = testing::ConnectTo(proxied_port);
  ASSERT_TRUE(a);
  ASSERT_TRUE(AwaitAccepted(1));
  UniqueFd b = testing::ConnectTo(plain_port);
  ASSERT_TRUE(b);
  ASSERT_TRUE(AwaitAccepted(2));
  EXPECT_TRUE(sink_.accepted[0].proxy_protocol);
  EXPECT_FALSE(sink_.accepted[1].proxy_protocol);
}

TEST_P(AcceptorTest, ClientsFromBeforeAreTakenByAcceptEverywhere) {
  UniqueFd a = testing::ConnectTo(port_);
  ASSERT_TRUE(a);
  acceptor_->AcceptEverywhere(sink_);
  EXPECT_EQ(sink_.accepted.size(), 1u);
}

TEST_P(AcceptorTest, OutOfDescriptorsPausesUntilTheNextTick) {
  UniqueFd a = testing::ConnectTo(port_);
  ASSERT_TRUE(a);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // The lowest free descriptor becomes the limit: accept4 gets EMFILE.
  int probe = dup(0);
  ASSERT_GE(probe, 0);
  close(probe);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(probe);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  acceptor_->AcceptEverywhere(sink_);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_TRUE(sink_.accepted.empty());
  // Paused: a new signal or wake-up accepts nothing until the tick.
  acceptor_->AcceptEverywhere(sink_);
  EXPECT_TRUE(sink_.accepted.empty());
  acceptor_->OnTick(sink_);
  EXPECT_EQ(sink_.accepted.size(), 1u);
}

TEST_P(AcceptorTest, StopLetsGoOfTheListener) {
  acceptor_->Stop();
  UniqueFd a = testing::ConnectTo(port_);  // refused: nobody listens
  EXPECT_FALSE(a);
  acceptor_->AcceptEverywhere(sink_);
  acceptor_->OnTick(sink_);
  EXPECT_TRUE(sink_.accepted.empty());
}

INSTANTIATE_TEST_SUITE_P(OwnAndShared, AcceptorTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "Shared" : "Own";
                         });

}  // namespace
}  // namespace ferry

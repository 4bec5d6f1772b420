#include "metrics_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "interval_timer.h"
#include "metrics.h"
#include "test_sockets.h"

namespace ferry {
namespace {

using testing::ConnectTo;
using testing::ListenOnLoopback;
using testing::PortOf;

/// A metrics server on a real socket, driven as Master::Run drives it:
/// AddPollFds, poll, OnPoll, with the time given by the test.
class MetricsServerTest : public ::testing::Test {
 protected:
  MetricsServerTest()
      : listener_(ListenOnLoopback()),
        page_(2),
        server_(listener_.get(), page_, 1, AddressList::Parse("127.0.0.0/8")) {
    Set(page_.worker(0).requests, 41);
  }

  /// One turn of the loop at `now_ms`: poll waits at most 10 ms.
  void Turn(std::int64_t now_ms) {
    std::vector<pollfd> fds;
    server_.AddPollFds(&fds);
    int ready = poll(fds.data(), fds.size(), 10);
    server_.OnPoll(fds.data(), ready > 0 ? fds.size() : 0, now_ms);
  }

  /// Turns the loop until `done` holds, for at most 5 s; true when it did.
  bool TurnUntil(const std::function<bool()>& done, std::int64_t now_ms = 0) {
    std::int64_t deadline = MonotonicMillis() + 5000;
    while (!done()) {
      if (MonotonicMillis() > deadline) return false;
      Turn(now_ms);
    }
    return true;
  }

  /// A client of the server, connected and accepted.
  UniqueFd Connect(std::int64_t now_ms = 0) {
    std::size_t before = server_.clients();
    UniqueFd client = ConnectTo(PortOf(listener_.get()));
    EXPECT_TRUE(client);
    EXPECT_TRUE(
        TurnUntil([&] { return server_.clients() == before + 1; }, now_ms));
    return client;
  }

  /// What `client` receives until the server closes it ("" past 5 s with
  /// the connection still open).
  std::string ReadToEnd(int client, std::int64_t now_ms = 0) {
    std::string received;
    bool closed = false;
    TurnUntil(
        [&] {
          char buffer[4096];
          ssize_t n;
          while ((n = recv(client, buffer, sizeof buffer, MSG_DONTWAIT)) > 0) {
            received.append(buffer, static_cast<std::size_t>(n));
          }
          closed = n == 0 || (n < 0 && errno != EAGAIN);
          return closed;
        },
        now_ms);
    return closed ? received : "";
  }

  /// Sends `request` on a new connection and returns the whole answer.
  std::string Ask(const std::string& request) {
    UniqueFd client = ConnectTo(PortOf(listener_.get()));
    EXPECT_TRUE(client);
    EXPECT_EQ(send(client.get(), request.data(), request.size(), 0),
              static_cast<ssize_t>(request.size()));
    return ReadToEnd(client.get());
  }

  static bool Closed(int client) {
    char byte;
    return recv(client, &byte, 1, MSG_DONTWAIT) == 0;
  }

  UniqueFd listener_;
  CountersPage page_;
  MetricsServer server_;
};

TEST_F(MetricsServerTest, AScrapeGetsTheRenderedCounters) {
  std::string body = RenderMetrics(page_, 1);
  ASSERT_NE(body.find("ferry_requests_total 41\n"), std::string::npos);
  std::string answer = Ask("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_NE(answer.find("\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n"),
            std::string::npos);
  EXPECT_TRUE(answer.ends_with("\r\n\r\n" + body));
  EXPECT_EQ(server_.clients(), 0u);
  EXPECT_EQ(server_.TimeoutMs(0), -1);
}

TEST_F(MetricsServerTest, HeadGetsTheHeadAlone) {
  std::string answer = Ask("HEAD /metrics HTTP/1.0\n\n");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\n")) << answer;
  EXPECT_NE(answer.find("Content-Length: " +
                        std::to_string(RenderMetrics(page_, 1).size())),
            std::string::npos);
}

TEST_F(MetricsServerTest, PostIsNotAllowed) {
  std::string answer = Ask("POST /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"))
      << answer;
  EXPECT_NE(answer.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(answer.find("ferry_requests_total"), std::string::npos);
}

TEST_F(MetricsServerTest, AHeadPastTheLimitIs431) {
  std::string request = "GET /" + std::string(MetricsServer::kMaxRequest, 'a');
  std::string answer = Ask(request);
  EXPECT_TRUE(
      answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
      << answer;
  // Just under the limit, completed, is an ordinary scrape.
  std::string path(MetricsServer::kMaxRequest - 20, 'a');
  EXPECT_TRUE(Ask("GET /" + path + " HTTP/1.1\r\n\r\n")
                  .starts_with("HTTP/1.1 200 OK\r\n"));
}

TEST_F(MetricsServerTest, AClientOutsideTheAllowListIs403) {
  server_.Allow(AddressList::Parse("10.0.0.0/8,::1"));
  std::string answer = Ask("GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 403 Forbidden\r\n")) << answer;
  EXPECT_EQ(answer.find("ferry_requests_total"), std::string::npos);
  EXPECT_EQ(server_.clients(), 0u);
  server_.Allow(AddressList::Parse("any"));
  EXPECT_TRUE(Ask("GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 OK"));
}

TEST_F(MetricsServerTest, ASlowClientHoldsUpNobody) {
  UniqueFd slow = Connect();
  ASSERT_EQ(send(slow.get(), "GET /met", 8, 0), 8);
  std::string answer = Ask("GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_EQ(server_.clients(), 1u);  // the slow one, still waited for
  ASSERT_EQ(send(slow.get(), "rics HTTP/1.1\r\n\r\n", 17, 0), 17);
  EXPECT_TRUE(ReadToEnd(slow.get()).starts_with("HTTP/1.1 200 OK\r\n"));
}

TEST_F(MetricsServerTest, AClientIsClosedAtItsDeadline) {
  UniqueFd client = Connect(/*now_ms=*/1000);
  EXPECT_EQ(server_.TimeoutMs(1000), MetricsServer::kClientMillis);
  EXPECT_EQ(server_.TimeoutMs(1500), MetricsServer::kClientMillis - 500);
  Turn(1000 + MetricsServer::kClientMillis - 1);
  EXPECT_EQ(server_.clients(), 1u);
  Turn(1000 + MetricsServer::kClientMillis);
  EXPECT_EQ(server_.clients(), 0u);
  char byte;  // closed without an answer
  EXPECT_EQ(recv(client.get(), &byte, 1, MSG_DONTWAIT), 0);
}

TEST_F(MetricsServerTest, OneTooManyEvictsTheLongestIdle) {
  std::vector<UniqueFd> clients;
  for (std::size_t i = 0; i < MetricsServer::kMaxClients; ++i) {
    clients.push_back(Connect(/*now_ms=*/100 + static_cast<std::int64_t>(i)));
  }
  // The first one moves a byte later than the second: the second is idlest.
  ASSERT_EQ(send(clients[0].get(), "G", 1, 0), 1);
  Turn(500);
  ASSERT_EQ(server_.clients(), MetricsServer::kMaxClients);

  UniqueFd newcomer = ConnectTo(PortOf(listener_.get()));
  ASSERT_TRUE(newcomer);
  EXPECT_TRUE(TurnUntil([&] { return Closed(clients[1].get()); }, 600));
  EXPECT_EQ(server_.clients(), MetricsServer::kMaxClients);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    if (i != 1) {
      EXPECT_FALSE(Closed(clients[i].get())) << i;
    }
  }
  // The newcomer is served.
  ASSERT_EQ(send(newcomer.get(), "GET / HTTP/1.1\r\n\r\n", 18, 0), 18);
  EXPECT_TRUE(
      ReadToEnd(newcomer.get(), 600).starts_with("HTTP/1.1 200 OK\r\n"));
}

}  // namespace
}  // namespace ferry

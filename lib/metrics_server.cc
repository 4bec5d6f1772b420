#include "metrics_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "metrics.h"

namespace ferry {
namespace {

bool HeadComplete(const std::string& input) {
  return input.find("\r\n\r\n") != std::string::npos ||
         input.find("\n\n") != std::string::npos;
}

std::string Response(std::string_view status, const std::string& body,
                     bool head) {
  std::string response =
      "HTTP/1.1 " + std::string(status) +
      "\r\nServer: ferry\r\n"
      "Content-Type: text/plain; version=0.0.4; charset=utf-8"
      "\r\nContent-Length: " +
      std::to_string(body.size()) +
      "\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\n";
  if (!head) response += body;
  return response;
}

}  // namespace

void MetricsServer::AddPollFds(std::vector<pollfd>* fds) const {
  // The listener first, so that clients' entries follow at a known place.
  fds->push_back({listener_, POLLIN, 0});
  for (const Client& client : clients_) {
    short events = client.output.empty() ? POLLIN : POLLOUT;
    fds->push_back({client.socket.get(), events, 0});
  }
}

void MetricsServer::OnPoll(const pollfd* fds, std::size_t count,
                           std::int64_t now_ms) {
  // Entries past clients_.size() + 1 cannot exist; be safe anyway.
  std::size_t polled = std::min(count, clients_.size() + 1);
  for (std::size_t i = 1; i < polled; ++i) {
    Client& client = clients_[i - 1];
    if (fds[i].revents == 0) continue;
    bool keep =
        client.output.empty() ? Receive(client, now_ms) : Send(client, now_ms);
    if (!keep) client.socket.Reset();
  }
  std::erase_if(clients_, [now_ms](const Client& client) {
    return !client.socket || now_ms >= client.deadline_ms;
  });
  if (count > 0 && (fds[0].revents & POLLIN)) Accept(now_ms);
}

int MetricsServer::TimeoutMs(std::int64_t now_ms) const {
  if (clients_.empty()) return -1;
  std::int64_t earliest = clients_.front().deadline_ms;
  for (const Client& client : clients_) {
    earliest = std::min(earliest, client.deadline_ms);
  }
  return static_cast<int>(std::max<std::int64_t>(earliest - now_ms, 0));
}

void MetricsServer::Accept(std::int64_t now_ms) {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    int fd = accept4(listener_, reinterpret_cast<sockaddr*>(&peer), &length,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a passing error: poll says when to retry
    Client client;
    client.socket.Reset(fd);
    if (!allowed_.Contains(peer)) {
      Refuse(client, now_ms);
      continue;
    }
    if (clients_.size() >= kMaxClients) EvictIdlest();
    client.deadline_ms = now_ms + kClientMillis;
    client.active_ms = now_ms;
    // A scraper sends its request with the connection: it is usually here.
    if (Receive(client, now_ms)) clients_.push_back(std::move(client));
  }
}

void MetricsServer::Refuse(Client& client, std::int64_t now_ms) {
  // What the client sent already is read first: closing a socket with
  // unread input resets it, and the reset could overtake the 403.
  char buffer[2048];
  for (std::size_t read = 0; read < kMaxRequest;) {
    ssize_t n = recv(client.socket.get(), buffer, sizeof buffer, 0);
    if (n <= 0 && errno != EINTR) break;
    if (n > 0) read += static_cast<std::size_t>(n);
  }
  // One send into a fresh socket's empty buffer: it does not wait.
  client.output =
      Response("403 Forbidden", "not allowed by --metrics-allow\n", false);
  Send(client, now_ms);
}

void MetricsServer::EvictIdlest() {
  auto idler = [](const Client& a, const Client& b) {
    // Still without a request ranks before an answer being read.
    if (a.output.empty() != b.output.empty()) return a.output.empty();
    return a.active_ms < b.active_ms;
  };
  clients_.erase(std::min_element(clients_.begin(), clients_.end(), idler));
}

bool MetricsServer::Receive(Client& client, std::int64_t now_ms) {
  char buffer[2048];
  for (;;) {
    ssize_t n = recv(client.socket.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;  // the rest comes later
    if (n <= 0) return false;  // closed before asking, or failed
    client.active_ms = now_ms;
    client.input.append(buffer, static_cast<std::size_t>(n));
    if (client.input.size() > kMaxRequest) {
      client.output = Response("431 Request Header Fields Too Large",
                               "request head too long\n", false);
      return Send(client, now_ms);
    }
    if (HeadComplete(client.input)) {
      client.output = Answer(client.input);
      return Send(client, now_ms);
    }
  }
}

bool MetricsServer::Send(Client& client, std::int64_t now_ms) {
  while (client.sent < client.output.size()) {
    ssize_t n = send(client.socket.get(), client.output.data() + client.sent,
                     client.output.size() - client.sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;  // POLLOUT says when
    if (n <= 0) return false;
    client.active_ms = now_ms;
    client.sent += static_cast<std::size_t>(n);
  }
  return false;  // all sent: close
}

std::string MetricsServer::Answer(const std::string& request) const {
  bool head = request.starts_with("HEAD ");
  if (head || request.starts_with("GET ")) {
    return Response("200 OK", RenderMetrics(page_, workers_, hot_), head);
  }
  return Response("405 Method Not Allowed", "only GET and HEAD\n", false);
}

}  // namespace ferry

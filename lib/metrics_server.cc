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
  // Always one entry for the listener, so that clients' entries follow at
  // a known place; a negative fd is one poll() skips.
  fds->push_back({clients_.size() < kMaxClients ? listener_ : -1, POLLIN, 0});
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
    bool keep = client.output.empty() ? Receive(client) : Send(client);
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
  while (clients_.size() < kMaxClients) {
    int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a passing error: poll says when to retry
    Client client;
    client.socket.Reset(fd);
    client.deadline_ms = now_ms + kClientMillis;
    // A scraper sends its request with the connection: it is usually here.
    if (Receive(client)) clients_.push_back(std::move(client));
  }
}

bool MetricsServer::Receive(Client& client) {
  char buffer[2048];
  for (;;) {
    ssize_t n = recv(client.socket.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;  // the rest comes later
    if (n <= 0) return false;  // closed before asking, or failed
    client.input.append(buffer, static_cast<std::size_t>(n));
    if (client.input.size() > kMaxRequest) {
      client.output = Response("431 Request Header Fields Too Large",
                               "request head too long\n", false);
      return Send(client);
    }
    if (HeadComplete(client.input)) {
      client.output = Answer(client.input);
      return Send(client);
    }
  }
}

bool MetricsServer::Send(Client& client) {
  while (client.sent < client.output.size()) {
    ssize_t n = send(client.socket.get(), client.output.data() + client.sent,
                     client.output.size() - client.sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;  // POLLOUT says when
    if (n <= 0) return false;
    client.sent += static_cast<std::size_t>(n);
  }
  return false;  // all sent: close
}

std::string MetricsServer::Answer(const std::string& request) const {
  bool head = request.starts_with("HEAD ");
  if (head || request.starts_with("GET ")) {
    return Response("200 OK", RenderMetrics(page_, workers_), head);
  }
  return Response("405 Method Not Allowed", "only GET and HEAD\n", false);
}

}  // namespace ferry

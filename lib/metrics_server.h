#pragma once
// The master's metrics endpoint (--metrics-listen): answers scrapers from
// the master's poll loop without ever waiting on one. A client that sends
// its request slowly, or reads the answer slowly, must not hold up what
// the master is for: reaping and re-forking workers, SIGTERM, SIGHUP and
// the watchdog pings.

#include <poll.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "address_list.h"
#include "counters.h"
#include "hot_table.h"
#include "unique_fd.h"

namespace ferry {

class MetricsServer {
 public:
  /// A scraper has this long from its accept to send its request and read
  /// the answer; then it is closed.
  static constexpr std::int64_t kClientMillis = 2000;
  /// Scrapers held at once. One more closes the one idle longest, those
  /// that have not sent a whole request first: slow clients cannot keep a
  /// scraper out.
  static constexpr std::size_t kMaxClients = 16;
  /// A request head longer than this is answered 431 and closed.
  static constexpr std::size_t kMaxRequest = 8192;

  /// `listener`: a non-blocking listening socket, owned by the caller.
  /// Clients from outside `allowed` get a 403 and are closed at once.
  /// `hot`: the --hot-cache table whose figures are shown too, or nullptr.
  MetricsServer(int listener, const CountersPage& page, unsigned workers,
                AddressList allowed, const HotTable* hot = nullptr)
      : listener_(listener),
        page_(page),
        workers_(workers),
        allowed_(std::move(allowed)),
        hot_(hot) {}

  /// Replaces the allow-list (a reload).
  void Allow(AddressList allowed) { allowed_ = std::move(allowed); }

  /// Appends what to poll: the listener, then each client for input or
  /// output.
  void AddPollFds(std::vector<pollfd>* fds) const;

  /// Acts on what poll() said of the descriptors AddPollFds added (`fds`,
  /// `count` of them, in that order), then closes clients past their
  /// deadline.
  void OnPoll(const pollfd* fds, std::size_t count, std::int64_t now_ms);

  /// Milliseconds until the earliest client deadline, or -1 with none.
  int TimeoutMs(std::int64_t now_ms) const;

  std::size_t clients() const { return clients_.size(); }

 private:
  struct Client {
    UniqueFd socket;
    std::int64_t deadline_ms = 0;
    std::int64_t active_ms = 0;  ///< accepted, or last moved a byte
    std::string input;           ///< the request head so far
    std::string output;          ///< the answer, once the head is complete
    std::size_t sent = 0;
  };

  void Accept(std::int64_t now_ms);
  /// Answers a client outside the allow-list 403; the caller closes it.
  void Refuse(Client& client, std::int64_t now_ms);
  /// Closes the client idle longest, preferring one without a request.
  void EvictIdlest();
  /// Reads what the client sent; false when it is to be closed.
  bool Receive(Client& client, std::int64_t now_ms);
  /// Sends what the socket takes; false when done or failed.
  bool Send(Client& client, std::int64_t now_ms);
  std::string Answer(const std::string& request) const;

  int listener_;
  const CountersPage& page_;
  unsigned workers_;
  AddressList allowed_;
  const HotTable* hot_;
  std::vector<Client> clients_;
};

}  // namespace ferry

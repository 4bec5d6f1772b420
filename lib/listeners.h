#pragma once
// Listening sockets: our own (one SO_REUSEPORT socket per worker for each
// TCP address), and those systemd passes (socket activation), which every
// worker shares.

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "unique_fd.h"

namespace ferry {

/// One listening socket and how workers use it.
struct Listener {
  UniqueFd fd;
  std::string name;  ///< "127.0.0.1:8080", "unix:/run/x.sock", "systemd:http"
  /// Shared by all workers (inherited from systemd, or a unix socket):
  /// workers wait on it with EPOLLEXCLUSIVE. Otherwise it belongs to one
  /// worker (`worker`) and is signal-driven like any socket.
  bool shared = false;
  unsigned worker = 0;
  /// Its connections start with a PROXY protocol header (--proxy-protocol).
  bool proxy_protocol = false;
  /// Its clients speak TLS (--ssl).
  bool tls = false;
};

/// All of the daemon's listeners, made by the master before it forks.
class ListenerSet {
 public:
  /// Binds and listens on `addresses`: for TCP, `workers` SO_REUSEPORT
  /// sockets per address (port 0 resolves to one ephemeral port that all
  /// share). An address another socket holds (another ferryd, even with
  /// SO_REUSEPORT; a live unix socket) throws std::runtime_error
  /// "FLAG ADDRESS: address already in use", `flag` being the option that
  /// named it; other failures std::system_error naming the address.
  void OpenOwn(const std::vector<ListenAddress>& addresses, unsigned workers,
               const char* flag = "--listen");

  /// Takes the sockets systemd passed (sd_listen_fds), if any. Returns how
  /// many.
  int TakeInherited();

  /// Marks the listeners bound to `addresses` (a port 0 matching any port)
  /// as taking the PROXY protocol, inherited ones too. Throws
  /// std::runtime_error naming the first address no listener has.
  void MarkProxyProtocol(const std::vector<ListenAddress>& addresses);
  /// The same for --ssl: the listeners whose clients speak TLS.
  void MarkTls(const std::vector<ListenAddress>& addresses);

  /// The TCP port of the listener bound to `address` (its port 0 matching
  /// any: the ephemeral port it got); 0 when no TCP listener has it.
  std::uint16_t BoundPort(const ListenAddress& address) const;

  /// The listeners worker `index` serves: its own and the shared ones.
  std::vector<int> ForWorker(unsigned index) const;

  /// One name per distinct address, for the start-up message; a TLS
  /// listener's ends in " (TLS)".
  std::vector<std::string> Names() const;

  bool empty() const { return listeners_.empty(); }
  const std::vector<Listener>& all() const { return listeners_; }

 private:
  void Mark(const std::vector<ListenAddress>& addresses, const char* flag,
            bool Listener::*what);

  std::vector<Listener> listeners_;
};

}  // namespace ferry

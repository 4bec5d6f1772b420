#include "listeners.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "service_manager.h"
#include "system_error.h"

namespace ferry {
namespace {

constexpr int kBacklog = 4096;

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
};

SocketAddress ToSocketAddress(const ListenAddress& address) {
  SocketAddress out;
  if (address.kind == ListenAddress::Kind::kUnix) {
    auto* un = reinterpret_cast<sockaddr_un*>(&out.storage);
    un->sun_family = AF_UNIX;
    if (address.path.size() >= sizeof un->sun_path) {
      ThrowSystemError(ENAMETOOLONG, "bind", address.text);
    }
    std::memcpy(un->sun_path, address.path.c_str(), address.path.size() + 1);
    out.length = sizeof(sockaddr_un);
    out.family = AF_UNIX;
    return out;
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (address.host.empty() ||
      inet_pton(AF_INET, address.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    if (address.host.empty()) v4->sin_addr.s_addr = htonl(INADDR_ANY);
    out.length = sizeof(sockaddr_in);
    out.family = AF_INET;
  } else if (inet_pton(AF_INET6, address.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    out.length = sizeof(sockaddr_in6);
    out.family = AF_INET6;
  } else {
    ThrowSystemError(EINVAL, "inet_pton", address.text);
  }
  return out;
}

std::uint16_t BoundPort(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  CheckCall(getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length),
            "getsockname");
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
}

/// A socket bound to `address`, not yet listening.
UniqueFd Bound(const SocketAddress& address, const std::string& text,
               bool reuse_port) {
  UniqueFd fd(static_cast<int>(CheckCall(
      socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
      "socket", text)));
  int one = 1;
  if (address.family != AF_UNIX) {
    CheckCall(setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one),
              "setsockopt(SO_REUSEADDR)", text);
    if (reuse_port) {
      CheckCall(
          setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one),
          "setsockopt(SO_REUSEPORT)", text);
    }
    if (address.family == AF_INET6) {
      CheckCall(
          setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one),
          "setsockopt(IPV6_V6ONLY)", text);
    }
  }
  CheckCall(bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage),
                 address.length),
            "bind", text);
  return fd;
}

UniqueFd BindAndListen(const SocketAddress& address, const std::string& text,
                       bool reuse_port) {
  UniqueFd fd = Bound(address, text, reuse_port);
  CheckCall(listen(fd.get(), kBacklog), "listen", text);
  return fd;
}

[[noreturn]] void ThrowInUse(const char* flag, const std::string& text) {
  throw std::runtime_error(std::string(flag) + " " + text +
                           ": address already in use");
}

/// Claims a TCP address for this daemon: binds it once without
/// SO_REUSEPORT, which Linux refuses (EADDRINUSE) while any socket holds
/// it, SO_REUSEPORT or not, so a second daemon cannot quietly share our
/// port. Returns the port, the one the kernel picked for port 0.
std::uint16_t ClaimPort(const SocketAddress& address, const char* flag,
                        const std::string& text) {
  try {
    UniqueFd probe = Bound(address, text, /*reuse_port=*/false);
    return BoundPort(probe.get());  // closed: our SO_REUSEPORT sockets follow
  } catch (const std::system_error& error) {
    if (error.code().value() == EADDRINUSE) ThrowInUse(flag, text);
    throw;
  }
}

/// A unix socket file left by an earlier run would fail the bind and is
/// removed; one that a live process still accepts on is in use.
void RemoveStaleSocketFile(const SocketAddress& address, const char* flag,
                           const std::string& text, const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return;
  UniqueFd client(static_cast<int>(
      CheckCall(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
                "socket", text)));
  if (connect(client.get(), reinterpret_cast<const sockaddr*>(&address.storage),
              address.length) == 0 ||
      errno == EAGAIN) {
    ThrowInUse(flag, text);
  }
  unlink(path.c_str());
}

std::string DisplayName(const ListenAddress& address, std::uint16_t port) {
  if (address.kind == ListenAddress::Kind::kUnix) return "unix:" + address.path;
  std::string host = address.host.empty() ? "0.0.0.0" : address.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

}  // namespace

void ListenerSet::OpenOwn(const std::vector<ListenAddress>& addresses,
                          unsigned workers, const char* flag) {
  for (const ListenAddress& address : addresses) {
    SocketAddress socket_address = ToSocketAddress(address);
    if (address.kind == ListenAddress::Kind::kUnix) {
      RemoveStaleSocketFile(socket_address, flag, address.text, address.path);
      Listener listener;
      listener.fd = BindAndListen(socket_address, address.text, false);
      listener.name = DisplayName(address, 0);
      listener.shared = true;
      listeners_.push_back(std::move(listener));
      continue;
    }
    // Port 0: the probe picked the port; every worker's socket shares it.
    std::uint16_t port = ClaimPort(socket_address, flag, address.text);
    auto* in = reinterpret_cast<sockaddr_in*>(&socket_address.storage);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&socket_address.storage);
    if (socket_address.family == AF_INET6) {
      in6->sin6_port = htons(port);
    } else {
      in->sin_port = htons(port);
    }
    for (unsigned worker = 0; worker < workers; ++worker) {
      Listener listener;
      listener.fd = BindAndListen(socket_address, address.text, true);
      listener.name = DisplayName(address, port);
      listener.worker = worker;
      listeners_.push_back(std::move(listener));
    }
  }
}

int ListenerSet::TakeInherited() {
  std::vector<InheritedSocket> inherited = TakeInheritedSockets();
  for (const InheritedSocket& socket : inherited) {
    CheckCall(fcntl(socket.fd, F_SETFD, FD_CLOEXEC), "fcntl", "F_SETFD");
    int flags = static_cast<int>(CheckCall(fcntl(socket.fd, F_GETFL), "fcntl"));
    CheckCall(fcntl(socket.fd, F_SETFL, flags | O_NONBLOCK), "fcntl",
              "F_SETFL");
    Listener listener;
    listener.fd.Reset(socket.fd);
    listener.name = "systemd:" + socket.name;
    listener.shared = true;
    listeners_.push_back(std::move(listener));
  }
  return static_cast<int>(inherited.size());
}

namespace {

/// True when the listening socket `fd` is bound to `address`.
bool BoundTo(int fd, const ListenAddress& address) {
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    return false;
  }
  const SocketAddress want = ToSocketAddress(address);
  if (bound.ss_family != want.family) return false;
  if (want.family == AF_UNIX) {
    return address.path == reinterpret_cast<const sockaddr_un&>(bound).sun_path;
  }
  if (want.family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(bound);
    const auto& b = reinterpret_cast<const sockaddr_in&>(want.storage);
    return a.sin_addr.s_addr == b.sin_addr.s_addr &&
           (b.sin_port == 0 || a.sin_port == b.sin_port);
  }
  const auto& a = reinterpret_cast<const sockaddr_in6&>(bound);
  const auto& b = reinterpret_cast<const sockaddr_in6&>(want.storage);
  return std::memcmp(&a.sin6_addr, &b.sin6_addr, sizeof a.sin6_addr) == 0 &&
         (b.sin6_port == 0 || a.sin6_port == b.sin6_port);
}

}  // namespace

void ListenerSet::MarkProxyProtocol(
    const std::vector<ListenAddress>& addresses) {
  Mark(addresses, "--proxy-protocol", &Listener::proxy_protocol);
}

void ListenerSet::MarkTls(const std::vector<ListenAddress>& addresses) {
  Mark(addresses, "--ssl", &Listener::tls);
}

void ListenerSet::Mark(const std::vector<ListenAddress>& addresses,
                       const char* flag, bool Listener::*what) {
  for (const ListenAddress& address : addresses) {
    bool found = false;
    for (Listener& listener : listeners_) {
      if (BoundTo(listener.fd.get(), address)) {
        listener.*what = true;
        found = true;
      }
    }
    if (!found) {
      throw std::runtime_error(std::string(flag) + " " + address.text +
                               ": no listener has this address");
    }
  }
}

std::uint16_t ListenerSet::BoundPort(const ListenAddress& address) const {
  for (const Listener& listener : listeners_) {
    // The file's own BoundPort(fd): the port a TCP socket was given.
    if (BoundTo(listener.fd.get(), address)) {
      return ferry::BoundPort(listener.fd.get());
    }
  }
  return 0;
}

std::vector<int> ListenerSet::ForWorker(unsigned index) const {
  std::vector<int> fds;
  for (const Listener& listener : listeners_) {
    if (listener.shared || listener.worker == index) {
      fds.push_back(listener.fd.get());
    }
  }
  return fds;
}

std::vector<std::string> ListenerSet::Names() const {
  std::vector<std::string> names;
  for (const Listener& listener : listeners_) {
    const std::string name = listener.name + (listener.tls ? " (TLS)" : "");
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(name);
    }
  }
  return names;
}

}  // namespace ferry

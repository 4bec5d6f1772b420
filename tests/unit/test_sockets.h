#pragma once
// Real sockets on 127.0.0.1 and forked children for tests: no mocks.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "unique_fd.h"

namespace ferry::testing {

/// 127.0.0.1:`port` as a sockaddr_in.
inline sockaddr_in Loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

/// The port `fd` is bound to (IPv4), or 0.
inline std::uint16_t PortOf(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return 0;
  }
  return ntohs(address.sin_port);
}

/// A plain (no SO_REUSEPORT) non-blocking TCP socket listening on
/// 127.0.0.1:`port` (0: the kernel picks), or an empty one.
inline UniqueFd ListenOnLoopback(std::uint16_t port = 0) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in address = Loopback(port);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) ||
      listen(fd.get(), 64)) {
    return UniqueFd();
  }
  return fd;
}

/// A blocking TCP client connected to 127.0.0.1:`port`, or an empty one.
inline UniqueFd ConnectTo(std::uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address = Loopback(port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&address),
              sizeof address) != 0) {
    return UniqueFd();
  }
  return fd;
}

/// Waits for `events` on `fd` for at most `timeout`; true when they came.
inline bool WaitFor(
    int fd, short events,
    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  pollfd entry{fd, events, 0};
  return poll(&entry, 1, static_cast<int>(timeout.count())) == 1 &&
         (entry.revents & events) != 0;
}

/// Runs `body` in a forked child, which exits with what it returns; returns
/// the child's wait status (an exception out of `body`: exit status 125).
/// The child leaves by _exit: no gtest teardown, no atexit handlers of the
/// parent's.
inline int RunInChild(const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    int code = 125;
    try {
      code = body();
    } catch (...) {
    }
    _exit(code);
  }
  int status = -1;
  if (pid > 0) waitpid(pid, &status, 0);
  return status;
}

}  // namespace ferry::testing

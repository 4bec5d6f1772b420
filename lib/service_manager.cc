#include "service_manager.h"

#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "system_error.h"

namespace ferry {

void NotifyServiceManager(const std::string& state) {
  sd_notify(/*unset_environment=*/0, state.c_str());
}

Milliseconds WatchdogInterval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/1, &usec) <= 0) {
    return Milliseconds(0);
  }
  return Milliseconds(usec / 1000);
}

std::vector<InheritedSocket> TakeInheritedSockets() {
  char** names = nullptr;
  int count = sd_listen_fds_with_names(/*unset_environment=*/1, &names);
  if (count < 0) ThrowSystemError(-count, "sd_listen_fds");
  std::vector<InheritedSocket> sockets;
  for (int i = 0; i < count; ++i) {
    int fd = SD_LISTEN_FDS_START + i;
    std::string name = names != nullptr && names[i] != nullptr
                           ? names[i]
                           : "fd" + std::to_string(fd);
    sockets.push_back({fd, name});
  }
  if (names != nullptr) {
    for (int i = 0; i < count; ++i) std::free(names[i]);
    std::free(names);
  }
  for (const InheritedSocket& socket : sockets) {
    if (sd_is_socket(socket.fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
      ThrowSystemError(ENOTSOCK, "sd_listen_fds",
                       "inherited fd " + std::to_string(socket.fd) + " (" +
                           socket.name + ") is not a listening stream socket");
    }
  }
  return sockets;
}

}  // namespace ferry

#pragma once
// What ferryd says to and takes from the service manager (systemd's
// sd-daemon protocol): the one place that includes <systemd/sd-daemon.h>.

#include <string>
#include <vector>

#include "config.h"

namespace ferry {

/// Sends `state` ("READY=1", "STATUS=...", "WATCHDOG=1", ...) to
/// $NOTIFY_SOCKET; does nothing when ferryd was not started by systemd.
void NotifyServiceManager(const std::string& state);

/// The watchdog interval systemd asks for (WatchdogSec=), or 0; takes
/// WATCHDOG_USEC out of the environment so that children do not see it.
Milliseconds WatchdogInterval();

/// A listening socket passed by socket activation.
struct InheritedSocket {
  int fd = -1;
  std::string name;  ///< FileDescriptorName=, or "fd3", "fd4", ...
};

/// The sockets systemd passed (LISTEN_FDS, taken out of the environment).
/// Throws std::system_error when one is not a listening stream socket.
std::vector<InheritedSocket> TakeInheritedSockets();

}  // namespace ferry

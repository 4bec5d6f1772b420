#include "service_manager.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "test_files.h"
#include "unique_fd.h"

namespace ferry {
namespace {

TEST(ServiceManager, NotifyReachesNotifySocket) {
  testing::TempDir dir;
  std::string path = dir.path() + "/notify";
  UniqueFd receiver(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  ASSERT_EQ(bind(receiver.get(), reinterpret_cast<sockaddr*>(&address),
                 sizeof address),
            0);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  NotifyServiceManager("READY=1\nSTATUS=testing");
  unsetenv("NOTIFY_SOCKET");
  char buffer[256];
  ssize_t n = recv(receiver.get(), buffer, sizeof buffer, MSG_DONTWAIT);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buffer, static_cast<std::size_t>(n)),
            "READY=1\nSTATUS=testing");
  NotifyServiceManager("STATUS=nobody listens");  // no socket: no effect
}

TEST(ServiceManager, WatchdogIntervalIsTakenFromTheEnvironment) {
  unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(WatchdogInterval().count(), 0);
  setenv("WATCHDOG_USEC", "20000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  EXPECT_EQ(WatchdogInterval(), Milliseconds(20'000));
  // Taken out, so that the workers do not think it is theirs.
  EXPECT_EQ(std::getenv("WATCHDOG_USEC"), nullptr);
  setenv("WATCHDOG_USEC", "20000000", 1);
  setenv("WATCHDOG_PID", "1", 1);  // for another process
  EXPECT_EQ(WatchdogInterval().count(), 0);
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
}

}  // namespace
}  // namespace ferry

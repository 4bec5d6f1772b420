#include "listeners.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>

#include "test_files.h"
#include "test_sockets.h"

namespace ferry {
namespace {

using testing::ConnectTo;
using testing::ListenOnLoopback;
using testing::PortOf;
using testing::RunInChild;
using testing::TempDir;
using testing::WaitFor;

int SocketOption(int fd, int level, int name) {
  int value = -1;
  socklen_t length = sizeof value;
  getsockopt(fd, level, name, &value, &length);
  return value;
}

/// The message OpenOwn throws for `text` under `flag`, or "" when none.
std::string InUseMessage(const std::string& text, const char* flag) {
  ListenerSet set;
  try {
    set.OpenOwn({ParseListenAddress(text)}, 2, flag);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

UniqueFd ConnectUnix(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&address),
              sizeof address) != 0) {
    return UniqueFd();
  }
  return fd;
}

TEST(Listeners, OneReusePortSocketPerWorkerAllOnOnePort) {
  ListenerSet set;
  set.OpenOwn({ParseListenAddress("127.0.0.1:0")}, 3);
  ASSERT_EQ(set.all().size(), 3u);
  std::uint16_t port = PortOf(set.all()[0].fd.get());
  ASSERT_NE(port, 0);
  for (unsigned i = 0; i < 3; ++i) {
    const Listener& listener = set.all()[i];
    EXPECT_EQ(PortOf(listener.fd.get()), port);
    EXPECT_FALSE(listener.shared);
    EXPECT_EQ(listener.worker, i);
    EXPECT_EQ(listener.name, "127.0.0.1:" + std::to_string(port));
    EXPECT_EQ(SocketOption(listener.fd.get(), SOL_SOCKET, SO_REUSEPORT), 1);
    EXPECT_EQ(SocketOption(listener.fd.get(), SOL_SOCKET, SO_ACCEPTCONN), 1);
    EXPECT_TRUE(fcntl(listener.fd.get(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(listener.fd.get(), F_GETFD) & FD_CLOEXEC);
    EXPECT_EQ(set.ForWorker(i), std::vector<int>{listener.fd.get()});
  }
  EXPECT_EQ(set.Names(),
            std::vector<std::string>{"127.0.0.1:" + std::to_string(port)});

  // A client reaches one of the workers' sockets.
  UniqueFd client = ConnectTo(port);
  ASSERT_TRUE(client);
  std::vector<pollfd> fds;
  for (const Listener& listener : set.all()) {
    fds.push_back({listener.fd.get(), POLLIN, 0});
  }
  ASSERT_EQ(poll(fds.data(), fds.size(), 5000), 1);
  for (const pollfd& entry : fds) {
    if (entry.revents & POLLIN) {
      UniqueFd accepted(accept4(entry.fd, nullptr, nullptr, SOCK_CLOEXEC));
      EXPECT_TRUE(accepted);
    }
  }
}

TEST(Listeners, ProxyProtocolMarksTheListenersBoundToItsAddress) {
  ListenerSet set;
  set.OpenOwn(
      {ParseListenAddress("127.0.0.1:0"), ParseListenAddress("127.0.0.2:0")},
      2);
  ASSERT_EQ(set.all().size(), 4u);
  const std::uint16_t port = PortOf(set.all()[0].fd.get());
  // Port 0 matches the port the listeners got; the other host is not
  // marked.
  set.MarkProxyProtocol({ParseListenAddress("127.0.0.1:0")});
  EXPECT_TRUE(set.all()[0].proxy_protocol && set.all()[1].proxy_protocol);
  EXPECT_FALSE(set.all()[2].proxy_protocol || set.all()[3].proxy_protocol);
  set.MarkProxyProtocol({ParseListenAddress(
      "127.0.0.2:" + std::to_string(PortOf(set.all()[2].fd.get())))});
  EXPECT_TRUE(set.all()[2].proxy_protocol && set.all()[3].proxy_protocol);
  // An address no listener has: refused, named.
  const std::string other = "127.0.0.1:" + std::to_string(port == 1 ? 2 : 1);
  try {
    set.MarkProxyProtocol({ParseListenAddress(other)});
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "--proxy-protocol " + other + ": no listener has this address");
  }
}

TEST(Listeners, BoundPortIsThePortTheListenerGot) {
  ListenerSet set;
  set.OpenOwn({ParseListenAddress("127.0.0.2:0")}, 1);
  const std::uint16_t port = PortOf(set.all().front().fd.get());
  EXPECT_NE(port, 0);
  // Port 0 matches the port it got, as --ssl's does.
  EXPECT_EQ(set.BoundPort(ParseListenAddress("127.0.0.2:0")), port);
  EXPECT_EQ(
      set.BoundPort(ParseListenAddress("127.0.0.2:" + std::to_string(port))),
      port);
  EXPECT_EQ(set.BoundPort(ParseListenAddress("127.0.0.3:0")), 0);
  EXPECT_EQ(set.BoundPort(ParseListenAddress("unix:/nonexistent.sock")), 0);
}

TEST(Listeners, AUnixSocketIsSharedByEveryWorker) {
  TempDir dir;
  std::string path = dir.path() + "/ferry.sock";
  ListenerSet set;
  set.OpenOwn(
      {ParseListenAddress("unix:" + path), ParseListenAddress("127.0.0.1:0")},
      2);
  ASSERT_EQ(set.all().size(), 3u);
  const Listener& unix_listener = set.all()[0];
  EXPECT_TRUE(unix_listener.shared);
  EXPECT_EQ(unix_listener.name, "unix:" + path);
  std::uint16_t port = PortOf(set.all()[1].fd.get());
  EXPECT_EQ(set.Names(),
            (std::vector<std::string>{"unix:" + path,
                                      "127.0.0.1:" + std::to_string(port)}));
  for (unsigned worker = 0; worker < 2; ++worker) {
    std::vector<int> fds = set.ForWorker(worker);
    EXPECT_EQ(fds.size(), 2u);
    EXPECT_NE(std::find(fds.begin(), fds.end(), unix_listener.fd.get()),
              fds.end());
  }
  EXPECT_NE(set.ForWorker(0), set.ForWorker(1));

  UniqueFd client = ConnectUnix(path);
  ASSERT_TRUE(client);
  ASSERT_TRUE(WaitFor(unix_listener.fd.get(), POLLIN));
  UniqueFd accepted(accept4(unix_listener.fd.get(), nullptr, nullptr, 0));
  EXPECT_TRUE(accepted);
}

TEST(Listeners, AStaleUnixSocketFileIsReplacedALiveOneIsInUse) {
  TempDir dir;
  std::string path = dir.path() + "/ferry.sock";
  {
    ListenerSet earlier;  // leaves its socket file behind when closed
    earlier.OpenOwn({ParseListenAddress("unix:" + path)}, 1);
  }
  ListenerSet set;
  set.OpenOwn({ParseListenAddress("unix:" + path)}, 1);
  EXPECT_TRUE(ConnectUnix(path));
  EXPECT_EQ(InUseMessage("unix:" + path, "--listen"),
            "--listen unix:" + path + ": address already in use");
}

TEST(Listeners, AnAddressAPlainSocketHoldsIsInUseNamingTheFlag) {
  UniqueFd other = ListenOnLoopback();
  ASSERT_TRUE(other);
  std::string text = "127.0.0.1:" + std::to_string(PortOf(other.get()));
  EXPECT_EQ(InUseMessage(text, "--metrics-listen"),
            "--metrics-listen " + text + ": address already in use");
}

TEST(Listeners, AnotherDaemonsReusePortSocketsStillMakeItInUse) {
  ListenerSet first;
  first.OpenOwn({ParseListenAddress("127.0.0.1:0")}, 2);
  std::string text =
      "127.0.0.1:" + std::to_string(PortOf(first.all()[0].fd.get()));
  EXPECT_EQ(InUseMessage(text, "--listen"),
            "--listen " + text + ": address already in use");
}

TEST(Listeners, OtherBindFailuresAreSystemErrorsNamingTheAddress) {
  TempDir dir;
  std::string text = "unix:" + dir.path() + "/missing/ferry.sock";
  ListenerSet set;
  try {
    set.OpenOwn({ParseListenAddress(text)}, 1);
    FAIL() << "bound in a directory that does not exist";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ENOENT);
    EXPECT_NE(std::string(error.what()).find("bind(" + text + ")"),
              std::string::npos)
        << error.what();
  }
}

TEST(Listeners, NothingInheritedWithoutListenFds) {
  int status = RunInChild([] {
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_PID");
    ListenerSet set;
    return set.TakeInherited() == 0 && set.empty() ? 0 : 1;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

/// In a child: puts `fd` at fd 3 and announces it as systemd does.
void PassAsSystemd(int fd, const char* name) {
  dup2(fd, 3);
  setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_FDNAMES", name, 1);
}

TEST(Listeners, TakesTheSocketSystemdPassedAtFd3) {
  UniqueFd passed = ListenOnLoopback();
  ASSERT_TRUE(passed);
  int flags = fcntl(passed.get(), F_GETFL);
  ASSERT_EQ(fcntl(passed.get(), F_SETFL, flags & ~O_NONBLOCK), 0);
  int status = RunInChild([&] {
    PassAsSystemd(passed.get(), "http");
    fcntl(3, F_SETFD, 0);  // as systemd hands it over: inheritable, blocking
    ListenerSet set;
    if (set.TakeInherited() != 1 || set.all().size() != 1) return 1;
    const Listener& listener = set.all()[0];
    if (listener.fd.get() != 3) return 2;
    if (listener.name != "systemd:http" || !listener.shared) return 3;
    if (!(fcntl(3, F_GETFL) & O_NONBLOCK)) return 4;
    if (!(fcntl(3, F_GETFD) & FD_CLOEXEC)) return 5;
    if (getenv("LISTEN_FDS") != nullptr) return 6;  // not passed on
    if (set.ForWorker(0) != std::vector<int>{3}) return 7;
    if (set.ForWorker(5) != std::vector<int>{3}) return 8;
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(Listeners, AnInheritedFdThatIsNotAListeningSocketIsRefused) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  int status = RunInChild([&] {
    PassAsSystemd(read_end.get(), "bogus");
    ListenerSet set;
    try {
      set.TakeInherited();
    } catch (const std::system_error& error) {
      bool named = std::string(error.what()).find("inherited fd 3 (bogus)") !=
                   std::string::npos;
      return error.code().value() == ENOTSOCK && named ? 0 : 2;
    }
    return 1;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace ferry

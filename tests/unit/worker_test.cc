#include "worker.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "test_files.h"
#include "test_sockets.h"

namespace ferry {
namespace {

using testing::ConnectTo;
using testing::ListenOnLoopback;
using testing::PortOf;
using testing::TempDir;
using testing::WaitFor;

/// A real Worker in a forked child, serving `root` on `listener`; the
/// child exits with what Run() returns (125: it threw).
class ChildWorker {
 public:
  ChildWorker(const std::string& root, UniqueFd listener) {
    pid_ = fork();
    if (pid_ == 0) _exit(RunWorker(root, std::move(listener)));
    pidfd_.Reset(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
  }
  ~ChildWorker() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }

  /// The child's wait status once it exits within `timeout_ms`, or -1 (it
  /// is then killed).
  int WaitForExit(int timeout_ms) {
    pollfd entry{pidfd_.get(), POLLIN, 0};
    if (poll(&entry, 1, timeout_ms) != 1) return -1;
    int status = -1;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  static int RunWorker(const std::string& root_path, UniqueFd listener) {
    try {
      // Before any thread exists: the helpers inherit the mask.
      BlockDaemonSignals();
      Config config;
      config.buffer_memory = 4 * config.block_size;
      config.file_cache = 0;
      config.max_connections = 64;
      MimeTypes mime;
      WorkerCounters counters{};
      std::vector<WorkerListener> listeners;
      listeners.push_back({std::move(listener), /*shared=*/false});
      Worker worker(config, DocumentRoot(root_path), mime, std::move(listeners),
                    UniqueFd(), counters);
      return worker.Run();
    } catch (...) {
      return 125;
    }
  }

  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

/// Reads from the blocking `fd` until `done(text)` or the end; false when
/// nothing came for 5 s.
bool ReadUntil(int fd, std::string* text,
               const std::function<bool(const std::string&)>& done) {
  char buffer[4096];
  while (!done(*text)) {
    if (!WaitFor(fd, POLLIN)) return false;
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) return done(*text);
    text->append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

/// Reads from `fd` until the end of its input; false when nothing came
/// for 5 s.
bool ReadToEnd(int fd, std::string* text) {
  char buffer[4096];
  for (;;) {
    if (!WaitFor(fd, POLLIN)) return false;
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) return n == 0;
    text->append(buffer, static_cast<std::size_t>(n));
  }
}

TEST(Worker, ServesAGetThenStopsCleanlyOnSigterm) {
  TempDir dir;
  dir.Write("index.html", "<p>ferry</p>\n");
  UniqueFd listener = ListenOnLoopback();
  ASSERT_TRUE(listener);
  std::uint16_t port = PortOf(listener.get());
  // The connection waits in the backlog until the worker runs: Run()
  // accepts what came before it (no signal announces it).
  UniqueFd client = ConnectTo(port);
  ASSERT_TRUE(client);
  ChildWorker worker(dir.path(), std::move(listener));
  ASSERT_GT(worker.pid(), 0);

  std::string request = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_EQ(write(client.get(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  std::string response;
  ASSERT_TRUE(ReadUntil(client.get(), &response, [](const std::string& text) {
    return text.find("<p>ferry</p>\n") != std::string::npos;
  })) << response;
  EXPECT_EQ(response.rfind("HTTP/1.1 200 ", 0), 0u) << response;
  EXPECT_NE(response.find("Content-Length: 13\r\n"), std::string::npos);

  // An idle keep-alive connection closes at once on shutdown, and then the
  // worker, with nothing left to serve, returns 0.
  ASSERT_EQ(kill(worker.pid(), SIGTERM), 0);
  std::string rest;
  EXPECT_TRUE(ReadToEnd(client.get(), &rest)) << "the worker kept it open";
  EXPECT_EQ(rest, "");
  int status = worker.WaitForExit(10'000);
  ASSERT_NE(status, -1) << "the worker did not stop within 10 s";
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Worker, ASecondConnectionAfterTheFirstIsServedToo) {
  // Accepted through the listener's signal, not the start-up accept.
  TempDir dir;
  dir.Write("a.txt", "abc");
  UniqueFd listener = ListenOnLoopback();
  ASSERT_TRUE(listener);
  std::uint16_t port = PortOf(listener.get());
  UniqueFd first = ConnectTo(port);
  ASSERT_TRUE(first);
  ChildWorker worker(dir.path(), std::move(listener));
  std::string request = "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n";
  auto done = [](const std::string& text) {
    return text.find("\r\n\r\nabc") != std::string::npos;
  };
  ASSERT_EQ(write(first.get(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  std::string response;
  ASSERT_TRUE(ReadUntil(first.get(), &response, done)) << response;
  // The worker runs now: this connection raises the listener's signal.
  UniqueFd second = ConnectTo(port);
  ASSERT_TRUE(second);
  ASSERT_EQ(write(second.get(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  response.clear();
  ASSERT_TRUE(ReadUntil(second.get(), &response, done)) << response;
  EXPECT_EQ(response.rfind("HTTP/1.1 200 ", 0), 0u) << response;
  ASSERT_EQ(kill(worker.pid(), SIGTERM), 0);
  int status = worker.WaitForExit(10'000);
  ASSERT_NE(status, -1) << "the worker did not stop within 10 s";
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace ferry

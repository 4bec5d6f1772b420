#include "event_loop.h"

#include <unistd.h>

#include <cerrno>

#include "interval_timer.h"
#include "system_error.h"

namespace ferry {
namespace {

constexpr std::size_t kSignalBatch = 64;
constexpr int kEventBatch = 16;

}  // namespace

EventLoop::EventLoop(const sigset_t& signals, std::size_t max_fds)
    : signals_(signals),
      epoll_(static_cast<int>(
          CheckCall(epoll_create1(EPOLL_CLOEXEC), "epoll_create1"))),
      by_fd_(max_fds, 0) {
  Watch(signals_.fd(), kSignalTag, EPOLLIN);
  UpdateTime();
}

void EventLoop::Watch(int fd, std::uint64_t tag, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = tag;
  CheckCall(epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event), "epoll_ctl");
}

void EventLoop::Unwatch(int fd) {
  // GOTCHA: closing our fd would not do when another process holds the
  // same open file (a shared listener): the epoll set keeps it (epoll(7),
  // "Will closing a file descriptor cause it to be removed...").
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::Map(int fd, std::uint64_t tag) {
  by_fd_[static_cast<std::size_t>(fd)] = tag;
  if (fd > highest_mapped_) highest_mapped_ = fd;
}

void EventLoop::Unmap(int fd, std::uint64_t tag) {
  if (Mappable(fd) && by_fd_[static_cast<std::size_t>(fd)] == tag) {
    by_fd_[static_cast<std::size_t>(fd)] = 0;
  }
}

void EventLoop::UpdateTime() {
  woke_us_ = MonotonicMicros();
  now_sec_ = std::time(nullptr);
}

int EventLoop::Wait(int timeout_ms, Handler& handler) {
  epoll_event events[kEventBatch];
  int n = epoll_wait(epoll_.get(), events, kEventBatch, timeout_ms);
  if (n < 0 && errno != EINTR) ThrowSystemError(errno, "epoll_wait");
  UpdateTime();
  for (int i = 0; i < n; ++i) {
    std::uint64_t tag = events[i].data.u64;
    if (tag == kSignalTag) {
      DrainSignals(handler);
    } else {
      handler.OnWatchedReady(tag);
    }
  }
  return n < 0 ? 0 : n;
}

void EventLoop::DrainSignals(Handler& handler) {
  signalfd_siginfo batch[kSignalBatch];
  for (;;) {
    std::size_t n = signals_.Read(batch, kSignalBatch);
    for (std::size_t i = 0; i < n; ++i) {
      const signalfd_siginfo& info = batch[i];
      int signo = static_cast<int>(info.ssi_signo);
      if (signo == SocketSignal()) {
        // Anyone of our user may queue this signal; only the kernel's count.
        int fd = info.ssi_fd;
        if (IsKernelSocketSignal(info) && Mappable(fd) &&
            by_fd_[static_cast<std::size_t>(fd)] != 0) {
          handler.OnSocketReady(by_fd_[static_cast<std::size_t>(fd)], fd,
                                static_cast<std::uint32_t>(info.ssi_band));
        }
        continue;
      }
      handler.OnSignal(signo);
      if (signo == kOverflowSignal) Rescan(handler);
    }
    if (n < kSignalBatch) return;
  }
}

void EventLoop::Rescan(Handler& handler) {
  // GOTCHA: the realtime signal queue overflowed (RLIMIT_SIGPENDING), so
  // some socket signals were lost and the kernel sent SIGIO instead
  // (fcntl(2), F_SETSIG). poll() every mapped socket and act on what it
  // says.
  rescan_fds_.clear();
  for (int fd = 0; fd <= highest_mapped_; ++fd) {
    if (by_fd_[static_cast<std::size_t>(fd)] != 0) {
      rescan_fds_.push_back({fd, POLLIN | POLLOUT, 0});
    }
  }
  if (poll(rescan_fds_.data(), rescan_fds_.size(), 0) <= 0) return;
  for (const pollfd& entry : rescan_fds_) {
    std::uint64_t tag = by_fd_[static_cast<std::size_t>(entry.fd)];
    // An earlier handler in this rescan may have closed it.
    if (entry.revents != 0 && tag != 0) {
      handler.OnSocketReady(tag, entry.fd,
                            static_cast<std::uint32_t>(entry.revents));
    }
  }
}

}  // namespace ferry

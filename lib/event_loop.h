#pragma once
// One thread's event loop (DESIGN.md, "One worker's loop"): its one wait
// point is epoll_wait on a signalfd and the few descriptors it is told to
// watch; signal-driven sockets reach their owner through a table indexed
// by fd, with no allocation per event.
//
//   EventLoop loop(DaemonSignals(), DescriptorLimit());
//   loop.Watch(aio.event_fd(), kAioTag, EPOLLIN);  // epoll: a few fds
//   ArmSocketSignals(fd, SocketSignal(), tid);     // then:
//   loop.Map(fd, token);                           // signals: every socket
//   for (;;) {
//     loop.Wait(timeout_ms, handler);  // OnSocketReady / OnWatchedReady /
//     ...after-wait phases...          // OnSignal, as they came
//   }

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <vector>

#include "signals.h"
#include "unique_fd.h"

namespace ferry {

class EventLoop {
 public:
  /// What a wait brings, delivered to whoever runs the loop.
  class Handler {
   public:
    /// A mapped socket's signal said `band` (POLLIN, POLLOUT, POLLHUP...),
    /// or the rescan after a signal queue overflow found it so.
    virtual void OnSocketReady(std::uint64_t tag, int fd,
                               std::uint32_t band) = 0;
    /// A watched descriptor is ready.
    virtual void OnWatchedReady(std::uint64_t tag) = 0;
    /// Any other signal of the set (the overflow signal too, before the
    /// rescan it causes).
    virtual void OnSignal(int signo) = 0;

   protected:
    ~Handler() = default;
  };

  /// A loop on a signalfd for `signals` (blocked by the caller), with a
  /// dispatch table for descriptors below `max_fds`. Throws
  /// std::system_error.
  EventLoop(const sigset_t& signals, std::size_t max_fds);

  /// Adds `fd` to the wait point: `events` (EPOLLIN...) report `tag`.
  /// Throws std::system_error.
  void Watch(int fd, std::uint64_t tag, std::uint32_t events);
  /// Takes `fd` out of the wait point.
  void Unwatch(int fd);

  /// True when `fd` fits the dispatch table.
  bool Mappable(int fd) const {
    return fd >= 0 && static_cast<std::size_t>(fd) < by_fd_.size();
  }
  /// Signals of the signal-driven `fd` (Mappable) report `tag` (not 0).
  void Map(int fd, std::uint64_t tag);
  /// `fd` no longer reports `tag` (if it still did).
  void Unmap(int fd, std::uint64_t tag);

  /// Waits up to `timeout_ms` (-1: no limit) for events, takes the time,
  /// then hands everything the wait brought to `handler`. Returns the
  /// number of ready wait-point entries. Throws std::system_error when
  /// epoll_wait fails other than by EINTR.
  int Wait(int timeout_ms, Handler& handler);

  /// When the last wait ended: CLOCK_MONOTONIC microseconds, milliseconds,
  /// and the wall clock in seconds.
  std::int64_t woke_us() const { return woke_us_; }
  std::int64_t now_ms() const { return woke_us_ / 1000; }
  std::time_t now_sec() const { return now_sec_; }
  /// Takes the time now, as after a wait.
  void UpdateTime();

 private:
  static constexpr std::uint64_t kSignalTag = UINT64_MAX;

  void DrainSignals(Handler& handler);
  void Rescan(Handler& handler);

  SignalFd signals_;
  UniqueFd epoll_;
  std::vector<std::uint64_t> by_fd_;  ///< fd -> tag; 0: nobody
  int highest_mapped_ = -1;
  std::vector<pollfd> rescan_fds_;  ///< kept: a flood overflows often
  std::int64_t woke_us_ = 0;
  std::time_t now_sec_ = 0;
};

}  // namespace ferry

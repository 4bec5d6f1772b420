#pragma once
// A worker's listening sockets: its own (SO_REUSEPORT, signal-driven,
// mapped in the loop's table) and the shared ones (in the loop's epoll set
// with EPOLLEXCLUSIVE); accepting from them until the process runs out of
// descriptors (then paused until the next tick), and letting go of them
// at shutdown.

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "event_loop.h"
#include "unique_fd.h"

namespace ferry {

/// A listening socket as one worker sees it.
struct WorkerListener {
  UniqueFd fd;
  bool shared = false;  ///< waited on with EPOLLEXCLUSIVE, not signal-driven
  bool proxy_protocol = false;  ///< clients come through a proxy
  bool tls = false;             ///< clients speak TLS (--ssl)
};

class Acceptor {
 public:
  /// Who takes the accepted clients.
  class Sink {
   public:
    /// A new non-blocking client socket, its peer's address, and whether
    /// it came to a --proxy-protocol listener, and to an --ssl one.
    virtual void OnAccepted(UniqueFd socket, const sockaddr_storage& peer,
                            bool proxy_protocol, bool tls) = 0;

   protected:
    ~Sink() = default;
  };

  /// Arms the own listeners' signals to thread `tid` and maps them in
  /// `loop` as `own_tag`; watches the shared ones, whose tag is their fd.
  /// Throws std::system_error.
  Acceptor(std::vector<WorkerListener> listeners, EventLoop& loop, pid_t tid,
           std::uint64_t own_tag);

  /// Accepts every client waiting on `listener`, for `sink`.
  void AcceptAll(int listener, Sink& sink);
  /// AcceptAll() on every listener: at start (clients that queued before
  /// this worker existed raise no signal) and when a pause ends.
  void AcceptEverywhere(Sink& sink);
  /// Every tick: a pause (out of descriptors) ends, and accepting resumes.
  void OnTick(Sink& sink);
  /// Graceful stop: no more accepting; our copies of the sockets close
  /// (the master still holds them).
  void Stop();

 private:
  void WatchShared(bool watch);

  std::vector<WorkerListener> listeners_;
  EventLoop& loop_;
  std::uint64_t own_tag_;
  /// Out of descriptors: clients stay in the backlog, which raises no new
  /// signal (and the shared listeners left epoll, which would report them
  /// on every wait); the next tick retries.
  bool paused_ = false;
  bool stopped_ = false;
};

}  // namespace ferry

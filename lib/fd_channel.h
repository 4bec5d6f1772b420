#pragma once
// Passing descriptors from the master to a worker over a unix socket
// (SCM_RIGHTS): how a worker that dropped root gets a log file that only
// root could open.

#include "unique_fd.h"

namespace ferry {

/// A connected pair: the master keeps `master`, the worker `worker`.
/// SOCK_SEQPACKET, non-blocking, close-on-exec.
struct FdChannel {
  UniqueFd master;
  UniqueFd worker;
  /// Throws std::system_error.
  static FdChannel Make();
};

/// Sends `fd` (one byte of payload). Returns 0 or a negative errno
/// (-EAGAIN when the peer's queue is full).
int SendFd(int channel, int fd);

/// Receives one descriptor: a valid UniqueFd, or an empty one with `*error`
/// set to -EAGAIN (nothing queued), -EPIPE (the peer is gone) or another
/// negative errno.
UniqueFd ReceiveFd(int channel, int* error);

}  // namespace ferry

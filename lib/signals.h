#pragma once
// Signals as events: which signals the daemon uses, the signalfd that
// receives them, and arming a socket so that the kernel signals its state
// changes to one thread.

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/types.h>

#include <cstddef>

#include "unique_fd.h"

namespace ferry {

/// The realtime signal that sockets raise (F_SETSIG). Its siginfo names the
/// fd (ssi_fd) and what happened (ssi_band: POLLIN, POLLOUT, ...).
int SocketSignal();
/// The realtime signal of the worker's interval timer.
int TimerSignal();
/// A helper finished a job: a standard signal, so it is never refused and
/// coalesces; its payload means nothing (see DESIGN.md).
inline constexpr int kDoorbellSignal = SIGUSR2;
/// Sent by the kernel instead of SocketSignal() when the realtime queue is
/// full (RLIMIT_SIGPENDING): every socket must then be rescanned.
inline constexpr int kOverflowSignal = SIGIO;

/// Every signal the daemon handles through a signalfd.
sigset_t DaemonSignals();

/// Blocks DaemonSignals() in the calling thread (threads created later
/// inherit the mask) and ignores SIGPIPE and every realtime signal ferry
/// does not use (so that nobody can kill a worker with sigqueue()). Call
/// before any thread exists.
void BlockDaemonSignals();

/// The calling thread's id (gettid).
pid_t CurrentThreadId();

/// A non-blocking signalfd for `signals`. Owns its descriptor.
class SignalFd {
 public:
  explicit SignalFd(const sigset_t& signals);
  int fd() const { return fd_.get(); }

  /// Reads up to `max` records; returns how many (0 when none is pending).
  std::size_t Read(signalfd_siginfo* out, std::size_t max);

 private:
  UniqueFd fd_;
};

/// True when the record was raised by the kernel for a file descriptor
/// (si_code POLL_IN..POLL_HUP), not queued by a process with kill,
/// sigqueue or tgkill, which anyone of our user may do.
inline bool IsKernelSocketSignal(const signalfd_siginfo& info) {
  return static_cast<int>(info.ssi_code) > 0;
}

/// Makes `fd` non-blocking and signal-driven: O_NONBLOCK|O_ASYNC, F_SETSIG
/// `signo`, F_SETOWN_EX to thread `tid`. Throws std::system_error.
void ArmSocketSignals(int fd, int signo, pid_t tid);

}  // namespace ferry

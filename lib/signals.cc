#include "signals.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "system_error.h"

namespace ferry {

// glibc reserves the first realtime signals for itself; SIGRTMIN is the
// first one left to applications.
int SocketSignal() { return SIGRTMIN + 1; }
int TimerSignal() { return SIGRTMIN + 2; }

sigset_t DaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD, kDoorbellSignal,
                    kOverflowSignal, SocketSignal(), TimerSignal()}) {
    sigaddset(&set, signo);
  }
  return set;
}

void BlockDaemonSignals() {
  sigset_t set = DaemonSignals();
  int error = pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (error != 0) ThrowSystemError(error, "pthread_sigmask");
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  CheckCall(sigaction(SIGPIPE, &ignore, nullptr), "sigaction", "SIGPIPE");
  // A realtime signal's default action is to terminate, and any process of
  // our user may sigqueue() one. Ignored, the kernel discards it at once
  // (blocked, it would sit in our RLIMIT_SIGPENDING queue forever).
  for (int signo = SIGRTMIN; signo <= SIGRTMAX; ++signo) {
    if (sigismember(&set, signo) == 1) continue;
    CheckCall(sigaction(signo, &ignore, nullptr), "sigaction",
              "SIGRTMIN+" + std::to_string(signo - SIGRTMIN));
  }
}

pid_t CurrentThreadId() { return static_cast<pid_t>(syscall(SYS_gettid)); }

SignalFd::SignalFd(const sigset_t& signals)
    : fd_(static_cast<int>(CheckCall(
          signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC), "signalfd"))) {}

std::size_t SignalFd::Read(signalfd_siginfo* out, std::size_t max) {
  for (;;) {
    ssize_t n = ::read(fd_.get(), out, max * sizeof(signalfd_siginfo));
    if (n >= 0) return static_cast<std::size_t>(n) / sizeof(signalfd_siginfo);
    if (errno == EAGAIN) return 0;
    if (errno != EINTR) ThrowSystemError(errno, "read", "signalfd");
  }
}

void ArmSocketSignals(int fd, int signo, pid_t tid) {
  f_owner_ex owner{F_OWNER_TID, tid};
  CheckCall(fcntl(fd, F_SETOWN_EX, &owner), "fcntl", "F_SETOWN_EX");
  CheckCall(fcntl(fd, F_SETSIG, signo), "fcntl", "F_SETSIG");
  int flags =
      static_cast<int>(CheckCall(fcntl(fd, F_GETFL), "fcntl", "F_GETFL"));
  CheckCall(fcntl(fd, F_SETFL, flags | O_NONBLOCK | O_ASYNC), "fcntl",
            "F_SETFL");
}

}  // namespace ferry

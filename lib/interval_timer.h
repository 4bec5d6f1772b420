#pragma once
// A periodic POSIX timer that delivers a signal to one thread.

#include <sys/types.h>
#include <time.h>

#include <chrono>

namespace ferry {

/// timer_create(CLOCK_MONOTONIC, SIGEV_THREAD_ID): every `period` the
/// kernel queues `signo` to thread `tid` (overruns coalesce into one
/// signal). Deleted with the object.
class IntervalTimer {
 public:
  IntervalTimer(int signo, pid_t tid, std::chrono::milliseconds period);
  ~IntervalTimer();
  IntervalTimer(const IntervalTimer&) = delete;
  IntervalTimer& operator=(const IntervalTimer&) = delete;

 private:
  timer_t timer_{};
};

/// Milliseconds on CLOCK_MONOTONIC (vDSO: no system call).
std::int64_t MonotonicMillis();
/// Microseconds on CLOCK_MONOTONIC (vDSO: no system call).
std::int64_t MonotonicMicros();

}  // namespace ferry

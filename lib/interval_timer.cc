#include "interval_timer.h"

#include <signal.h>

#include <cerrno>
#include <cstdint>

#include "system_error.h"

namespace ferry {

IntervalTimer::IntervalTimer(int signo, pid_t tid,
                             std::chrono::milliseconds period) {
  sigevent event{};
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = signo;
  event._sigev_un._tid = tid;
  CheckCall(timer_create(CLOCK_MONOTONIC, &event, &timer_), "timer_create");
  long long ms = period.count();
  itimerspec spec{};
  spec.it_interval.tv_sec = ms / 1000;
  spec.it_interval.tv_nsec = (ms % 1000) * 1'000'000;
  spec.it_value = spec.it_interval;
  CheckCall(timer_settime(timer_, 0, &spec, nullptr), "timer_settime");
}

IntervalTimer::~IntervalTimer() { timer_delete(timer_); }

std::int64_t MonotonicMillis() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

}  // namespace ferry

namespace ferry {

std::int64_t MonotonicMicros() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
}

}  // namespace ferry

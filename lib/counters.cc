#include "counters.h"

#include <sys/mman.h>

#include <cerrno>
#include <utility>

#include "system_error.h"

namespace ferry {

CountersPage::CountersPage(unsigned workers) : workers_(workers) {
  void* page = mmap(nullptr, sizeof(WorkerCounters) * workers,
                    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) ThrowSystemError(errno, "mmap", "counters page");
  // The mapping is zero-filled, which is every counter's initial value.
  slots_ = static_cast<WorkerCounters*>(page);
}

CountersPage::~CountersPage() {
  munmap(slots_, sizeof(WorkerCounters) * workers_);
}

std::string CountersPage::Summary() const {
  using Field = WorkerCounters::Counter WorkerCounters::*;
  static constexpr std::pair<const char*, Field> kFields[] = {
      {"requests", &WorkerCounters::requests},
      {"accepted", &WorkerCounters::accepted},
      {"open_connections", &WorkerCounters::open_connections},
      {"rejected", &WorkerCounters::rejected},
      {"responses_2xx", &WorkerCounters::responses_2xx},
      {"responses_3xx", &WorkerCounters::responses_3xx},
      {"responses_4xx", &WorkerCounters::responses_4xx},
      {"responses_5xx", &WorkerCounters::responses_5xx},
      {"bytes_sent", &WorkerCounters::bytes_sent},
      {"aio_reads", &WorkerCounters::aio_reads},
      {"aio_eagain", &WorkerCounters::aio_eagain},
      {"aio_errors", &WorkerCounters::aio_errors},
      {"helper_opens", &WorkerCounters::helper_opens},
      {"helper_reads", &WorkerCounters::helper_reads},
      {"overflow_rescans", &WorkerCounters::overflow_rescans},
      {"aborted", &WorkerCounters::aborted},
      {"timeouts", &WorkerCounters::timeouts},
      {"log_dropped", &WorkerCounters::log_dropped},
  };
  std::string text;
  for (const auto& [name, field] : kFields) {
    std::uint64_t sum = 0;
    for (unsigned i = 0; i < workers_; ++i) {
      sum += (slots_[i].*field).load(std::memory_order_relaxed);
    }
    if (!text.empty()) text += ' ';
    text += name;
    text += '=';
    text += std::to_string(sum);
  }
  return text;
}

}  // namespace ferry

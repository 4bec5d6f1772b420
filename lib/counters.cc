#include "counters.h"

#include <sys/mman.h>

#include <cerrno>

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

const CounterField kCounterFields[37] = {
    {"requests", "Requests received.", false, &WorkerCounters::requests},
    {"accepted", "Connections accepted.", false, &WorkerCounters::accepted},
    {"open_connections", "Connections open now.", true,
     &WorkerCounters::open_connections},
    {"rejected", "Connections refused over --max-connections.", false,
     &WorkerCounters::rejected},
    {"responses_2xx", "Responses with a 2xx status.", false,
     &WorkerCounters::responses_2xx},
    {"responses_3xx", "Responses with a 3xx status.", false,
     &WorkerCounters::responses_3xx},
    {"responses_4xx", "Responses with a 4xx status.", false,
     &WorkerCounters::responses_4xx},
    {"responses_5xx", "Responses with a 5xx status.", false,
     &WorkerCounters::responses_5xx},
    {"bytes_sent", "Bytes sent to clients.", false,
     &WorkerCounters::bytes_sent},
    {"aio_reads", "AIO reads submitted.", false, &WorkerCounters::aio_reads},
    {"aio_completed", "AIO reads completed.", false,
     &WorkerCounters::aio_completed},
    {"aio_eagain", "AIO reads refused by RWF_NOWAIT, retried by a helper.",
     false, &WorkerCounters::aio_eagain},
    {"aio_errors", "AIO reads that failed.", false,
     &WorkerCounters::aio_errors},
    {"helper_opens", "Lookups that missed the dentry cache (done by helpers).",
     false, &WorkerCounters::helper_opens},
    {"helper_reads", "Reads done by helpers.", false,
     &WorkerCounters::helper_reads},
    {"overflow_rescans",
     "Realtime signal queue overflows (SIGIO), each followed by a rescan.",
     false, &WorkerCounters::overflow_rescans},
    {"aborted", "Responses cut short (file shrank, read error).", false,
     &WorkerCounters::aborted},
    {"timeouts", "Connections closed by a timeout.", false,
     &WorkerCounters::timeouts},
    {"log_dropped", "Log records dropped because the log ring was full.", false,
     &WorkerCounters::log_dropped},
    {"cache_hits", "Responses served from the small-file cache.", false,
     &WorkerCounters::cache_hits},
    {"cache_misses", "Cacheable files read from disk.", false,
     &WorkerCounters::cache_misses},
    {"turns_yielded",
     "Sends paused after a turn's budget so that other clients go first.",
     false, &WorkerCounters::turns_yielded},
    {"block_maps",
     "Files whose block map a helper loaded before their first read.", false,
     &WorkerCounters::block_maps},
    {"rate_limited_bytes",
     "Bytes sent at --limit-rate (past --limit-rate-after).", false,
     &WorkerCounters::rate_limited_bytes},
    {"rate_limit_waits",
     "Times a response waited for its --limit-rate allowance to grow.", false,
     &WorkerCounters::rate_limit_waits},
    {"buffer_bytes",
     "Bytes of the buffer pool made present (grows with use up to "
     "--buffer-memory).",
     true, &WorkerCounters::buffer_bytes},
    {"tls_handshakes",
     "TLS handshakes completed (counted at their first request).", false,
     &WorkerCounters::tls_handshakes},
    {"tls_resumed", "TLS handshakes that resumed a session from a ticket.",
     false, &WorkerCounters::tls_resumed},
    {"tls_kernel",
     "TLS connections whose records the kernel seals (kTLS); the others "
     "are sealed in user space.",
     false, &WorkerCounters::tls_kernel},
    {"hot_hits",
     "Responses sent by sendfile() from the pinned pages of a hot file "
     "(--hot-cache), whole or from the point where it became hot.",
     false, &WorkerCounters::hot_hits},
    {"hot_pins", "Hot files whose pages this worker pinned.", false,
     &WorkerCounters::hot_pins},
    {"hot_unpins",
     "Pins let go: the file was evicted or changed, or was evicted while "
     "being pinned.",
     false, &WorkerCounters::hot_unpins},
    {"loop_iterations", "Loop iterations.", false,
     &WorkerCounters::loop_iterations},
    {"loop_micros", "Microseconds spent in loop iterations.", false,
     &WorkerCounters::loop_micros},
    {"heartbeat", "Timer ticks of the loop.", false,
     &WorkerCounters::heartbeat},
    {"accepting", "1 while the worker accepts connections.", true,
     &WorkerCounters::accepting},
    {"draining",
     "1 per worker slot while the daemon drains (--drain-time): the health "
     "path answers 503.",
     true, &WorkerCounters::draining},
};

std::uint64_t CountersPage::Sum(
    WorkerCounters::Counter WorkerCounters::*member) const {
  std::uint64_t sum = 0;
  for (unsigned i = 0; i < workers_; ++i) {
    sum += (slots_[i].*member).load(std::memory_order_relaxed);
  }
  return sum;
}

std::string CountersPage::Summary() const {
  std::string text;
  for (const CounterField& field : kCounterFields) {
    if (!text.empty()) text += ' ';
    text += field.name;
    text += '=';
    text += std::to_string(Sum(field.member));
  }
  return text;
}

}  // namespace ferry

#pragma once
// The one piece of memory the workers share with the master: a page of
// counters in which every counter has exactly one writer.

#include <atomic>
#include <cstdint>
#include <string>

namespace ferry {

/// One worker's counters. Written only by that worker's loop thread with
/// relaxed load + store (no read-modify-write across processes), read by
/// the master at any time.
struct WorkerCounters {
  using Counter = std::atomic<std::uint64_t>;
  Counter heartbeat;  ///< moves on every timer tick
  Counter accepting;  ///< 1 while the worker accepts connections
  /// 1 while the daemon drains (--drain-time): the health path answers
  /// 503. The one field the master writes (its only writer).
  Counter draining;
  Counter accepted;          ///< connections accepted
  Counter open_connections;  ///< a gauge
  Counter rejected;          ///< connections refused: over --max-connections
  Counter requests;
  Counter responses_2xx, responses_3xx, responses_4xx, responses_5xx;
  Counter bytes_sent;
  Counter aio_reads;         ///< submitted
  Counter aio_eagain;        ///< completed with -EAGAIN (RWF_NOWAIT): retried
  Counter aio_errors;        ///< completed with another error
  Counter helper_opens;      ///< lookups that needed the disk
  Counter helper_reads;      ///< reads done by a helper
  Counter overflow_rescans;  ///< SIGIO: the realtime queue overflowed
  Counter aborted;           ///< responses cut short (file shrank, read error)
  Counter timeouts;          ///< connections closed by a timeout
  Counter log_dropped;       ///< log records dropped because the ring was full
  Counter aio_completed;     ///< reads reaped, whatever their result
  Counter cache_hits;        ///< responses served from the small-file cache
  Counter cache_misses;      ///< cacheable files that had to be read
  Counter turns_yielded;     ///< sends paused at a turn's budget, resumed later
  Counter block_maps;        ///< files whose block map a helper loaded
  Counter rate_limited_bytes;  ///< sent at --limit-rate (past its -after)
  Counter rate_limit_waits;    ///< times a response waited for its rate
  Counter buffer_bytes;        ///< a gauge: the buffer pool made present
  Counter tls_handshakes;      ///< TLS handshakes that a request followed
  Counter tls_resumed;         ///< of those, sessions resumed from a ticket
  Counter tls_kernel;          ///< of those, records sealed by the kernel
  Counter hot_hits;            ///< responses sent from pinned hot-file pages
  Counter hot_pins;            ///< hot files this worker pinned
  Counter hot_unpins;  ///< pins it let go (evicted, changed, or refused)
  /// Loop iteration time (wake-up to next wait), a histogram:
  /// loop_buckets[i] counts iterations of at most kLoopBucketMicros[i] µs
  /// (not cumulative); the last bucket is everything longer.
  Counter loop_buckets[12];
  Counter loop_micros;  ///< sum of all iterations' time
  Counter loop_iterations;
};

/// Upper bounds of WorkerCounters::loop_buckets, in microseconds.
inline constexpr std::uint64_t kLoopBucketMicros[] = {
    10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 100000, 1000000};
static_assert(sizeof(WorkerCounters::loop_buckets) /
                      sizeof(WorkerCounters::Counter) ==
                  std::size(kLoopBucketMicros) + 1,
              "one bucket per bound, and one for everything longer");

/// One counter of WorkerCounters, as the metrics and the exit summary name
/// it.
struct CounterField {
  const char* name;  ///< also the key of CountersPage::Summary()
  const char* help;
  bool gauge;
  WorkerCounters::Counter WorkerCounters::*member;
};

/// Every plain counter (not the histogram, not heartbeat/accepting).
extern const CounterField kCounterFields[37];

/// Adds `n` to a counter this thread alone writes.
inline void Bump(WorkerCounters::Counter& counter, std::uint64_t n = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + n,
                std::memory_order_relaxed);
}
inline void Set(WorkerCounters::Counter& counter, std::uint64_t value) {
  counter.store(value, std::memory_order_relaxed);
}

/// A shared anonymous mapping holding WorkerCounters for `workers` workers,
/// made before fork so that every process sees the same page.
class CountersPage {
 public:
  explicit CountersPage(unsigned workers);
  ~CountersPage();
  CountersPage(const CountersPage&) = delete;
  CountersPage& operator=(const CountersPage&) = delete;

  WorkerCounters& worker(unsigned index) { return slots_[index]; }
  const WorkerCounters& worker(unsigned index) const { return slots_[index]; }
  unsigned workers() const { return workers_; }

  /// "requests=12 accepted=3 ..." summed over the workers.
  std::string Summary() const;
  /// One counter summed over every slot.
  std::uint64_t Sum(WorkerCounters::Counter WorkerCounters::*member) const;

 private:
  WorkerCounters* slots_;
  unsigned workers_;
};

}  // namespace ferry

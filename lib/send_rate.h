#pragma once
// The minimum send rate (--send-min-rate): a client must take our bytes at
// that rate on average over each --send-timeout window.
//
// The send timeout moves on any progress, so a client that takes a few
// bytes now and then would hold its slot forever: it must also take
// --send-min-rate on average over each --send-timeout window at whose end
// it still has bytes of ours to take. What it took is what its TCP
// acknowledged, not what we queued: the kernel wakes a writer only when
// half of a large send buffer has drained, so our own sends come in bursts
// seconds apart even for a client that reads steadily.

#include <cstdint>

namespace ferry {

class SendRate {
 public:
  /// `min_rate` bytes per second (0: no minimum) over windows of
  /// `window_ms`.
  SendRate(std::uint64_t min_rate, std::int64_t window_ms)
      : min_rate_(min_rate), window_ms_(window_ms) {}

  /// A response starts at `now_ms`: the first window opens.
  void Start(std::int64_t now_ms) {
    window_start_ms_ = now_ms;
    window_taken_ = 0;
  }

  /// At `now_ms`, with `sent` bytes of the response queued to the socket
  /// of which `unacknowledged` the client's TCP has not acknowledged yet:
  /// true when a window ended with the client below the rate while bytes
  /// of ours waited for it. Otherwise a window that ended opens the next.
  bool TooSlow(std::int64_t now_ms, std::uint64_t sent,
               std::uint64_t unacknowledged);

  /// When the current window opened.
  std::int64_t window_start_ms() const { return window_start_ms_; }

 private:
  std::uint64_t min_rate_;
  std::int64_t window_ms_;
  std::int64_t window_start_ms_ = 0;
  std::uint64_t window_taken_ = 0;  ///< bytes taken when the window opened
};

}  // namespace ferry

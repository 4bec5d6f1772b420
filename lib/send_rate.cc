#include "send_rate.h"

namespace ferry {

bool SendRate::TooSlow(std::int64_t now_ms, std::uint64_t sent,
                       std::uint64_t unacknowledged) {
  if (min_rate_ == 0 || now_ms - window_start_ms_ < window_ms_) return false;
  std::uint64_t taken = sent > unacknowledged ? sent - unacknowledged : 0;
  std::uint64_t wanted =
      min_rate_ * static_cast<std::uint64_t>(window_ms_) / 1000;
  // With nothing of ours left unacknowledged, it was the client waiting
  // for us (the disk), not we for it.
  bool waiting_for_client = taken < sent;
  if (waiting_for_client && taken < window_taken_ + wanted) return true;
  window_start_ms_ = now_ms;
  window_taken_ = taken;
  return false;
}

}  // namespace ferry

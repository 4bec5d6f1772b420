#include "send_limit.h"

#include <algorithm>

namespace ferry {

std::uint64_t SendLimit::Quantum() const {
  return std::clamp<std::uint64_t>(rate_ / 20, 1024, std::uint64_t{64} * 1024);
}

std::uint64_t SendLimit::BytesOver(std::int64_t ms) const {
  if (ms <= 0) return 0;
  auto whole = static_cast<std::uint64_t>(ms / 1000);
  auto part = static_cast<std::uint64_t>(ms % 1000);
  return whole * rate_ + part * rate_ / 1000;
}

std::uint64_t SendLimit::Allowance(std::int64_t now_ms,
                                   std::uint64_t sent) const {
  if (rate_ == 0) return kUnlimited;
  std::uint64_t allowed = after_ + Quantum() + BytesOver(now_ms - start_ms_);
  return allowed > sent ? allowed - sent : 0;
}

std::int64_t SendLimit::NextSendMs(std::uint64_t sent) const {
  // The first moment at which after + quantum + rate·t covers sent +
  // quantum: t = (sent - after) / rate, rounded up to a millisecond.
  if (sent <= after_) return start_ms_;
  std::uint64_t owed = sent - after_;
  auto whole = static_cast<std::int64_t>(owed / rate_);
  std::uint64_t rest = owed % rate_;
  auto part = static_cast<std::int64_t>((rest * 1000 + rate_ - 1) / rate_);
  return start_ms_ + whole * 1000 + part;
}

std::uint64_t SendLimit::LimitedBytes(std::uint64_t from,
                                      std::uint64_t to) const {
  if (rate_ == 0) return 0;
  std::uint64_t begin = std::max(from, after_);
  return to > begin ? to - begin : 0;
}

}  // namespace ferry

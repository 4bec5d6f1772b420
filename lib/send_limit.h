#pragma once
// --limit-rate and --limit-rate-after: a response goes out no faster than a
// rate, after a first part that goes at full speed (nginx's limit_rate and
// limit_rate_after, per response).
//
// The allowance grows with time from the response's start: the first
// `after` bytes and one quantum at once, then `rate` bytes a second. A
// connection that has used its allowance does not sleep: it waits on the
// worker's Pacer until the allowance has grown by a quantum again, so a
// paced client is woken about twenty times a second, never once a byte.

#include <cstdint>
#include <limits>

namespace ferry {

class SendLimit {
 public:
  static constexpr std::uint64_t kUnlimited =
      std::numeric_limits<std::uint64_t>::max();

  /// No limit.
  SendLimit() = default;
  /// `rate` bytes per second (0: no limit) after the first `after` bytes.
  SendLimit(std::uint64_t rate, std::uint64_t after)
      : rate_(rate), after_(after) {}

  /// A response starts at `now_ms`.
  void Start(std::int64_t now_ms) { start_ms_ = now_ms; }

  bool limited() const { return rate_ > 0; }

  /// Bytes that may go at `now_ms` with `sent` of the response gone;
  /// kUnlimited without a limit.
  std::uint64_t Allowance(std::int64_t now_ms, std::uint64_t sent) const;

  /// When the allowance will be a quantum again (at most a quantum can be
  /// waited for: the response may need less).
  std::int64_t NextSendMs(std::uint64_t sent) const;

  /// Of the bytes [from, to) of the response, how many went out under the
  /// rate (past `after`).
  std::uint64_t LimitedBytes(std::uint64_t from, std::uint64_t to) const;

  /// What a wake-up lets go: a twentieth of a second's worth, at least
  /// 1 KiB (a sensible TCP write), at most 64 KiB (one turn's budget).
  std::uint64_t Quantum() const;

 private:
  /// Bytes the rate allows over `ms` milliseconds (no overflow for any
  /// duration a response can last).
  std::uint64_t BytesOver(std::int64_t ms) const;

  std::uint64_t rate_ = 0;
  std::uint64_t after_ = 0;
  std::int64_t start_ms_ = 0;
};

}  // namespace ferry

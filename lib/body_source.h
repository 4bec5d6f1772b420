#pragma once
// Where the file bytes of a response come from, as the response sender sees
// them: ranges of the file, asked for in sending order. The read window
// (read_window.h) is one source, a cached copy (CachedBody) the other.

#include <sys/uio.h>

#include <cstdint>
#include <memory>

#include "file_cache.h"

namespace ferry {

class BodySource {
 public:
  virtual ~BodySource() = default;

  /// The sender starts on the file range [begin, end): the next file piece.
  virtual void Select(std::uint64_t begin, std::uint64_t end) = 0;
  /// True when any range can be gathered at any time (bytes in memory);
  /// false when only the selected range can, as it is read.
  virtual bool ServesAnyRange() const = 0;
  /// Gathers the bytes of [position, end) that are ready into at most
  /// `max` iovecs; returns how many it filled and sets `*complete` when
  /// they reach `end`.
  virtual int Gather(std::uint64_t position, std::uint64_t end, iovec* iov,
                     int max, bool* complete) = 0;
  /// A descriptor that [position, end) is better sent from by sendfile(),
  /// or -1.
  virtual int SendfileFd(std::uint64_t position, std::uint64_t end) const = 0;
  /// The bytes of the selected range before `position` went out.
  virtual void Sent(std::uint64_t position) = 0;
};

/// A whole file's bytes in memory, from the small-file cache.
class CachedBody final : public BodySource {
 public:
  void Reset(std::shared_ptr<const CachedBytes> bytes = nullptr) {
    bytes_ = std::move(bytes);
  }
  bool holds_bytes() const { return bytes_ != nullptr; }

  void Select(std::uint64_t, std::uint64_t) override {}
  bool ServesAnyRange() const override { return true; }
  int Gather(std::uint64_t position, std::uint64_t end, iovec* iov, int max,
             bool* complete) override {
    *complete = max > 0;
    if (max == 0) return 0;
    iov[0] = {const_cast<char*>(bytes_->data()) + position, end - position};
    return 1;
  }
  int SendfileFd(std::uint64_t position, std::uint64_t end) const override {
    return end - position >= CachedBytes::kSendfileMin ? bytes_->fd() : -1;
  }
  void Sent(std::uint64_t) override {}

 private:
  std::shared_ptr<const CachedBytes> bytes_;
};

}  // namespace ferry

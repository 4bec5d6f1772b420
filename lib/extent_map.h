#pragma once
// Where a file's extents end, so that no O_DIRECT read spans two of them.

#include <cstdint>
#include <vector>

namespace ferry {

/// A read inside one extent, and no larger than the device's largest
/// request, is one block-layer request; a read across N extents of a
/// fragmented file is N requests, and N requests can find the device's
/// queue full inside io_submit() (see ReadsInFlightShare). Loaded by a
/// helper (FIEMAP may read the disk); consulted by the loop.
class ExtentMap {
 public:
  /// Maps at most this many extents; a file with more is read one file
  /// system block at a time.
  static constexpr std::size_t kMaxExtents = 1024;

  /// FIEMAP on `fd`. May block: helpers only. Returns 0 or a negative
  /// errno (-EOPNOTSUPP: the file system has no FIEMAP; reads stay whole).
  int Load(int fd);

  /// `length`, shortened so that [offset, offset + length) stays inside
  /// one extent and within `max_request_bytes` (0: no limit). `offset` and
  /// the result keep the file system's block alignment.
  std::uint64_t OneRequest(std::uint64_t offset, std::uint64_t length,
                           std::uint64_t max_request_bytes) const;

  void Clear();
  std::size_t extents() const { return ends_.size(); }

 private:
  std::vector<std::uint64_t> ends_;  ///< each extent's end offset, ascending
  std::uint32_t block_size_ = 0;     ///< nonzero: past kMaxExtents
};

}  // namespace ferry

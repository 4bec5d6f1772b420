#pragma once
// The worker's buffer pool: one pre-faulted mapping cut into aligned blocks.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ferry {

/// A fixed number of equal blocks, page-aligned (so any O_DIRECT memory
/// alignment up to a page holds), in transparent huge pages where the
/// kernel allows, faulted in at construction so that using
/// them never page-faults. Never grows: when no block is free, Acquire()
/// says so and the caller waits (backpressure). Loop thread only.
class BufferPool {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  /// Maps block_size * block_count bytes and faults them in. Throws
  /// std::system_error.
  BufferPool(std::size_t block_size, std::uint32_t block_count);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  /// A free block's index, or kNone.
  std::uint32_t Acquire();
  void Release(std::uint32_t block);

  char* Data(std::uint32_t block) const {
    return base_ + static_cast<std::size_t>(block) * block_size_;
  }
  std::size_t block_size() const { return block_size_; }
  std::uint32_t block_count() const { return block_count_; }
  std::uint32_t free_count() const {
    return static_cast<std::uint32_t>(free_.size());
  }

 private:
  char* base_ = nullptr;
  std::size_t block_size_;
  std::uint32_t block_count_;
  std::vector<std::uint32_t> free_;  // a stack: recently used blocks are warm
};

}  // namespace ferry

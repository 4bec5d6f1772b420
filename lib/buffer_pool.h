#pragma once
// The worker's buffer pool: one mapping cut into aligned blocks, made
// present (pre-faulted) a step at a time as streams need them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace ferry {

/// Up to `block_count` equal blocks, page-aligned (so any O_DIRECT memory
/// alignment up to a page holds), in transparent huge pages where the
/// kernel allows. The whole range is mapped at construction, but only its
/// first blocks (`initial_blocks`, at least a step of 8 MiB) are made
/// present then; the rest is made present a
/// step at a time, by a helper, when free blocks run low (NextGrowth,
/// Grew), so that a worker's resident size follows what its streams used
/// (up to --buffer-memory), and a block the loop uses never page-faults.
/// When no block is free, Acquire() says so and the caller waits
/// (backpressure). Loop thread only.
class BufferPool {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  /// A range of blocks to make present (MakePresent), off the loop.
  struct Growth {
    char* data;
    std::size_t bytes;
    std::uint32_t blocks;
  };

  /// Maps block_size * block_count bytes and makes the first
  /// `initial_blocks` of them (at least a step) present. Throws
  /// std::system_error.
  BufferPool(std::size_t block_size, std::uint32_t block_count,
             std::uint32_t initial_blocks);
  /// All of it present now (tests, tools).
  BufferPool(std::size_t block_size, std::uint32_t block_count)
      : BufferPool(block_size, block_count, block_count) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  /// A free block's index, or kNone.
  std::uint32_t Acquire();
  void Release(std::uint32_t block);

  /// The next step to make present, when fewer than half a step's blocks
  /// are free (or none, when a step is one block), the pool has not reached its
  /// size and no step is under way; otherwise nothing. The step's blocks join
  /// the free ones at Grew().
  std::optional<Growth> NextGrowth();
  /// The step NextGrowth() gave is present (`result` 0), or could not be
  /// made so (a negative errno: the pool stops growing).
  void Grew(int result);
  /// Whether more blocks may come (a step under way, or one to ask for).
  bool can_grow() const { return ready_ < block_count_ && !stopped_; }

  char* Data(std::uint32_t block) const {
    return base_ + static_cast<std::size_t>(block) * block_size_;
  }
  std::size_t block_size() const { return block_size_; }
  std::uint32_t block_count() const { return block_count_; }
  /// Blocks made present so far.
  std::uint32_t ready_count() const { return ready_; }
  std::uint32_t free_count() const {
    return static_cast<std::uint32_t>(free_.size());
  }

 private:
  void AddFree(std::uint32_t first, std::uint32_t count);

  char* base_ = nullptr;
  std::size_t block_size_;
  std::uint32_t block_count_;
  std::uint32_t step_;               ///< blocks made present at a time
  std::uint32_t ready_ = 0;          ///< blocks [0, ready_) are present
  std::uint32_t growing_ = 0;        ///< blocks of the step under way, or 0
  bool stopped_ = false;             ///< a step failed: no more
  std::vector<std::uint32_t> free_;  // a stack: recently used blocks are warm
};

/// Faults `bytes` at `data` in by writing a zero to each page (the range's
/// contents are not kept), taking no process-wide lock. May block (page
/// allocation, compaction): for helpers and start-up only. Returns 0.
int MakePresent(char* data, std::size_t bytes);

}  // namespace ferry

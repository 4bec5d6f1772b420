#include "buffer_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include "system_error.h"

namespace ferry {

namespace {

constexpr std::size_t kHugePage = 2 << 20;

// Maps `bytes` aligned to a huge page and asks for transparent huge pages
// (THP "madvise" mode, Debian's default): an O_DIRECT read then pins one
// huge page per 2 MiB instead of 512 small ones (io_submit's
// get_user_pages showed as 6% of a streaming worker's time). Where THP is
// off the advice fails and small pages serve as before.
char* MapAligned(std::size_t bytes) {
  const std::size_t reserved = bytes + kHugePage;
  void* mapped = mmap(nullptr, reserved, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) {
    ThrowSystemError(errno, "mmap",
                     std::to_string(bytes) + " bytes of buffers");
  }
  const auto start = reinterpret_cast<std::uintptr_t>(mapped);
  const std::size_t head = (kHugePage - start % kHugePage) % kHugePage;
  char* base = static_cast<char*>(mapped) + head;
  if (head > 0) munmap(mapped, head);
  munmap(base + bytes, reserved - head - bytes);
  madvise(base, bytes, MADV_HUGEPAGE);
  return base;
}

// Blocks made present at a time: 8 MiB, or one block if larger. A step
// takes a helper ~2 ms (4 huge pages).
constexpr std::size_t kStepBytes = 8 << 20;

}  // namespace

int MakePresent(char* data, std::size_t bytes) {
  // A write to each page, not MADV_POPULATE_WRITE: each fault takes only
  // the lock of this one mapping (per-VMA locks, 6.4), where the madvise
  // holds the process's mmap_lock throughout, and the loop's own brk or
  // mmap waits for it meanwhile (seen in a trace: the loop in D state in
  // vm_mmap_pgoff while a helper populated). Where transparent huge pages
  // are on (MapAligned), the first write of each 2 MiB faults it all in.
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  volatile char* bytes_at = data;
  for (std::size_t offset = 0; offset < bytes; offset += page) {
    bytes_at[offset] = 0;
  }
  return 0;
}

BufferPool::BufferPool(std::size_t block_size, std::uint32_t block_count,
                       std::uint32_t initial_blocks)
    : block_size_(block_size),
      block_count_(block_count),
      step_(static_cast<std::uint32_t>(
          std::clamp<std::size_t>(kStepBytes / block_size, 1, block_count))) {
  base_ = MapAligned(block_size * block_count);
  const std::uint32_t initial =
      std::min(std::max(initial_blocks, step_), block_count);
  MakePresent(base_, block_size * initial);
  free_.reserve(block_count);
  AddFree(0, initial);
}

BufferPool::~BufferPool() { munmap(base_, block_size_ * block_count_); }

void BufferPool::AddFree(std::uint32_t first, std::uint32_t count) {
  // Lowest index on top: the blocks are taken in address order.
  for (std::uint32_t i = first + count; i > first; --i) free_.push_back(i - 1);
  ready_ = first + count;
}

std::uint32_t BufferPool::Acquire() {
  if (free_.empty()) return kNone;
  std::uint32_t block = free_.back();
  free_.pop_back();
  return block;
}

void BufferPool::Release(std::uint32_t block) {
  assert(block < ready_ && free_.size() < ready_);
  free_.push_back(block);
}

std::optional<BufferPool::Growth> BufferPool::NextGrowth() {
  // Half a step left: the next step should be present before the rest
  // is taken.
  if (growing_ != 0 || !can_grow() || free_.size() >= std::max(step_ / 2, 1u)) {
    return std::nullopt;
  }
  growing_ = std::min(step_, block_count_ - ready_);
  return Growth{Data(ready_), block_size_ * growing_, growing_};
}

void BufferPool::Grew(int result) {
  const std::uint32_t blocks = std::exchange(growing_, 0);
  if (result < 0) {
    stopped_ = true;
    return;
  }
  AddFree(ready_, blocks);
}

}  // namespace ferry

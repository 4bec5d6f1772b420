#include "buffer_pool.h"

#include <sys/mman.h>

#include <cassert>
#include <string>

#include "system_error.h"

namespace ferry {

BufferPool::BufferPool(std::size_t block_size, std::uint32_t block_count)
    : block_size_(block_size), block_count_(block_count) {
  std::size_t bytes = block_size * block_count;
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (base == MAP_FAILED) {
    ThrowSystemError(errno, "mmap",
                     std::to_string(bytes) + " bytes of buffers");
  }
  base_ = static_cast<char*>(base);
  free_.reserve(block_count);
  for (std::uint32_t i = block_count; i > 0; --i) free_.push_back(i - 1);
}

BufferPool::~BufferPool() { munmap(base_, block_size_ * block_count_); }

std::uint32_t BufferPool::Acquire() {
  if (free_.empty()) return kNone;
  std::uint32_t block = free_.back();
  free_.pop_back();
  return block;
}

void BufferPool::Release(std::uint32_t block) {
  assert(block < block_count_ && free_.size() < block_count_);
  free_.push_back(block);
}

}  // namespace ferry

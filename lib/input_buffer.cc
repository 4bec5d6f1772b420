#include "input_buffer.h"

#include <algorithm>
#include <cstring>

namespace ferry {

std::unique_ptr<char[]> InputBlocks::Take() {
  if (spares_.empty()) return std::make_unique_for_overwrite<char[]>(kSize);
  std::unique_ptr<char[]> block = std::move(spares_.back());
  spares_.pop_back();
  return block;
}

void InputBlocks::Give(std::unique_ptr<char[]> block) {
  if (spares_.size() < kMaxSpares) spares_.push_back(std::move(block));
}

void InputBuffer::Reset(std::size_t limit, InputBlocks* blocks) {
  Release();
  blocks_ = blocks;
  limit_ = limit;
}

void InputBuffer::Prepare() {
  if (capacity_ != 0) return;
  data_ = blocks_->Take();
  capacity_ = std::min(kInitial, limit_);
}

void InputBuffer::Grow() {
  std::size_t capacity = std::min(limit_, capacity_ * 2);
  auto grown = std::make_unique_for_overwrite<char[]>(capacity);
  std::memcpy(grown.get(), data_.get(), length_);
  if (capacity_ <= kInitial) blocks_->Give(std::move(data_));
  data_ = std::move(grown);
  capacity_ = capacity;
}

void InputBuffer::Consume(std::size_t n) {
  if (n == length_) {
    Release();
    return;
  }
  std::memmove(data_.get(), data_.get() + n, length_ - n);
  length_ -= n;
  if (capacity_ > kInitial && length_ <= kInitial) {
    std::unique_ptr<char[]> block = blocks_->Take();
    std::memcpy(block.get(), data_.get(), length_);
    data_ = std::move(block);
    capacity_ = kInitial;
  }
}

void InputBuffer::Release() {
  length_ = 0;
  if (capacity_ == 0) return;
  if (capacity_ <= kInitial) {
    blocks_->Give(std::move(data_));
  } else {
    data_.reset();
  }
  capacity_ = 0;
}

}  // namespace ferry

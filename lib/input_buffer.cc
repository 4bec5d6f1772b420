#include "input_buffer.h"

#include <algorithm>
#include <cstring>

namespace ferry {

void InputBuffer::Reset(std::size_t limit) {
  limit_ = limit;
  length_ = 0;
  std::size_t initial = std::min(kInitial, limit);
  if (capacity_ < initial || capacity_ > limit) {
    capacity_ = initial;
    data_ = std::make_unique_for_overwrite<char[]>(capacity_);
  }
}

void InputBuffer::Grow() {
  std::size_t capacity = std::min(limit_, capacity_ * 2);
  auto grown = std::make_unique_for_overwrite<char[]>(capacity);
  std::memcpy(grown.get(), data_.get(), length_);
  data_ = std::move(grown);
  capacity_ = capacity;
}

void InputBuffer::Consume(std::size_t n) {
  std::memmove(data_.get(), data_.get() + n, length_ - n);
  length_ -= n;
  if (capacity_ > kInitial && length_ <= kInitial) {
    auto small = std::make_unique_for_overwrite<char[]>(kInitial);
    std::memcpy(small.get(), data_.get(), length_);
    data_ = std::move(small);
    capacity_ = kInitial;
  }
}

void InputBuffer::Release() {
  length_ = 0;
  if (capacity_ > kInitial) {
    data_.reset();
    capacity_ = 0;
  }
}

}  // namespace ferry

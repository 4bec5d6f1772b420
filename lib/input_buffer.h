#pragma once
// The bytes a connection received and has not answered yet: the request
// being read and any pipelined behind it.

#include <cstddef>
#include <memory>
#include <string_view>

namespace ferry {

/// Starts small and grows (doubling, up to a limit) only while a request
/// head needs it; shrinks back when a response ends, so that 10,000 idle
/// clients cost little and one large head does not pin memory for good.
class InputBuffer {
 public:
  /// Every buffer starts this small.
  static constexpr std::size_t kInitial = 2048;

  /// Empties the buffer for a new client whose heads may take `limit`
  /// bytes; keeps the allocation when it fits.
  void Reset(std::size_t limit);

  std::string_view bytes() const { return {data_.get(), length_}; }
  std::size_t size() const { return length_; }
  std::size_t capacity() const { return capacity_; }
  bool full() const { return length_ == capacity_; }
  /// True when it cannot grow further.
  bool at_limit() const { return capacity_ >= limit_; }

  /// Where received bytes go, and how many fit.
  char* space() { return data_.get() + length_; }
  std::size_t room() const { return capacity_ - length_; }
  /// `n` bytes were received into space().
  void Added(std::size_t n) { length_ += n; }
  /// Doubles the capacity, up to the limit.
  void Grow();
  /// The first `n` bytes were answered: the rest (pipelined requests) moves
  /// to the front, and a grown buffer shrinks back when the rest fits.
  void Consume(std::size_t n);
  /// Gives back a grown buffer (the connection slot waits for a new
  /// client): the next Reset() allocates a small one.
  void Release();

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t length_ = 0;
  std::size_t limit_ = kInitial;
};

}  // namespace ferry

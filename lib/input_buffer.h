#pragma once
// The bytes a connection received and has not answered yet: the request
// being read and any pipelined behind it; and the worker's spare blocks
// that such buffers start with.

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace ferry {

/// The small blocks every InputBuffer of a worker starts with, kept for
/// reuse. A connection holds one only while it has bytes it has not
/// answered, so an idle connection holds none (10,000 idle clients cost no
/// input memory), and a busy loop does not call malloc for them. Loop
/// thread only.
class InputBlocks {
 public:
  static constexpr std::size_t kSize = 2048;
  /// Spares kept at most (512 KiB); more given back are freed.
  static constexpr std::size_t kMaxSpares = 256;

  /// A block of kSize bytes: a spare, or a new one.
  std::unique_ptr<char[]> Take();
  void Give(std::unique_ptr<char[]> block);
  std::size_t spares() const { return spares_.size(); }

 private:
  std::vector<std::unique_ptr<char[]>> spares_;
};

/// Holds nothing until bytes are about to arrive (Prepare), then a block;
/// grows (doubling, up to a limit) only while a request head needs it;
/// shrinks back when a response ends, and gives its block back when it is
/// empty, so that idle clients cost nothing and one large head does not
/// pin memory for good.
class InputBuffer {
 public:
  /// A buffer with memory starts this small (or at its limit, if smaller).
  static constexpr std::size_t kInitial = InputBlocks::kSize;

  /// Empties the buffer for a new client whose heads may take `limit`
  /// bytes, its blocks from `blocks`; it holds no memory until Prepare().
  void Reset(std::size_t limit, InputBlocks* blocks);

  /// Before receiving: a buffer that holds no memory takes a block.
  void Prepare();

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
  /// to the front, a grown buffer shrinks back to a block when the rest
  /// fits, and an empty one gives its memory back.
  void Consume(std::size_t n);
  /// Empties the buffer and gives its memory back (the client closed, or
  /// waits between requests with nothing sent).
  void Release();

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;  ///< 1..kInitial: a block; more: grown
  std::size_t length_ = 0;
  std::size_t limit_ = kInitial;
  InputBlocks* blocks_ = nullptr;
};

}  // namespace ferry

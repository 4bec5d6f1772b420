#pragma once
// The continuation table: a 64-bit token (slot + generation) for each live
// object, so that an operation that outlives its object (a file read in
// flight when the client left, a stale socket signal) finds nothing instead
// of a stranger. See DESIGN.md, difficulty 3.

#include <cstdint>
#include <memory>
#include <vector>

namespace ferry {

/// Owns up to `capacity` objects of T, reusing them across lifetimes (a
/// slot's object is built once and then recycled, so a busy table does not
/// allocate). Loop thread only.
template <typename T>
class ContinuationTable {
 public:
  static constexpr std::uint64_t kNoToken = 0;

  explicit ContinuationTable(std::uint32_t capacity) : slots_(capacity) {
    free_.reserve(capacity);
    for (std::uint32_t i = capacity; i > 0; --i) free_.push_back(i - 1);
  }

  /// Takes a free slot; returns its token (never kNoToken) and sets
  /// `*object` to the slot's object (built with `make` the first time).
  /// Returns kNoToken when the table is full.
  template <typename Make>
  std::uint64_t Add(T** object, Make&& make) {
    if (free_.empty()) return kNoToken;
    std::uint32_t index = free_.back();
    free_.pop_back();
    Slot& slot = slots_[index];
    slot.live = true;
    if (!slot.object) slot.object = make();
    *object = slot.object.get();
    ++live_;
    return TokenOf(index, slot.generation);
  }

  /// The live object for `token`, or nullptr when that lifetime has ended.
  T* Find(std::uint64_t token) const {
    std::uint32_t index = static_cast<std::uint32_t>(token);
    if (index >= slots_.size()) return nullptr;
    const Slot& slot = slots_[index];
    if (!slot.live ||
        slot.generation != static_cast<std::uint32_t>(token >> 32))
      return nullptr;
    return slot.object.get();
  }

  /// Ends the lifetime named by `token`: later Find()s of it give nullptr.
  void Remove(std::uint64_t token) {
    std::uint32_t index = static_cast<std::uint32_t>(token);
    Slot& slot = slots_[index];
    if (!slot.live ||
        slot.generation != static_cast<std::uint32_t>(token >> 32))
      return;
    slot.live = false;
    ++slot.generation;
    if (slot.generation == 0) slot.generation = 1;  // tokens are never 0
    free_.push_back(index);
    --live_;
  }

  /// Calls f(token, object) for every live object. f may Remove() it.
  template <typename F>
  void ForEach(F&& f) {
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].live)
        f(TokenOf(i, slots_[i].generation), *slots_[i].object);
    }
  }

  std::uint32_t live() const { return live_; }
  std::uint32_t capacity() const {
    return static_cast<std::uint32_t>(slots_.size());
  }

 private:
  struct Slot {
    std::uint32_t generation = 1;
    bool live = false;
    std::unique_ptr<T> object;
  };
  static std::uint64_t TokenOf(std::uint32_t index, std::uint32_t generation) {
    return (static_cast<std::uint64_t>(generation) << 32) | index;
  }

  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
  std::uint32_t live_ = 0;
};

}  // namespace ferry

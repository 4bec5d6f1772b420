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
/// allocate). A dense list of the live slots makes ForEach cost what is
/// live, not the capacity (a timer tick visits every connection; at
/// --max-connections 1000000 a walk over every slot took milliseconds).
/// Loop thread only.
template <typename T>
class ContinuationTable {
 public:
  static constexpr std::uint64_t kNoToken = 0;

  explicit ContinuationTable(std::uint32_t capacity) : slots_(capacity) {
    free_.reserve(capacity);
    for (std::uint32_t i = capacity; i > 0; --i) free_.push_back(i - 1);
    live_slots_.reserve(capacity);
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
    slot.live_position = static_cast<std::uint32_t>(live_slots_.size());
    live_slots_.push_back(index);
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
    // The last live slot takes this one's place in the dense list.
    const std::uint32_t moved = live_slots_.back();
    live_slots_[slot.live_position] = moved;
    slots_[moved].live_position = slot.live_position;
    live_slots_.pop_back();
  }

  /// Calls f(token, object) for every object live when it is reached. f may
  /// Remove() the object it is given and Add() others (those are not
  /// visited), but must not Remove() another.
  template <typename F>
  void ForEach(F&& f) {
    // Backwards: a Remove() moves the last entry, already visited, into the
    // place of the one removed.
    for (std::size_t i = live_slots_.size(); i > 0; --i) {
      if (i > live_slots_.size()) continue;  // f removed more than itself
      const std::uint32_t index = live_slots_[i - 1];
      f(TokenOf(index, slots_[index].generation), *slots_[index].object);
    }
  }

  std::uint32_t live() const {
    return static_cast<std::uint32_t>(live_slots_.size());
  }
  std::uint32_t capacity() const {
    return static_cast<std::uint32_t>(slots_.size());
  }

 private:
  struct Slot {
    std::uint32_t generation = 1;
    std::uint32_t live_position = 0;  ///< its place in live_slots_, if live
    bool live = false;
    std::unique_ptr<T> object;
  };
  static std::uint64_t TokenOf(std::uint32_t index, std::uint32_t generation) {
    return (static_cast<std::uint64_t>(generation) << 32) | index;
  }

  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
  std::vector<std::uint32_t> live_slots_;  ///< indices of live slots
};

}  // namespace ferry

#pragma once
// The connections held back by --limit-rate, each until its allowance has
// grown again: the worker's loop waits no longer than until the earliest,
// then hands the due ones back to their connections by token. A token
// whose connection closed meanwhile finds nobody, as a stale signal does.

#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

namespace ferry {

class Pacer {
 public:
  /// The connection `token` wants to send again at `due_ms`.
  void Add(std::int64_t due_ms, std::uint64_t token);

  /// Milliseconds from `now_ms` to the earliest due time (0: one is due),
  /// or -1 when nobody waits: the loop's wait timeout.
  int TimeoutMs(std::int64_t now_ms) const;

  /// Moves the tokens due at `now_ms` into `due` (cleared first), earliest
  /// first.
  void TakeDue(std::int64_t now_ms, std::vector<std::uint64_t>* due);

  std::size_t size() const { return queue_.size(); }

 private:
  struct Entry {
    std::int64_t due_ms;
    std::uint64_t token;
    bool operator>(const Entry& other) const { return due_ms > other.due_ms; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue_;
};

}  // namespace ferry

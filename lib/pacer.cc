#include "pacer.h"

#include <algorithm>
#include <climits>

namespace ferry {

void Pacer::Add(std::int64_t due_ms, std::uint64_t token) {
  queue_.push({due_ms, token});
}

int Pacer::TimeoutMs(std::int64_t now_ms) const {
  if (queue_.empty()) return -1;
  std::int64_t wait = std::max<std::int64_t>(queue_.top().due_ms - now_ms, 0);
  return static_cast<int>(std::min<std::int64_t>(wait, INT_MAX));
}

void Pacer::TakeDue(std::int64_t now_ms, std::vector<std::uint64_t>* due) {
  due->clear();
  while (!queue_.empty() && queue_.top().due_ms <= now_ms) {
    due->push_back(queue_.top().token);
    queue_.pop();
  }
}

}  // namespace ferry

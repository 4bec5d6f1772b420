#include "file_cache.h"

namespace ferry {

FileCache::FileCache(std::uint64_t capacity, std::uint64_t max_file,
                     std::int64_t validity_ms)
    : capacity_(capacity), max_file_(max_file), validity_ms_(validity_ms) {}

CachedFile* FileCache::Find(std::string_view path) {
  auto found = index_.find(path);
  if (found == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, found->second);  // no allocation
  return &*found->second;
}

void FileCache::Insert(std::string_view path, const FileStatus& status,
                       const char* data, std::uint64_t size,
                       std::int64_t now_ms) {
  if (!Cacheable(size)) return;
  Erase(path);
  while (used_ + size > capacity_ && !lru_.empty()) {
    EraseEntry(std::prev(lru_.end()));
  }
  lru_.push_front(CachedFile{std::string(path),
                             std::make_shared<const std::string>(data, size),
                             status, now_ms});
  index_.emplace(lru_.front().path, lru_.begin());
  used_ += size;
}

void FileCache::Erase(std::string_view path) {
  auto found = index_.find(path);
  if (found != index_.end()) EraseEntry(found->second);
}

void FileCache::EraseEntry(Lru::iterator entry) {
  used_ -= entry->bytes->size();
  index_.erase(index_.find(std::string_view(entry->path)));
  lru_.erase(entry);
}

}  // namespace ferry

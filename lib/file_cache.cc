#include "file_cache.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace ferry {

std::shared_ptr<const CachedBytes> CachedBytes::Copy(const char* data,
                                                     std::uint64_t size) {
  std::shared_ptr<CachedBytes> bytes(new CachedBytes());
  bytes->size_ = size;
  if (size < kSendfileMin) {
    bytes->heap_ = std::make_unique_for_overwrite<char[]>(size);
    std::memcpy(bytes->heap_.get(), data, size);
    bytes->data_ = bytes->heap_.get();
    return bytes;
  }
  bytes->memory_file_.Reset(memfd_create("ferry-cache", MFD_CLOEXEC));
  if (!bytes->memory_file_) return nullptr;
  const int fd = bytes->memory_file_.get();
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) return nullptr;
  void* writable =
      mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (writable == MAP_FAILED) return nullptr;
  std::memcpy(writable, data, size);
  // Read-only from here on: pages a socket still holds must never change.
  mprotect(writable, size, PROT_READ);
  bytes->mapping_ = writable;
  bytes->data_ = static_cast<const char*>(writable);
  return bytes;
}

CachedBytes::~CachedBytes() {
  if (mapping_ != nullptr) munmap(mapping_, size_);
}

FileCache::FileCache(std::uint64_t capacity, std::uint64_t max_file,
                     std::int64_t validity_ms)
    : capacity_(capacity), max_file_(max_file), validity_ms_(validity_ms) {}

CachedFile* FileCache::Find(std::string_view path) {
  auto found = index_.find(path);
  if (found == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, found->second);  // no allocation
  return &*found->second;
}

bool FileCache::Insert(std::string_view path, const FileStatus& status,
                       const char* data, std::uint64_t size,
                       std::int64_t now_ms) {
  if (!Cacheable(size)) return false;
  Erase(path);
  auto bytes = CachedBytes::Copy(data, size);
  if (!bytes) return false;
  while (used_ + size > capacity_ && !lru_.empty()) {
    EraseEntry(std::prev(lru_.end()));
  }
  lru_.push_front(
      CachedFile{std::string(path), std::move(bytes), status, now_ms});
  index_.emplace(lru_.front().path, lru_.begin());
  used_ += size;
  return true;
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

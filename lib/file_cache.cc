#include "file_cache.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace ferry {

namespace {

// A read-only shared mapping of a new memory file holding `size` bytes of
// `data`, or nullptr (no descriptor or memory left).
void* MapMemoryFile(const char* data, std::uint64_t size, UniqueFd* file) {
  UniqueFd fd(memfd_create("ferry-cache", MFD_CLOEXEC));
  if (!fd || ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return nullptr;
  }
  void* mapping =
      mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (mapping == MAP_FAILED) return nullptr;
  std::memcpy(mapping, data, size);
  // Read-only from here on: pages a socket still holds must never change.
  mprotect(mapping, size, PROT_READ);
  *file = std::move(fd);
  return mapping;
}

}  // namespace

std::shared_ptr<const CachedBytes> CachedBytes::Copy(const char* data,
                                                     std::uint64_t size,
                                                     bool memory_file) {
  std::shared_ptr<CachedBytes> bytes(new CachedBytes());
  bytes->size_ = size;
  if (memory_file && size >= kSendfileMin) {
    bytes->mapping_ = MapMemoryFile(data, size, &bytes->memory_file_);
    if (bytes->mapping_ != nullptr) {
      bytes->data_ = static_cast<const char*>(bytes->mapping_);
      return bytes;
    }
  }
  bytes->heap_ = std::make_unique_for_overwrite<char[]>(size);
  std::memcpy(bytes->heap_.get(), data, size);
  bytes->data_ = bytes->heap_.get();
  return bytes;
}

CachedBytes::~CachedBytes() {
  if (mapping_ != nullptr) munmap(mapping_, size_);
}

FileCache::FileCache(std::uint64_t capacity, std::uint64_t max_file,
                     std::int64_t validity_ms, std::size_t max_memory_files)
    : capacity_(capacity),
      max_file_(max_file),
      validity_ms_(validity_ms),
      max_memory_files_(max_memory_files) {}

CachedFile* FileCache::Find(std::string_view path) {
  auto found = index_.find(path);
  if (found == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, found->second);  // no allocation
  return &*found->second;
}

bool FileCache::Insert(std::string_view path, const FileStatus& status,
                       const char* data, std::uint64_t size,
                       std::int64_t checked_ms, CachedHead head) {
  if (!Cacheable(size)) return false;
  auto found = index_.find(path);
  if (found != index_.end()) {
    if (found->second->checked_ms > checked_ms) return false;
    EraseEntry(found->second);
  }
  auto bytes = CachedBytes::Copy(data, size, memory_files_ < max_memory_files_);
  if (bytes->fd() >= 0) ++memory_files_;
  while (used_ + size > capacity_ && !lru_.empty()) {
    EraseEntry(std::prev(lru_.end()));
  }
  lru_.push_front(CachedFile{std::string(path), std::move(bytes), status,
                             std::move(head), checked_ms});
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
  if (entry->bytes->fd() >= 0) --memory_files_;
  index_.erase(index_.find(std::string_view(entry->path)));
  lru_.erase(entry);
}

}  // namespace ferry

#include "extent_map.h"

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <memory>

namespace ferry {

int ExtentMap::Load(int fd) {
  Clear();
  constexpr std::size_t kBatch = 256;
  std::size_t bytes = sizeof(fiemap) + kBatch * sizeof(fiemap_extent);
  auto storage = std::make_unique<unsigned char[]>(bytes);
  auto* map = reinterpret_cast<fiemap*>(storage.get());
  std::uint64_t start = 0;
  for (;;) {
    std::fill_n(storage.get(), bytes, 0);
    map->fm_start = start;
    map->fm_length = FIEMAP_MAX_OFFSET - start;
    map->fm_extent_count = kBatch;
    if (ioctl(fd, FS_IOC_FIEMAP, map) < 0) {
      int error = errno;
      Clear();
      return error == ENOTTY ? -EOPNOTSUPP : -error;
    }
    for (std::uint32_t i = 0; i < map->fm_mapped_extents; ++i) {
      const fiemap_extent& extent = map->fm_extents[i];
      if (ends_.size() == kMaxExtents) {
        struct stat status {};
        Clear();
        block_size_ = fstat(fd, &status) == 0 && status.st_blksize > 0
                          ? static_cast<std::uint32_t>(status.st_blksize)
                          : 4096;
        return 0;
      }
      ends_.push_back(extent.fe_logical + extent.fe_length);
      if (extent.fe_flags & FIEMAP_EXTENT_LAST) return 0;
    }
    if (map->fm_mapped_extents < kBatch) return 0;
    start = ends_.back();
  }
}

std::uint64_t ExtentMap::OneRequest(std::uint64_t offset, std::uint64_t length,
                                    std::uint64_t max_request_bytes) const {
  if (max_request_bytes != 0) length = std::min(length, max_request_bytes);
  if (block_size_ != 0) return std::min<std::uint64_t>(length, block_size_);
  auto end = std::upper_bound(ends_.begin(), ends_.end(), offset);
  if (end != ends_.end()) length = std::min(length, *end - offset);
  return length;
}

void ExtentMap::Clear() {
  ends_.clear();
  block_size_ = 0;
}

}  // namespace ferry

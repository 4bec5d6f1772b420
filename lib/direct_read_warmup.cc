#include "direct_read_warmup.h"

#include <algorithm>
#include <cstdlib>

#include "aio_context.h"
#include "document_root.h"

namespace ferry {

namespace {

// The first MiB at most. GOTCHA: a direct read first writes back the dirty
// pages of its range; writing back only part of a file just written leaves
// its extents split (one allocated, the rest delayed), and the loop reads
// it in two requests, into two blocks, where one would do (a small file
// then misses the cache). Reading it whole keeps its extents whole.
constexpr std::size_t kMaxReadBytes = std::size_t{1} << 20;

bool Reads(const FileStatus& status) {
  return status.direct_align != 0 &&
         status.type == FileStatus::Type::kRegular && status.size > 0;
}

}  // namespace

bool DirectReadWarmup::Done(const FileStatus& status) const {
  if (!Reads(status)) return true;
  const std::size_t count = count_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < count; ++i) {
    if (devices_[i].load(std::memory_order_relaxed) == status.device + 1) {
      return true;
    }
  }
  return false;
}

void DirectReadWarmup::Make(int fd, const FileStatus& status) {
  if (Done(status)) return;
  std::lock_guard lock(mutex_);
  if (Done(status)) return;  // another helper made it meanwhile
  const std::size_t align = std::max<std::size_t>(status.direct_align, 4096);
  const std::size_t wanted =
      std::min<std::uint64_t>(status.size, kMaxReadBytes);
  const std::size_t length = (wanted + align - 1) / align * align;
  void* buffer = std::aligned_alloc(align, length);
  if (buffer == nullptr) return;
  // Marked done whatever the outcome: a failing first sector is the
  // request's business, and a file system marked never would send every
  // open on it to a helper.
  ReadOnceAndWait(fd, buffer, length);
  std::free(buffer);
  const std::size_t count = count_.load(std::memory_order_relaxed);
  if (count == kSlots) return;
  devices_[count].store(status.device + 1, std::memory_order_relaxed);
  count_.store(count + 1, std::memory_order_release);
}

}  // namespace ferry

#include "hot_files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "helper_pool.h"
#include "log.h"

namespace ferry {
namespace {

// After a pin failed for want of locked memory, requests go to the disk
// for this long before a pin is tried again.
constexpr std::int64_t kPinRetryMillis = 10'000;
// What a pin reads at a time: one block-layer request (max_sectors_kb is
// 512 KiB or more on the devices we know).
constexpr std::size_t kPinBlockBytes = std::size_t{512} * 1024;

// True when the pinned file is still the version it was pinned as: not
// written, truncated or deleted (an unlink moves the inode's ctime too).
// statx of an open descriptor reads the inode in memory, never the disk.
bool Unchanged(const PinnedFile& file) {
  FileStatus now;
  return StatOpenFile(file.fd.get(), &now) == 0 &&
         SameFileVersion(now, file.status);
}

// Reads the file through the page cache a block at a time, one request in
// flight: readahead(2) or the faults of mlock() would put the whole file
// (or read_ahead_kb at a time) in the device's queue at once and take the
// request tags the loop's reads need (io_submit then sleeps for one: the
// invariant "one read, one block-layer request" in lib/README.md).
int ReadIntoPageCache(int file, std::size_t length) {
  posix_fadvise(file, 0, 0, POSIX_FADV_RANDOM);  // no readahead
  std::vector<char> block(kPinBlockBytes);
  for (std::size_t done = 0; done < length;) {
    const ssize_t n =
        pread(file, block.data(), block.size(), static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -ESTALE;  // truncated meanwhile
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

int PinFile(const DocumentRoot& root, const std::string& path,
            const FileStatus& status, UniqueFd* fd, void** mapping) {
  OpenedFile opened = root.Open(path, /*cached_only=*/false);
  if (opened.error != 0) return opened.error;
  if (!SameFileVersion(opened.status, status)) return -ESTALE;
  const int file = opened.fd.get();
  // sendfile() from an O_DIRECT descriptor reads the disk each time
  // (do_splice_read copies through a direct read): this one reads the
  // page cache.
  const int flags = fcntl(file, F_GETFL);
  if (flags < 0 || fcntl(file, F_SETFL, flags & ~O_DIRECT) != 0) return -errno;
  const auto length = static_cast<std::size_t>(status.size);
  if (const int error = ReadIntoPageCache(file, length); error < 0) {
    return error;
  }
  void* pages = mmap(nullptr, length, PROT_READ, MAP_SHARED, file, 0);
  if (pages == MAP_FAILED) return -errno;
  // GOTCHA: the sanitizers make mlock() a no-op that returns 0; the system
  // call itself pins for real, sanitized or not.
  if (syscall(SYS_mlock, pages, length) != 0) {
    const int error = -errno;
    munmap(pages, length);
    return error;
  }
  *fd = std::move(opened.fd);
  *mapping = pages;
  return 0;
}

void UnpinFile(UniqueFd fd, void* mapping, std::uint64_t length) {
  if (mapping != nullptr) munmap(mapping, static_cast<std::size_t>(length));
  // Pages another worker still pins (or a process maps) stay; the last pin
  // to go drops them, so an evicted file leaves the page cache as a cold
  // stream never entered it.
  if (fd) posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
}

HotFiles::HotFiles(HotTable& table, unsigned slot, HelperPool& helpers,
                   WorkerCounters& counters)
    : table_(table), slot_(slot), helpers_(helpers), counters_(counters) {}

std::shared_ptr<const PinnedFile> HotFiles::Find(
    const FileStatus& status) const {
  const auto entry = by_inode_.find(status.inode);
  if (entry == by_inode_.end()) return nullptr;
  const std::shared_ptr<PinnedFile>& pin = pins_.at(entry->second);
  // Another version of the file (or one with the same inode on another
  // file system) is not what this pin holds.
  return SameFileVersion(pin->status, status) ? pin : nullptr;
}

void HotFiles::Count(const std::string& path, const FileStatus& status,
                     std::uint64_t bytes, std::int64_t now_ms) {
  now_ms_ = now_ms;
  const int entry = table_.Request(status, bytes, now_ms);
  if (entry < 0 || pins_.contains(entry) || pinning_.contains(entry) ||
      now_ms < pin_again_ms_) {
    return;
  }
  pinning_.emplace(entry, status);
  HelperJob job;
  job.kind = HelperJob::Kind::kPin;
  job.path = path;
  job.opened.status = status;
  job.block = static_cast<std::uint32_t>(entry);
  helpers_.Submit(std::move(job));
}

void HotFiles::OnPinned(HelperJob& job) {
  const int entry = static_cast<int>(job.block);
  pinning_.erase(entry);
  if (job.result < 0) {
    const int error = static_cast<int>(-job.result);
    if (error == ENOMEM || error == EPERM || error == EAGAIN) {
      pin_again_ms_ = now_ms_ + kPinRetryMillis;
      if (error != last_error_) {
        Log(LogLevel::kWarning,
            "--hot-cache: cannot pin a hot file (%s): raise LimitMEMLOCK= "
            "or RLIMIT_MEMLOCK to the budget; serving it from the disk",
            std::strerror(error));
      }
      last_error_ = error;
    }
    if (error == ESTALE || error == ENOENT) {
      // Changed or gone since it was sent: that version is hot for nothing.
      table_.Forget(entry, job.opened.status);
    }
    return;
  }
  auto file = std::make_shared<PinnedFile>();
  file->fd = std::move(job.opened.fd);
  file->mapping = job.buffer;
  file->length = job.opened.status.size;
  file->entry = entry;
  file->status = job.opened.status;
  if (!table_.Hold(entry, slot_, file->status)) {
    Unpin(*file, /*held=*/false);  // evicted while it was pinned
    return;
  }
  Bump(counters_.hot_pins);
  pinned_bytes_ += file->length;
  by_inode_[file->status.inode] = entry;
  pins_.emplace(entry, std::move(file));
}

void HotFiles::OnUnpinned(const HelperJob& job) {
  if (job.held) table_.Release(static_cast<int>(job.block), slot_);
}

void HotFiles::OnTick(std::int64_t now_ms) {
  if (!pins_.empty()) table_.CoolDown(now_ms);
  for (auto pin = pins_.begin(); pin != pins_.end();) {
    const bool unchanged = Unchanged(*pin->second);
    if (!unchanged) table_.Forget(pin->first, pin->second->status);
    if (unchanged && table_.Wanted(pin->first, pin->second->status)) {
      ++pin;
      continue;
    }
    pinned_bytes_ -= pin->second->length;
    if (auto index = by_inode_.find(pin->second->status.inode);
        index != by_inode_.end() && index->second == pin->first) {
      by_inode_.erase(index);
    }
    retiring_.push_back(std::move(pin->second));
    pin = pins_.erase(pin);
  }
  // A response still sending from a pin keeps it until it ends.
  for (auto file = retiring_.begin(); file != retiring_.end();) {
    if (file->use_count() > 1) {
      ++file;
      continue;
    }
    Unpin(**file, /*held=*/true);
    file = retiring_.erase(file);
  }
}

void HotFiles::Unpin(PinnedFile& file, bool held) {
  Bump(counters_.hot_unpins);
  HelperJob job;
  job.kind = HelperJob::Kind::kUnpin;
  job.fd = std::move(file.fd);
  job.buffer = static_cast<char*>(file.mapping);
  job.length = file.length;
  job.block = static_cast<std::uint32_t>(file.entry);
  job.held = held;
  helpers_.Submit(std::move(job));
}

}  // namespace ferry

#include "document_root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "system_error.h"

namespace ferry {
namespace {

constexpr std::uint32_t kFallbackDirectAlign = 4096;
// fs/ext4/ext4.h; not in Debian 12's uapi headers.
constexpr unsigned long kExt4PrecacheExtents = _IO('f', 18);

int OpenBeneath(int root, const char* path, std::uint64_t flags,
                bool cached_only) {
  open_how how{};
  how.flags = flags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  if (cached_only) how.resolve |= RESOLVE_CACHED;
  for (;;) {
    int fd =
        static_cast<int>(syscall(SYS_openat2, root, path, &how, sizeof how));
    if (fd >= 0 || errno != EINTR) return fd >= 0 ? fd : -errno;
  }
}

/// Fills `opened` from `fd` (a descriptor, or a negative errno) and its
/// statx; the descriptor it held before is closed.
void TakeOpened(int fd, OpenedFile* opened) {
  opened->fd.Reset();
  if (fd < 0) {
    opened->error = fd;
    return;
  }
  opened->fd.Reset(fd);
  opened->error = StatOpenFile(fd, &opened->status);
  if (opened->error != 0) opened->fd.Reset();
}

}  // namespace

DocumentRoot::DocumentRoot(const std::string& path) : path_(path) {
  fd_.Reset(static_cast<int>(CheckCall(
      open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open", path)));
}

OpenedFile DocumentRoot::Open(const std::string& relative,
                              bool cached_only) const {
  const char* path = relative.empty() ? "." : relative.c_str();
  // The type first, through an O_PATH descriptor, which opens nothing: a
  // device's open() has effects of its own (a watchdog arms, a tape
  // rewinds), and a FIFO's wakes its writers. Only regular files and
  // directories are opened for reading. (A node swapped in between the two
  // lookups would be opened, and then refused by the type check on the
  // real descriptor; only root can make device nodes.)
  OpenedFile opened;
  TakeOpened(OpenBeneath(fd_.get(), path, O_PATH | O_CLOEXEC, cached_only),
             &opened);
  if (opened.error != 0 || opened.status.type == FileStatus::Type::kOther) {
    return opened;
  }
  // O_NONBLOCK keeps a FIFO swapped in meanwhile from hanging the open.
  constexpr std::uint64_t kFlags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  int fd = OpenBeneath(fd_.get(), path, kFlags | O_DIRECT, cached_only);
  // GOTCHA: O_DIRECT on something that cannot do it (a directory, a FIFO,
  // tmpfs before 6.6) fails the open with EINVAL (do_dentry_open() checks
  // FMODE_CAN_ODIRECT since 5.19, after the driver's open()): open it again
  // without.
  bool direct = fd >= 0;
  if (fd == -EINVAL) fd = OpenBeneath(fd_.get(), path, kFlags, cached_only);
  TakeOpened(fd, &opened);
  if (opened.error != 0) return opened;
  if (!direct) opened.status.direct_align = 0;
  if (!warmup_->Done(opened.status)) {
    if (cached_only) {
      opened.fd.Reset();
      opened.error = -EAGAIN;
      return opened;
    }
    warmup_->Make(opened.fd.get(), opened.status);
  }
  return opened;
}

int DocumentRoot::StatBeneath(const std::string& relative,
                              FileStatus* status) const {
  OpenedFile opened;
  TakeOpened(OpenBeneath(fd_.get(), relative.empty() ? "." : relative.c_str(),
                         O_PATH | O_CLOEXEC, /*cached_only=*/false),
             &opened);
  if (opened.error == 0) *status = opened.status;
  return opened.error;
}

int LoadBlockMap(int fd) {
  return ioctl(fd, kExt4PrecacheExtents) == 0 ? 0 : -errno;
}

int StatOpenFile(int fd, FileStatus* status) {
  struct statx sx {};
  if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_DIOALIGN, &sx) !=
      0) {
    return -errno;
  }
  if (S_ISREG(sx.stx_mode)) {
    status->type = FileStatus::Type::kRegular;
  } else if (S_ISDIR(sx.stx_mode)) {
    status->type = FileStatus::Type::kDirectory;
  } else {
    status->type = FileStatus::Type::kOther;
  }
  status->size = sx.stx_size;
  status->mtime_sec = sx.stx_mtime.tv_sec;
  status->mtime_nsec = sx.stx_mtime.tv_nsec;
  status->inode = sx.stx_ino;
  status->device =
      (static_cast<std::uint64_t>(sx.stx_dev_major) << 32) | sx.stx_dev_minor;
  status->change_ns =
      static_cast<std::uint64_t>(sx.stx_ctime.tv_sec) * 1'000'000'000 +
      sx.stx_ctime.tv_nsec;
  std::uint32_t align = kFallbackDirectAlign;
  if ((sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align != 0) {
    align = sx.stx_dio_offset_align;
    if (sx.stx_dio_mem_align > align) align = sx.stx_dio_mem_align;
  }
  status->direct_align = align;
  return 0;
}

}  // namespace ferry

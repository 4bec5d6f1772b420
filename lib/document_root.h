#pragma once
// The document root: opening files strictly beneath it, and what statx says
// about them.

#include <cstdint>
#include <memory>
#include <string>

#include "direct_read_warmup.h"
#include "unique_fd.h"

namespace ferry {

/// What the server needs to know about an opened file.
struct FileStatus {
  enum class Type { kRegular, kDirectory, kOther };
  Type type = Type::kOther;
  std::uint64_t size = 0;
  std::int64_t mtime_sec = 0;
  std::uint32_t mtime_nsec = 0;  ///< the mtime's nanoseconds (for the ETag)
  std::uint64_t inode = 0;
  std::uint64_t device = 0;
  /// Nanoseconds of the last change (ctime): any write or metadata change
  /// moves it, so equal stamps mean unchanged contents.
  std::uint64_t change_ns = 0;
  /// O_DIRECT alignment of file offsets and lengths, 0 when the file is not
  /// open for O_DIRECT (then reads go through a helper).
  std::uint32_t direct_align = 0;
};

/// The outcome of opening a path for serving.
struct OpenedFile {
  UniqueFd fd;
  FileStatus status;
  /// 0, or the negative errno that stopped us: -EAGAIN (only for a
  /// cached-only open: the lookup needs the disk, ask a helper), -ENOENT,
  /// -EACCES, ...
  int error = 0;
};

/// The root directory, opened once (O_PATH) at start-up; every open is
/// relative to it with RESOLVE_BENEATH, so `..` and symlinks cannot leave it.
class DocumentRoot {
 public:
  /// Throws std::system_error when `path` is not an openable directory.
  explicit DocumentRoot(const std::string& path);

  /// Opens `relative` (no leading '/'; "" is the root itself) for reading,
  /// O_DIRECT when the file system allows it, and fills in its status.
  /// Anything but a regular file or a directory (a device, a FIFO) is never
  /// opened: it comes back as kOther with an O_PATH descriptor.
  /// With `cached_only` the lookup uses RESOLVE_CACHED and never waits for
  /// the disk (EAGAIN instead, also for a file on a file system that has
  /// not had its first direct read: DirectReadWarmup): the loop's way.
  /// Without it, the lookup may block, and makes that first read: helpers
  /// only.
  OpenedFile Open(const std::string& relative, bool cached_only) const;

  /// The status of what `relative` names, following symlinks only while
  /// they stay beneath the root (O_PATH: nothing is opened for reading).
  /// May block: helpers only. Returns 0 or a negative errno.
  int StatBeneath(const std::string& relative, FileStatus* status) const;

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  UniqueFd fd_;
  std::string path_;
  // Shared by the loop and the helpers; a pointer so that the root moves.
  std::unique_ptr<DirectReadWarmup> warmup_ =
      std::make_unique<DirectReadWarmup>();
};

/// True when `a` and `b` describe the same, unchanged file.
inline bool SameFileVersion(const FileStatus& a, const FileStatus& b) {
  return a.inode == b.inode && a.device == b.device && a.size == b.size &&
         a.change_ns == b.change_ns && a.mtime_sec == b.mtime_sec &&
         a.mtime_nsec == b.mtime_nsec;
}

/// statx on an open descriptor (AT_EMPTY_PATH: no path lookup). Returns 0 or
/// a negative errno.
int StatOpenFile(int fd, FileStatus* status);

/// Files this large or smaller cannot need LoadBlockMap: ext4 keeps up to
/// four extents in the inode itself, and a file of four 4 KiB blocks has
/// at most four.
inline constexpr std::uint64_t kInodeMappedMax = std::uint64_t{16} * 1024;

/// Makes the file system read `fd`'s whole block map into memory now, so
/// that O_DIRECT reads of the file find it there.
/// GOTCHA: ext4 maps a read's blocks inside io_submit() and, when the
/// extent tree is not in memory, reads its blocks and waits for them there,
/// RWF_NOWAIT or not (6.18: ext4_iomap_begin -> ext4_map_blocks ->
/// ext4_find_extent -> ext4_read_bh -> io_schedule). EXT4_IOC_PRECACHE_EXTENTS
/// loads the tree ahead. May block: helpers only. Returns 0 or a negative
/// errno (-ENOTTY: not ext4, which has nothing to load or honours
/// RWF_NOWAIT).
int LoadBlockMap(int fd);

}  // namespace ferry

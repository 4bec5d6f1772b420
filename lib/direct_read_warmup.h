#pragma once
// The file systems that have had their first asynchronous direct read.

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>

namespace ferry {

struct FileStatus;

/// Which file systems (by device number) have had an asynchronous O_DIRECT
/// read, so that the loop's io_submit never makes their first one.
/// GOTCHA: a file system's first asynchronous direct I/O creates its
/// completion workqueue inside io_submit, and waits there for a new kernel
/// thread (6.18: __iomap_dio_rw -> sb_init_dio_done_wq -> alloc_workqueue
/// -> kthread_create_on_node -> wait_for_completion_killable): a D-state
/// sleep of the loop at the first read after each mount (seen on a fresh
/// boot). A helper makes that first read instead (Make); until then the
/// loop's own opens on that file system go to a helper (DocumentRoot::Open
/// says -EAGAIN). Thread-safe: Done is the loop's (lock-free), Make the
/// helpers'.
class DirectReadWarmup {
 public:
  /// Whether `status`'s file system needs no first read any more: it had
  /// one, or nothing will be read (not O_DIRECT, not a regular file, empty).
  bool Done(const FileStatus& status) const;

  /// Reads the first block of `fd` (open O_DIRECT, described by `status`)
  /// asynchronously and waits, unless its file system had that already.
  /// Blocks: helpers only.
  void Make(int fd, const FileStatus& status);

 private:
  // More file systems than this beneath one root: the others stay with
  // the helpers (correct, only slower to open).
  static constexpr std::size_t kSlots = 32;

  // Device numbers + 1 (0 marks a free slot), filled in order under mutex_.
  std::array<std::atomic<std::uint64_t>, kSlots> devices_{};
  std::atomic<std::size_t> count_ = 0;
  std::mutex mutex_;
};

}  // namespace ferry

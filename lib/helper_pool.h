#pragma once
// The helper pool: threads for the work that may block (a lookup that is
// not in the dentry cache, a read that RWF_NOWAIT refused, a file without
// O_DIRECT). Results come back on the worker's completion queue, and a
// doorbell signal wakes the loop (never the result itself in a signal's
// payload: see DESIGN.md).

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "directory_listing.h"
#include "document_root.h"
#include "extent_map.h"
#include "file_cache.h"
#include "unique_fd.h"

namespace ferry {

struct SiteRules;

/// One job and, once done, its result. Owned by the pool while queued.
struct HelperJob {
  enum class Kind {
    kOpen,
    kRead,
    kLoadBlockMap,
    kList,
    kPopulate,
    kPin,
    kUnpin
  };
  Kind kind = Kind::kOpen;
  std::uint64_t token = 0;  ///< whose job it is (continuation token)

  // kOpen: the path to open beneath the root; the result is `opened`.
  std::string path;
  OpenedFile opened;

  // kRead: pread `length` bytes at `offset` of `fd` (a dup the job owns, so
  // the requester may close its own) into `buffer`; the result is `result`
  // (bytes or a negative errno). `block` is passed through untouched.
  // kLoadBlockMap: LoadBlockMap(fd) (fd: a dup the job owns); `result` is 0
  // or a negative errno; `extents` is the file's extent map (empty when the
  // file system has none).
  UniqueFd fd;
  char* buffer = nullptr;
  std::size_t length = 0;
  std::uint64_t offset = 0;
  std::uint32_t block = 0;
  long result = 0;
  ExtentMap extents;

  // kPopulate: makes `length` bytes of buffers at `buffer` present
  // (MakePresent); `result` is 0 or a negative errno.

  // kPin: PinFile(path, opened.status): `result` is 0 or a negative errno;
  // the pin is `opened.fd` and `length` bytes mapped at `buffer`; `block`
  // is the HotTable entry, passed through.
  // kUnpin: UnpinFile(fd, buffer, length); `held`: the table's hold on
  // entry `block` is to be released when it is done.
  bool held = false;

  // kList: reads the directory `fd` (owned; `path` beneath the root, its
  // mtime in `opened.status`) as `rules` allow and renders the page `query`
  // asks for: its bytes in `page`, the rest in `listing` (whose body is
  // then empty); `result` is 0 or a negative errno.
  const SiteRules* rules = nullptr;
  ListingQuery query;
  Listing listing;
  std::shared_ptr<const CachedBytes> page;
};

/// A fixed set of named threads ("ferry-helper"). Submit() and
/// TakeCompleted() are for the loop thread; both take a lock held only for
/// a queue operation, never across a job.
class HelperPool {
 public:
  /// Starts `threads` helpers that ring `loop_tid`'s doorbell when a job is
  /// done. `root` must outlive the pool.
  HelperPool(unsigned threads, const DocumentRoot& root, pid_t loop_tid);
  /// Stops the helpers after the job each is running.
  ~HelperPool();
  HelperPool(const HelperPool&) = delete;
  HelperPool& operator=(const HelperPool&) = delete;

  void Submit(HelperJob job);

  /// Moves finished jobs into `out` (cleared first). Cheap when none is
  /// done: one atomic load, no lock.
  void TakeCompleted(std::vector<HelperJob>* out);

  /// Jobs submitted and not yet taken back.
  std::size_t outstanding() const { return outstanding_; }

 private:
  void Run();
  void Perform(HelperJob& job) const;

  const DocumentRoot& root_;
  pid_t loop_pid_;
  pid_t loop_tid_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<HelperJob> pending_;
  std::vector<HelperJob> completed_;
  std::atomic<bool> has_completed_{false};
  bool stopping_ = false;
  std::size_t outstanding_ = 0;  // loop thread only
  std::vector<std::thread> threads_;
};

}  // namespace ferry

#pragma once
// One worker's side of the hot files: the pins it holds on the pages of
// the files the HotTable made hot, and the body that sends them.
//
// A hot file's pages live in the kernel's page cache, once for the whole
// machine, so every worker that serves it shares one copy. A helper pins
// them there (mmap + mlock: locked pages are never reclaimed), after which
// the loop sends them with sendfile(), which takes the pages without a
// copy and, since they are resident, never waits for the disk. When the
// table evicts the file, the pin goes (on a helper: munmap, then
// POSIX_FADV_DONTNEED gives the pages back once no worker pins them).

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "body_source.h"
#include "counters.h"
#include "document_root.h"
#include "hot_table.h"
#include "unique_fd.h"

namespace ferry {

class HelperPool;
struct HelperJob;

/// A file whose pages this worker pins. The loop only sendfile()s from
/// `fd` (opened without O_DIRECT); it never touches `mapping` (a file
/// truncated meanwhile would raise SIGBUS there), which exists to hold the
/// lock and is unmapped by a helper.
struct PinnedFile {
  UniqueFd fd;
  void* mapping = nullptr;
  std::uint64_t length = 0;
  int entry = -1;  ///< in the HotTable
  FileStatus status;
};

/// Makes a pin (a helper's job, may block): opens `path` beneath `root`
/// for buffered reads, checks it is still the version `status` names,
/// reads it into the page cache and locks its pages. Returns 0 with `*fd`
/// and `*mapping` set, or a negative errno (-ESTALE: the file changed;
/// -ENOMEM/-EPERM: RLIMIT_MEMLOCK does not allow the lock).
int PinFile(const DocumentRoot& root, const std::string& path,
            const FileStatus& status, UniqueFd* fd, void** mapping);
/// Lets a pin go (a helper's job): unmaps it, and asks the kernel to drop
/// the file's pages that no one else pins or maps.
void UnpinFile(UniqueFd fd, void* mapping, std::uint64_t length);

/// A hot file's bytes for the response sender: any range, by sendfile().
/// Only for a stream that sends files (ByteStream::SendsFiles()).
class PinnedBody final : public BodySource {
 public:
  void Reset(std::shared_ptr<const PinnedFile> file = nullptr) {
    file_ = std::move(file);
  }
  bool holds_file() const { return file_ != nullptr; }

  void Select(std::uint64_t, std::uint64_t) override {}
  bool ServesAnyRange() const override { return true; }
  int Gather(std::uint64_t, std::uint64_t, iovec*, int,
             bool* complete) override {
    *complete = false;  // never asked: SendfileFd() always answers
    return 0;
  }
  int SendfileFd(std::uint64_t, std::uint64_t) const override {
    return file_->fd.get();
  }
  void Sent(std::uint64_t) override {}

 private:
  std::shared_ptr<const PinnedFile> file_;
};

/// The worker's pins. Loop thread only; pins are made and let go by
/// `helpers`, whose results the worker hands to OnPinned/OnUnpinned.
class HotFiles {
 public:
  HotFiles(HotTable& table, unsigned slot, HelperPool& helpers,
           WorkerCounters& counters);

  /// A GET of the large file `status`: the pinned file to send it from,
  /// or nullptr (send it from the disk). Looks only at this worker's pins.
  std::shared_ptr<const PinnedFile> Find(const FileStatus& status) const;
  /// A GET of the large file `status` (at `path` beneath the root) ended,
  /// `bytes` of its body sent: counts them in the table (hotness is in
  /// copies sent, so ranges that add up to one download are one request),
  /// and has a helper pin a file that is hot and not pinned here yet.
  void Count(const std::string& path, const FileStatus& status,
             std::uint64_t bytes, std::int64_t now_ms);

  /// A helper's kPin or kUnpin job came back.
  void OnPinned(HelperJob& job);
  void OnUnpinned(const HelperJob& job);
  /// On the worker's tick: pins the table no longer wants (evicted,
  /// cooled) or whose file changed or was deleted on disk are let go once
  /// no response sends from them.
  void OnTick(std::int64_t now_ms);

  std::uint64_t pinned_bytes() const { return pinned_bytes_; }
  std::size_t pins() const { return pins_.size(); }

 private:
  /// Hands `file`'s pin (its descriptor and mapping) to a helper to let go.
  void Unpin(PinnedFile& file, bool held);

  HotTable& table_;
  unsigned slot_;
  HelperPool& helpers_;
  WorkerCounters& counters_;
  std::unordered_map<int, std::shared_ptr<PinnedFile>> pins_;  ///< by entry
  /// The entry of the pin of each inode (Find's index into pins_).
  std::unordered_map<std::uint64_t, int> by_inode_;
  std::unordered_map<int, FileStatus> pinning_;        ///< jobs out, by entry
  std::vector<std::shared_ptr<PinnedFile>> retiring_;  ///< still sending
  std::uint64_t pinned_bytes_ = 0;
  std::int64_t now_ms_ = 0;        ///< of the last Count()
  std::int64_t pin_again_ms_ = 0;  ///< no pin tried before (locked memory)
  int last_error_ = 0;             ///< the last pin failure logged (once each)
};

}  // namespace ferry

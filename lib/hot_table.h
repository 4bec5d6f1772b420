#pragma once
// Which large files are hot: the daemon's one admission table, in memory
// the master maps before it forks, so that every worker of every
// generation decides with the same counts against one budget.
//
// A file streamed once leaves only a ghost here (its identity, when it
// was sent and how many copies of it) and is read with O_DIRECT as before;
// sent a second time while its count has not decayed, it is admitted
// (counted in bytes, so that the ranges of one download manager's
// connections count as one download, not as many requests): workers then
// pin its pages in the page cache (hot_files.h) and send them with
// sendfile(). The policy is 2Q's ghost list for admission with TinyLFU's
// frequency test for eviction: a candidate displaces the hot file with the
// lowest decayed count only when it is asked for at least as often, so a
// burst of one-time streams cannot push out what is popular.

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "document_root.h"

namespace ferry {

class HotTable {
 public:
  /// Entries (ghosts and hot files together): a request scans them all,
  /// about a microsecond, once per response of a large file.
  static constexpr unsigned kDefaultEntries = 1024;

  /// Maps the shared table: `budget` bytes of hot files at most, counts
  /// halved every `window_ms`, `slots` worker slots (WorkerProcesses)
  /// that may hold pins. Throws std::system_error when mmap fails.
  HotTable(std::uint64_t budget, std::int64_t window_ms, unsigned slots,
           unsigned entries = kDefaultEntries);
  ~HotTable();
  HotTable(const HotTable&) = delete;
  HotTable& operator=(const HotTable&) = delete;

  /// Counts `bytes` of the file `status` sent at `now_ms`, as a share of a
  /// whole copy (at most one per response). Returns its entry when the
  /// file is hot (admitted before, or now), -1 when it stays cold: less
  /// than two copies sent within about a window, larger than the budget,
  /// less popular than what would have to go, or the table busy in
  /// another worker (never waits).
  int Request(const FileStatus& status, std::uint64_t bytes,
              std::int64_t now_ms);

  /// Lets every hot file whose count decayed below half a copy go (each
  /// Request() does too): a worker calls it on its tick, then Wanted().
  void CoolDown(std::int64_t now_ms);
  /// True while `entry` is still hot for the file `status`: a worker keeps
  /// its pin while this holds, and lets it go when it no longer does
  /// (evicted, cooled, forgotten).
  bool Wanted(int entry, const FileStatus& status) const;
  /// The file `status` at `entry` changed or was deleted on disk: it is no
  /// longer hot (a pin of the old version would hold its pages, and a
  /// deleted file's blocks, for nothing).
  void Forget(int entry, const FileStatus& status);

  /// `slot` pinned `entry`'s pages. False when the entry is no longer hot
  /// for `status` (evicted while the pin was made): unpin at once.
  bool Hold(int entry, unsigned slot, const FileStatus& status);
  /// `slot` let go of `entry`'s pages: once no slot holds an evicted
  /// entry, its bytes leave the budget.
  void Release(int entry, unsigned slot);
  /// Everything `slot` held: its process is gone (the master, on reaping).
  void ReleaseAll(unsigned slot);

  std::uint64_t budget() const;
  /// Bytes of hot files, and of evicted ones still pinned somewhere.
  std::uint64_t charged() const;
  std::uint64_t admitted() const;  ///< files made hot, ever
  std::uint64_t evicted() const;   ///< files no longer hot, ever

 private:
  struct Entry;
  struct Header;

  /// Takes the table's spin lock; false after a bounded spin (another
  /// process holds it): a request is then treated as cold. Held only for
  /// a scan of the table, never across a call into the kernel.
  bool TryLock() const;
  /// Takes it whatever the spin: for what must not be skipped (a pin
  /// made or let go, a reading of the totals).
  void Lock() const;
  void Unlock() const;
  Entry* FindEntry(const FileStatus& status);
  Entry* NewGhost(const FileStatus& status, std::int64_t now_ms);
  bool Admit(Entry& candidate, std::int64_t now_ms);
  void Decay(Entry& entry, std::int64_t now_ms) const;
  /// Un-hots `entry` (evicted, cooled or forgotten).
  void Evict(Entry& entry);
  /// Lets every hot entry no longer asked for go.
  void Cool(std::int64_t now_ms);
  /// Keeps the header's charge equal to the bytes of charged entries.
  void Recharge(Entry& entry);
  std::uint64_t* HolderBits(unsigned slot) const;
  int IndexOf(const Entry& entry) const;
  bool Matches(int entry, const FileStatus& status) const;

  void* memory_ = nullptr;
  std::size_t length_ = 0;
  Header* header_ = nullptr;
  Entry* entries_ = nullptr;
  std::uint64_t* holder_bits_ = nullptr;  ///< slots × words_per_slot_
  unsigned words_per_slot_ = 0;
};

}  // namespace ferry

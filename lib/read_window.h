#pragma once
// The file side of a response: a ring of pool blocks that reads fill ahead
// of the socket, in file order. It owns the file, its block map, the reads
// in flight and giving blocks back; it knows no socket. The response sender
// takes its bytes through BodySource.
//
// Reads go to the AIO context when the file is O_DIRECT (RWF_NOWAIT first;
// a read that would block goes to a helper), to a helper otherwise. A file
// larger than its inode maps has its block map loaded by a helper before
// the first read, so that io_submit() never waits for the disk to map it.

#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <memory>

#include "aio_context.h"
#include "block_reads.h"
#include "body_source.h"
#include "buffer_pool.h"
#include "counters.h"
#include "extent_map.h"
#include "helper_pool.h"
#include "unique_fd.h"

namespace ferry {

/// What read windows use of their worker, shared by all of them.
struct ReadServices {
  BufferPool& pool;
  AioContext& aio;
  BlockReads& reads;  ///< the read that fills each pool block
  HelperPool& helpers;
  WorkerCounters& counters;
  /// Owners (tokens) of windows waiting for a free block, oldest first;
  /// the worker calls their OnBlockAvailable() as blocks come back.
  std::deque<std::uint64_t>& waiting;
  /// A window began waiting this iteration: the worker looks for stalled
  /// connections' blocks to take back.
  bool reclaim_wanted = false;
  /// The device's largest request (0: unknown): a larger read would be
  /// split into several, each needing a request tag.
  std::uint64_t max_request_bytes = 0;
  /// Cleared when the device answers RWF_NOWAIT with EOPNOTSUPP.
  bool nowait_reads = true;
};

class ReadWindow final : public BodySource {
 public:
  /// What a completed read means for the one who sends the bytes.
  enum class ReadOutcome {
    kReady,    ///< more bytes can be gathered
    kPending,  ///< read again (by a helper, or without RWF_NOWAIT)
    kFailed,   ///< the read failed: logged and counted; the response is lost
    kShrank,   ///< the file ended before the bytes it was to send
    kUnknown,  ///< not a block of this window: given back to the pool
  };

  /// Sizes the ring: at most `slots` reads ahead.
  void Resize(std::size_t slots);

  /// Starts reading `file` for `owner` (the token completions carry) with
  /// `services`. `align` is the O_DIRECT alignment (0: not O_DIRECT, a
  /// helper reads); `load_block_map`: see the comment at the top.
  void Open(UniqueFd file, std::uint64_t owner, std::uint32_t align,
            bool load_block_map, ReadServices& services);
  /// Gives back every block whose read is done, takes back reads still
  /// queued for io_submit(), and closes the file. A block whose read is in
  /// flight stays the kernel's (or a helper's) until it completes; the
  /// worker then finds no owner and frees it.
  void Close();

  bool is_open() const { return file_.get() >= 0; }
  int file() const { return file_.get(); }
  std::size_t blocks_held() const { return count_; }

  /// Queues reads of the selected range until the ring is full; without a
  /// free block (or AIO capacity), waits in `services.waiting` once.
  void Fill();
  struct ReadDone {
    ReadOutcome outcome;
    std::uint64_t offset;  ///< of the block in the file
  };
  /// A completed read of `block`: `result` bytes or a negative errno.
  ReadDone OnReadDone(std::uint32_t block, long result);
  /// The helper mapped the file's extents; reads may start.
  void OnBlockMapLoaded(ExtentMap extents);
  /// A block (or AIO capacity) is free after this window waited.
  void OnBlockAvailable();
  /// Gives every block back if no read is in flight, to read the unsent
  /// bytes again later (a client that stopped reading must not hold the
  /// pool). Returns the number of blocks given back.
  std::size_t Reclaim();

  /// The first block's bytes when it starts the file and holds all its
  /// `size` bytes, else nullptr: a small file read whole, for the cache.
  const char* WholeFile(std::uint64_t size) const;

  // BodySource: the selected range only, as its reads complete.
  /// Reads [begin, end) next (the window is empty: the previous range was
  /// all sent), starting at once.
  void Select(std::uint64_t begin, std::uint64_t end) override;
  bool ServesAnyRange() const override { return false; }
  int Gather(std::uint64_t position, std::uint64_t end, iovec* iov, int max,
             bool* complete) override;
  int SendfileFd(std::uint64_t, std::uint64_t) const override { return -1; }
  /// Blocks whose bytes all went out go back; the freed room is read into.
  void Sent(std::uint64_t position) override;

 private:
  /// A block of the window, in file order.
  struct Slot {
    std::uint32_t block = 0;
    std::uint64_t offset = 0;  ///< file offset of the block's first byte
    std::uint64_t length = 0;  ///< bytes asked for
    std::int64_t got = -1;     ///< bytes read; -1 while the read is in flight
  };
  enum class BlockMap { kInMemory, kToLoad, kLoading };

  Slot& SlotAt(std::size_t i) { return slots_[(head_ + i) % capacity_]; }
  const Slot& SlotAt(std::size_t i) const {
    return slots_[(head_ + i) % capacity_];
  }
  std::uint64_t AlignDown(std::uint64_t offset) const;
  void IssueRead(std::uint64_t length);
  void SubmitRead(const Slot& slot);
  void SubmitToHelper(const Slot& slot);
  HelperJob FileJob(HelperJob::Kind kind) const;

  ReadServices* services_ = nullptr;
  UniqueFd file_;
  std::uint64_t owner_ = 0;
  std::uint32_t align_ = 0;
  BlockMap block_map_ = BlockMap::kInMemory;
  /// Where the file's extents end: each read stays inside one, so that it
  /// is one block-layer request (see ReadsInFlightShare).
  ExtentMap extents_;
  std::uint64_t end_ = 0;   ///< the selected range's end
  std::uint64_t sent_ = 0;  ///< the first byte of it not sent yet
  std::uint64_t next_ = 0;  ///< the next aligned offset to read
  bool waiting_ = false;    ///< its owner is in services_->waiting
  std::unique_ptr<Slot[]> slots_;
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

}  // namespace ferry

#pragma once
// Linux kernel AIO (libaio): one context per worker, reads queued during a
// loop iteration and submitted with one io_submit, completions announced on
// an eventfd and reaped in batches. This is the only file that includes
// <libaio.h>.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "unique_fd.h"

struct iocb;
struct io_context;

namespace ferry {

/// One read, owned by the caller (it must stay put until it completes).
/// Holds the kernel's iocb; the caller's 64-bit token rides in iocb.data.
class AioRead {
 public:
  AioRead() = default;
  AioRead(const AioRead&) = delete;
  AioRead& operator=(const AioRead&) = delete;

  /// Fills in a read of `length` bytes at `offset` of `fd` into `buffer`.
  /// With `nowait`, the read completes with -EAGAIN instead of blocking.
  void Prepare(int fd, void* buffer, std::size_t length, std::uint64_t offset,
               std::uint64_t token, bool nowait);
  std::uint64_t token() const;
  /// Whether it was prepared with RWF_NOWAIT.
  bool nowait() const;
  iocb* raw();
  /// The AioRead whose iocb the kernel handed back.
  static AioRead* FromRaw(iocb* cb);

 private:
  // The kernel's struct iocb (64 bytes, checked in aio_context.cc), first
  // so that an iocb pointer is also this object's address.
  alignas(8) unsigned char iocb_[64] = {};
};

/// A finished read: `result` is the byte count or a negative errno.
struct AioCompletion {
  AioRead* read = nullptr;
  long result = 0;
};

/// One asynchronous read of `length` bytes at offset 0 of `fd` into
/// `buffer`, through a context of its own, waited for. Blocks: helpers
/// only (DirectReadWarmup). Returns the byte count or a negative errno.
long ReadOnceAndWait(int fd, void* buffer, std::size_t length);

/// The worker's AIO context. Not thread-safe: the loop thread only.
class AioContext {
 public:
  /// io_setup(`depth`) and the completion eventfd. Throws std::system_error
  /// whose message says which sysctl to raise when the kernel refuses.
  explicit AioContext(unsigned depth);
  ~AioContext();
  AioContext(const AioContext&) = delete;
  AioContext& operator=(const AioContext&) = delete;

  /// The eventfd that becomes readable when reads complete.
  int event_fd() const { return event_fd_.get(); }

  /// How many more reads may be queued now (depth minus queued and in flight).
  unsigned Capacity() const {
    return depth_ - in_flight_ - static_cast<unsigned>(queued_.size());
  }
  unsigned in_flight() const { return in_flight_; }
  bool HasQueued() const { return !queued_.empty(); }
  /// Reads io_submit refused (their completion is an error Reap() reports;
  /// no event will announce it, so the loop must not sleep on them).
  bool HasRejected() const { return !rejected_.empty(); }

  /// Queues `read` for the next Submit(). The caller checks Capacity().
  void Queue(AioRead* read) { queued_.push_back(read->raw()); }

  /// Takes `read` out of the queue if it was not submitted yet, and says
  /// whether it was there. GOTCHA: a queued iocb holds a bare descriptor
  /// number; closing that descriptor before Submit() would let the read go
  /// to whatever file or socket reuses the number. Once submitted, the
  /// kernel holds its own reference and the descriptor may close.
  bool Unqueue(AioRead* read);

  /// Submits everything queued with one io_submit. Reads the kernel accepts
  /// only in part stay queued; a read it rejects completes with the error
  /// at the next Reap().
  void Submit();

  /// Collects finished reads into `out` (cleared first), draining the
  /// eventfd. Never waits.
  void Reap(std::vector<AioCompletion>* out);

  /// Test seam: the next `count` reads that complete report `error`
  /// (a negative errno such as -EIO) instead of their result.
  void InjectFailures(unsigned count, long error) {
    inject_count_ = count;
    inject_error_ = error;
  }

 private:
  io_context* context_ = nullptr;
  UniqueFd event_fd_;
  unsigned depth_;
  unsigned in_flight_ = 0;
  std::vector<iocb*> queued_;
  std::vector<AioCompletion> rejected_;
  unsigned inject_count_ = 0;
  long inject_error_ = 0;
};

}  // namespace ferry

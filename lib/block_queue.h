#pragma once
// The block-layer queue of the device a file system lives on, and how many
// reads a worker may keep in flight on it so that io_submit() never waits
// for a request tag.

#include <sys/types.h>

#include <cstdint>

namespace ferry {

/// What the device's queue takes (sysfs queue/nr_requests and
/// queue/max_sectors_kb); zeros when unknown (no such device in sysfs, as
/// for tmpfs or a network file system).
struct BlockQueue {
  unsigned requests = 0;                ///< requests the queue holds at once
  std::uint64_t max_request_bytes = 0;  ///< larger reads are split
};

/// Reads /sys/dev/block/MAJ:MIN/queue for `device`, or its disk's queue
/// for a partition. Reads files: start-up only.
BlockQueue ReadBlockQueue(dev_t device);

/// Reads one of `workers` workers may keep in flight on `queue`: at most
/// `queue_depth`, and together no more than three quarters of the queue,
/// so that the rest is left for other processes on the same disk.
/// GOTCHA: io_submit() of an O_DIRECT read sleeps in blk_mq_get_tag() when
/// the queue is full, RWF_NOWAIT or not (6.18: iomap's direct I/O never
/// sets REQ_NOWAIT on its bios). Each read must then be one request too:
/// see ExtentMap.
unsigned ReadsInFlightShare(const BlockQueue& queue, unsigned workers,
                            unsigned queue_depth);

}  // namespace ferry

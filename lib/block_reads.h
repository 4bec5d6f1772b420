#pragma once
// The pairing of a buffer pool's blocks with the AIO reads that fill them:
// one AioRead per block, so that a completion names its block and nobody
// outside computes an index.

#include <cstdint>
#include <memory>

#include "aio_context.h"

namespace ferry {

/// One AioRead per block of a BufferPool of `blocks` blocks. The read of
/// block b lives at a fixed address for the pool's life, as the kernel
/// wants of an iocb in flight.
class BlockReads {
 public:
  explicit BlockReads(std::uint32_t blocks)
      : reads_(std::make_unique<AioRead[]>(blocks)), blocks_(blocks) {}

  /// The read that fills `block`.
  AioRead& Of(std::uint32_t block) { return reads_[block]; }
  const AioRead& Of(std::uint32_t block) const { return reads_[block]; }

  /// The block a completed `read` (one of ours) filled.
  std::uint32_t BlockOf(const AioRead* read) const {
    return static_cast<std::uint32_t>(read - reads_.get());
  }

  std::uint32_t blocks() const { return blocks_; }

 private:
  std::unique_ptr<AioRead[]> reads_;
  std::uint32_t blocks_;
};

}  // namespace ferry

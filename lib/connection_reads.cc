// The file side of kStreaming: the read-ahead window of pool blocks that
// AIO (or, when the file is not O_DIRECT or RWF_NOWAIT refuses, a helper)
// fills ahead of the socket, the block map a helper loads before the first
// read, and giving blocks back when a client stops reading; see
// connection.h. connection_stream.cc sends what these reads bring.

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "connection.h"
#include "log.h"

namespace ferry {

void Connection::SelectFilePiece(std::size_t from) {
  file_piece_ = from;
  while (file_piece_ < layout_.pieces.size() &&
         layout_.pieces[file_piece_].kind != Piece::Kind::kFile) {
    ++file_piece_;
  }
  if (file_piece_ < layout_.pieces.size()) {
    std::uint64_t align =
        file_status_.direct_align ? file_status_.direct_align : 1;
    read_offset_ = layout_.pieces[file_piece_].offset / align * align;
  }
}

void Connection::FillWindow(ServingContext& ctx) {
  if (cached_body_ || file_piece_ >= layout_.pieces.size() ||
      state_ != State::kStreaming) {
    return;
  }
  if (block_map_ == BlockMap::kToLoad) RequestBlockMap(ctx);
  if (block_map_ == BlockMap::kLoading) return;  // OnBlockMapLoaded resumes
  const Piece& piece = layout_.pieces[file_piece_];
  std::uint64_t end = piece.offset + piece.length;
  // A client that stopped reading gets no read-ahead while others wait.
  if (want_write_ && !ctx.waiting.empty()) return;
  while (read_offset_ < end && window_count_ < window_capacity_) {
    bool direct = file_status_.direct_align != 0;
    if (ctx.pool.free_count() == 0 || (direct && ctx.aio.Capacity() == 0)) {
      if (!waiting_for_block_) {
        waiting_for_block_ = true;
        ctx.reclaim_wanted = true;
        ctx.waiting.push_back(token_);
      }
      return;
    }
    std::uint64_t length =
        std::min<std::uint64_t>(ctx.pool.block_size(), end - read_offset_);
    if (direct) {
      // O_DIRECT wants whole aligned blocks; the bytes past `end` that the
      // rounding adds are read but never sent.
      std::uint64_t align = file_status_.direct_align;
      length = (length + align - 1) / align * align;
      length = extents_.OneRequest(read_offset_, length, ctx.max_request_bytes);
    }
    IssueRead(length, ctx);
  }
}

// A helper job on file_, for this connection. The job owns a dup of the
// descriptor, since ours may close before the job runs; if dup() fails the
// helper's call fails on -1 (EBADF) and the job reports that.
HelperJob Connection::FileJob(HelperJob::Kind kind) const {
  HelperJob job;
  job.kind = kind;
  job.token = token_;
  job.fd.Reset(dup(file_.get()));
  return job;
}

void Connection::RequestBlockMap(ServingContext& ctx) {
  block_map_ = BlockMap::kLoading;
  ctx.helpers.Submit(FileJob(HelperJob::Kind::kLoadBlockMap));
}

void Connection::OnBlockMapLoaded(ExtentMap extents, ServingContext& ctx) {
  if (block_map_ != BlockMap::kLoading) return;
  extents_ = std::move(extents);
  // Whatever the outcome: without the map loaded, reads still work; they
  // may just wait inside io_submit().
  block_map_ = BlockMap::kInMemory;
  FillWindow(ctx);
}

void Connection::IssueRead(std::uint64_t length, ServingContext& ctx) {
  Slot& slot = SlotAt(window_count_);
  slot.block = ctx.pool.Acquire();
  slot.offset = read_offset_;
  slot.length = length;
  slot.got = -1;
  ++window_count_;
  read_offset_ += length;
  if (file_status_.direct_align == 0) {
    SubmitToHelper(slot, ctx);
    return;
  }
  SubmitRead(slot, ctx);
}

void Connection::SubmitRead(const Slot& slot, ServingContext& ctx) {
  ctx.reads.Of(slot.block)
      .Prepare(file_.get(), ctx.pool.Data(slot.block), slot.length, slot.offset,
               token_, ctx.nowait_reads);
  ctx.aio.Queue(&ctx.reads.Of(slot.block));
  Bump(ctx.counters.aio_reads);
}

void Connection::SubmitToHelper(const Slot& slot, ServingContext& ctx) {
  HelperJob job = FileJob(HelperJob::Kind::kRead);
  job.buffer = ctx.pool.Data(slot.block);
  job.length = slot.length;
  job.offset = slot.offset;
  job.block = slot.block;
  ctx.helpers.Submit(std::move(job));
}

void Connection::OnReadDone(std::uint32_t block, long result,
                            ServingContext& ctx) {
  std::size_t i = 0;
  while (i < window_count_ && SlotAt(i).block != block) ++i;
  if (i == window_count_ || SlotAt(i).got != -1) {
    ctx.pool.Release(block);  // not ours any more (cannot happen; be safe)
    return;
  }
  Slot& slot = SlotAt(i);
  if (result == -EAGAIN) {
    // RWF_NOWAIT: the data is not cached and reading it would block.
    Bump(ctx.counters.aio_eagain);
    SubmitToHelper(slot, ctx);
    return;
  }
  if (result == -EOPNOTSUPP && ctx.reads.Of(block).nowait()) {
    // The file system cannot do RWF_NOWAIT (overlayfs, for one): stop
    // asking, and read this again without.
    if (ctx.nowait_reads) {
      Log(LogLevel::kNotice,
          "RWF_NOWAIT is not supported here; reading without");
      ctx.nowait_reads = false;
    }
    SubmitRead(slot, ctx);
    return;
  }
  if (result < 0) {
    Bump(ctx.counters.aio_errors);
    Log(LogLevel::kError, "read %s at %" PRIu64 ": %s", PathForLog().c_str(),
        slot.offset, std::strerror(static_cast<int>(-result)));
    slot.got = 0;
    Abort("read error", ctx);
    return;
  }
  slot.got = result;
  if (fill_cache_ && slot.offset == 0 &&
      static_cast<std::uint64_t>(result) >= file_status_.size) {
    std::string_view type = ctx.mime.Lookup(open_path_);
    ctx.cache->Insert(
        open_path_, file_status_, ctx.pool.Data(slot.block), file_status_.size,
        status_ms_,
        {std::string(type), WholeFileFields(InfoOf(file_status_), type)});
    fill_cache_ = false;
  }
  const Piece& piece = layout_.pieces[file_piece_];
  std::uint64_t needed =
      std::min(slot.offset + slot.length, piece.offset + piece.length);
  if (slot.offset + static_cast<std::uint64_t>(result) < needed) {
    Log(LogLevel::kWarning, "%s shrank while being sent; response aborted",
        PathForLog().c_str());
    Abort("file shrank", ctx);
    return;
  }
  if (!want_write_) {
    OnWritable(ctx);
  } else if (!ctx.waiting.empty()) {
    ReclaimBlocks(ctx);  // the client is not reading; others wait for blocks
  }
}

void Connection::OnBlockAvailable(ServingContext& ctx) {
  waiting_for_block_ = false;
  FillWindow(ctx);
}

std::size_t Connection::ReclaimBlocks(ServingContext& ctx) {
  if (cached_body_ || window_count_ == 0 ||
      file_piece_ >= layout_.pieces.size())
    return 0;
  for (std::size_t i = 0; i < window_count_; ++i) {
    if (SlotAt(i).got < 0) return 0;  // the kernel owns that block for now
  }
  std::size_t released = window_count_;
  for (std::size_t i = 0; i < window_count_; ++i)
    ctx.pool.Release(SlotAt(i).block);
  window_count_ = 0;
  window_head_ = 0;
  // Read again from the first byte not yet sent.
  const Piece& piece = layout_.pieces[file_piece_];
  std::uint64_t position =
      piece.offset + (piece_index_ == file_piece_ ? piece_done_ : 0);
  std::uint64_t align =
      file_status_.direct_align ? file_status_.direct_align : 1;
  read_offset_ = position / align * align;
  return released;
}

}  // namespace ferry

// The kStreaming half of the connection state machine: the response's
// pieces go out in order, the file's through a read-ahead window of pool
// blocks that AIO (or a helper) fills; see connection.h.

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "connection.h"
#include "log.h"

namespace ferry {
namespace {

void CountStatus(int status, WorkerCounters& counters) {
  if (status < 300) {
    Bump(counters.responses_2xx);
  } else if (status < 400) {
    Bump(counters.responses_3xx);
  } else if (status < 500) {
    Bump(counters.responses_4xx);
  } else {
    Bump(counters.responses_5xx);
  }
}

// Shortens iov[0, count) to at most `limit` bytes; returns how many remain.
std::size_t TrimIovecs(iovec* iov, int count, std::uint64_t limit) {
  std::size_t n = 0;
  while (n < static_cast<std::size_t>(count) && limit > 0) {
    iov[n].iov_len = std::min<std::uint64_t>(iov[n].iov_len, limit);
    limit -= iov[n].iov_len;
    ++n;
  }
  return n;
}

}  // namespace

// ---- kStreaming ------------------------------------------------------------

void Connection::RespondStatus(int status, bool close, ServingContext& ctx) {
  bool keep = !close && request_.keep_alive && !ctx.stopping;
  BuildStatusResponse(status, request_.method == Method::kHead, ctx.now_sec,
                      keep, {}, 0, &layout_);
  close_after_response_ = !keep;
  if (close) request_length_ = input_length_;
  StartResponse(ctx);
}

void Connection::StartResponse(ServingContext& ctx) {
  state_ = State::kStreaming;
  deadline_ms_ = ctx.now_ms + ctx.config.send_timeout.count();
  head_length_ = layout_.text.find("\r\n\r\n") + 4;
  response_sent_ = 0;
  piece_index_ = 0;
  piece_done_ = 0;
  window_head_ = 0;
  window_count_ = 0;
  SelectFilePiece(0);
  FillWindow(ctx);
  OnWritable(ctx);
}

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
    }
    IssueRead(length, ctx);
  }
}

void Connection::RequestBlockMap(ServingContext& ctx) {
  block_map_ = BlockMap::kLoading;
  HelperJob job;
  job.kind = HelperJob::Kind::kLoadBlockMap;
  job.token = token_;
  job.fd.Reset(dup(file_.get()));  // ours may close before the job runs
  ctx.helpers.Submit(std::move(job));
}

void Connection::OnBlockMapLoaded(ServingContext& ctx) {
  if (block_map_ != BlockMap::kLoading) return;
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
  ctx.reads[slot.block].Prepare(file_.get(), ctx.pool.Data(slot.block),
                                slot.length, slot.offset, token_,
                                ctx.nowait_reads);
  ctx.aio.Queue(&ctx.reads[slot.block]);
  Bump(ctx.counters.aio_reads);
}

void Connection::SubmitToHelper(const Slot& slot, ServingContext& ctx) {
  HelperJob job;
  job.kind = HelperJob::Kind::kRead;
  job.token = token_;
  job.fd.Reset(dup(file_.get()));  // ours may close before the job runs
  job.buffer = ctx.pool.Data(slot.block);
  job.length = slot.length;
  job.offset = slot.offset;
  job.block = slot.block;
  if (!job.fd) {
    job.result = -errno;
  }
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
  if (result == -EOPNOTSUPP && ctx.reads[block].nowait()) {
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
    Log(LogLevel::kError, "read %s at %" PRIu64 ": %s", open_path_.c_str(),
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
        ctx.now_ms,
        {std::string(type), WholeFileFields(InfoOf(file_status_), type)});
    fill_cache_ = false;
  }
  const Piece& piece = layout_.pieces[file_piece_];
  std::uint64_t needed =
      std::min(slot.offset + slot.length, piece.offset + piece.length);
  if (slot.offset + static_cast<std::uint64_t>(result) < needed) {
    Log(LogLevel::kWarning, "%s shrank while being sent; response aborted",
        open_path_.c_str());
    Abort("file shrank", ctx);
    return;
  }
  if (!want_write_) {
    OnWritable(ctx);
  } else if (!ctx.waiting.empty()) {
    ReclaimBlocks(ctx);  // the client is not reading; others wait for blocks
  }
}

void Connection::ResumeTurn(ServingContext& ctx) {
  resume_queued_ = false;
  if (!want_write_) OnWritable(ctx);
}

void Connection::OnBlockAvailable(ServingContext& ctx) {
  waiting_for_block_ = false;
  FillWindow(ctx);
}

// Gathers what goes out next by sendmsg(). Stops before a cached file
// piece that leaves by sendfile(), and says so in `sendfile_next`.
int Connection::GatherIovecs(const BufferPool& pool, iovec* iov,
                             bool* sendfile_next) const {
  *sendfile_next = false;
  int n = 0;
  // Text (the head, a part head) waits for the file bytes that follow it,
  // so that a small response leaves in one sendmsg and one segment.
  bool gathered_file_bytes = false;
  for (std::size_t p = piece_index_;
       p < layout_.pieces.size() && n < kMaxIovecs; ++p) {
    const Piece& piece = layout_.pieces[p];
    std::uint64_t done = p == piece_index_ ? piece_done_ : 0;
    if (piece.kind == Piece::Kind::kText) {
      iov[n++] = {const_cast<char*>(layout_.text.data()) + piece.offset + done,
                  piece.length - done};
      continue;
    }
    if (cached_body_) {
      if (cached_body_->fd() >= 0 &&
          piece.length - done >= CachedBytes::kSendfileMin) {
        *sendfile_next = true;
        break;
      }
      iov[n++] = {const_cast<char*>(cached_body_->data()) + piece.offset + done,
                  piece.length - done};
      gathered_file_bytes = true;
      continue;
    }
    if (p != file_piece_) break;  // its window is not open yet
    std::uint64_t position = piece.offset + done;
    std::uint64_t end = piece.offset + piece.length;
    for (std::size_t i = 0; i < window_count_ && n < kMaxIovecs; ++i) {
      const Slot& slot = SlotAt(i);
      if (slot.got < 0) break;
      std::uint64_t slot_end = std::min(slot.offset + slot.length, end);
      if (slot_end <= position) continue;
      iov[n++] = {pool.Data(slot.block) + (position - slot.offset),
                  slot_end - position};
      gathered_file_bytes = true;
      position = slot_end;
    }
    if (position < end) return gathered_file_bytes ? n : 0;
  }
  return n;
}

void Connection::OnWritable(ServingContext& ctx) {
  if (state_ != State::kStreaming) return;
  want_write_ = false;
  if (window_count_ == 0)
    FillWindow(ctx);  // its blocks may have been reclaimed
  iovec iov[kMaxIovecs];
  std::uint64_t turn_left = kTurnBytes;
  for (;;) {
    if (turn_left == 0 && piece_index_ < layout_.pieces.size()) {
      Bump(ctx.counters.turns_yielded);
      if (!resume_queued_) {
        resume_queued_ = true;
        ctx.resume.push_back(token_);
      }
      return;
    }
    bool sendfile_next = false;
    int count = GatherIovecs(ctx.pool, iov, &sendfile_next);
    ssize_t n = 0;
    if (count > 0) {
      msghdr message{};
      message.msg_iov = iov;
      message.msg_iovlen = TrimIovecs(iov, count, turn_left);
      // MSG_MORE holds a head back for the file bytes sendfile() adds, so
      // that a small response still leaves in one segment.
      n = sendmsg(socket_.get(), &message,
                  MSG_NOSIGNAL | (sendfile_next ? MSG_MORE : 0));
    } else if (sendfile_next) {
      n = SendfileCached(turn_left);
    } else {
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        want_write_ = true;  // the next POLL_OUT signal resumes
        // The kernel holds a socket buffer's worth for this client already;
        // others are waiting for blocks: let them have ours meanwhile.
        if (!ctx.waiting.empty()) ReclaimBlocks(ctx);
        return;
      }
      Close(ctx);  // the client went away
      return;
    }
    Bump(ctx.counters.bytes_sent, static_cast<std::uint64_t>(n));
    turn_left -= std::min(turn_left, static_cast<std::uint64_t>(n));
    response_sent_ += static_cast<std::uint64_t>(n);
    deadline_ms_ = ctx.now_ms + ctx.config.send_timeout.count();
    Consume(static_cast<std::uint64_t>(n), ctx);
    if (state_ != State::kStreaming) return;
    FillWindow(ctx);
  }
  if (piece_index_ >= layout_.pieces.size()) FinishResponse(ctx);
}

// Sends (up to `limit` bytes of) the rest of the current piece, a cached
// file's bytes, from its memory file.
ssize_t Connection::SendfileCached(std::uint64_t limit) {
  const Piece& piece = layout_.pieces[piece_index_];
  off_t offset = static_cast<off_t>(piece.offset + piece_done_);
  return sendfile(socket_.get(), cached_body_->fd(), &offset,
                  std::min(limit, piece.length - piece_done_));
}

void Connection::Consume(std::uint64_t bytes, ServingContext& ctx) {
  while (bytes > 0 && piece_index_ < layout_.pieces.size()) {
    const Piece& piece = layout_.pieces[piece_index_];
    std::uint64_t take = std::min(bytes, piece.length - piece_done_);
    piece_done_ += take;
    bytes -= take;
    if (piece.kind == Piece::Kind::kFile) {
      // Blocks whose bytes are all sent go back to the pool.
      std::uint64_t position = piece.offset + piece_done_;
      std::uint64_t end = piece.offset + piece.length;
      while (window_count_ > 0) {
        Slot& head = SlotAt(0);
        if (head.got < 0 || std::min(head.offset + head.length, end) > position)
          break;
        ctx.pool.Release(head.block);
        window_head_ = (window_head_ + 1) % window_capacity_;
        --window_count_;
      }
    }
    if (piece_done_ == piece.length) {
      ++piece_index_;
      piece_done_ = 0;
      if (piece.kind == Piece::Kind::kFile) SelectFilePiece(piece_index_);
    }
  }
}

void Connection::FinishResponse(ServingContext& ctx) {
  CountStatus(layout_.status, ctx.counters);
  LogAccess(ctx);
  file_.Reset();
  cached_body_.reset();
  fill_cache_ = false;
  if (close_after_response_ || ctx.stopping) {
    StartLingering(ctx);
    return;
  }
  // Keep-alive: what followed the request (pipelined requests) moves to
  // the front of the buffer.
  std::memmove(input_.get(), input_.get() + request_length_,
               input_length_ - request_length_);
  input_length_ -= request_length_;
  request_length_ = 0;
  state_ = State::kReadingRequest;
  deadline_ms_ =
      ctx.now_ms + (input_length_ > 0 ? ctx.config.header_timeout.count()
                                      : ctx.config.idle_timeout.count());
  OnReadable(ctx);
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

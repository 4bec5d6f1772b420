// The socket side of kStreaming: the response's pieces go out in order,
// the file's from the read-ahead window (connection_reads.cc fills it) or
// from a cached copy, at most a turn's budget at a time; see connection.h.

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
  rate_window_start_ms_ = ctx.now_ms;
  rate_window_taken_ = 0;
  response_sent_ = 0;
  piece_index_ = 0;
  piece_done_ = 0;
  window_head_ = 0;
  window_count_ = 0;
  SelectFilePiece(0);
  FillWindow(ctx);
  OnWritable(ctx);
}

void Connection::ResumeTurn(ServingContext& ctx) {
  resume_queued_ = false;
  if (state_ == State::kReadingRequest) {
    OnReadable(ctx);  // more pipelined requests
  } else if (!want_write_) {
    OnWritable(ctx);
  }
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
      QueueResume(ctx);
      return;
    }
    bool sendfile_next = false;
    int count = GatherIovecs(ctx.pool, iov, &sendfile_next);
    ssize_t n = 0;
    if (count > 0) {
      // MSG_MORE holds a head back for the file bytes sendfile() adds, so
      // that a small response still leaves in one segment.
      n = stream_->Send(iov, TrimIovecs(iov, count, turn_left), sendfile_next);
    } else if (sendfile_next) {
      n = SendfileCached(turn_left);
    } else {
      break;
    }
    if (n < 0) {
      if (n == -EINTR) continue;
      if (n == -EAGAIN) {
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
  return stream_->SendFile(cached_body_->fd(), &offset,
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
  ReleaseScratch();
  if (input_capacity_ > kInitialInput && input_length_ <= kInitialInput) {
    // A large head grew the buffer: give it back.
    auto small = std::make_unique_for_overwrite<char[]>(kInitialInput);
    std::memcpy(small.get(), input_.get(), input_length_);
    input_ = std::move(small);
    input_capacity_ = kInitialInput;
  }
  state_ = State::kReadingRequest;
  deadline_ms_ =
      ctx.now_ms + (input_length_ > 0 ? ctx.config.header_timeout.count()
                                      : ctx.config.idle_timeout.count());
  // Called from ReadRequests (a response that completed at once), its loop
  // reads on; otherwise the next pipelined request starts here.
  if (!reading_requests_) OnReadable(ctx);
}

}  // namespace ferry

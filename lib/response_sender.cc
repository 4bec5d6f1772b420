#include "response_sender.h"

#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

namespace ferry {
namespace {

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

void ResponseSender::Start(BodySource& body) {
  body_ = &body;
  head_length_ = layout_.text.find("\r\n\r\n") + 4;
  sent_ = 0;
  piece_index_ = 0;
  piece_done_ = 0;
  SelectFilePiece(0);
}

void ResponseSender::SwitchBody(BodySource& body) {
  body_ = &body;
  SelectFilePiece(piece_index_);
}

void ResponseSender::SelectFilePiece(std::size_t from) {
  file_piece_ = from;
  while (file_piece_ < layout_.pieces.size() &&
         layout_.pieces[file_piece_].kind != Piece::Kind::kFile) {
    ++file_piece_;
  }
  if (file_piece_ < layout_.pieces.size()) {
    const Piece& piece = layout_.pieces[file_piece_];
    body_->Select(piece.offset, piece.offset + piece.length);
  }
}

// Gathers what goes out next by sendmsg(). Stops before file bytes that
// leave by sendfile() (when `sendfile_ok`: the stream sends files), and
// says so in `sendfile_next`.
int ResponseSender::Gather(iovec* iov, bool sendfile_ok, bool* sendfile_next) {
  *sendfile_next = false;
  int n = 0;
  // Text (the head, a part head) waits for the file bytes that follow it,
  // so that a small response leaves in one sendmsg and one segment.
  bool gathered_file_bytes = false;
  for (std::size_t p = piece_index_;
       p < layout_.pieces.size() && n < kMaxIovecs; ++p) {
    const Piece& piece = layout_.pieces[p];
    std::uint64_t position =
        piece.offset + (p == piece_index_ ? piece_done_ : 0);
    std::uint64_t end = piece.offset + piece.length;
    if (piece.kind == Piece::Kind::kText) {
      iov[n++] = {const_cast<char*>(layout_.text.data()) + position,
                  end - position};
      continue;
    }
    if (p != file_piece_ && !body_->ServesAnyRange()) break;  // not read yet
    if (sendfile_ok && body_->SendfileFd(position, end) >= 0) {
      *sendfile_next = true;
      break;
    }
    bool complete = false;
    int added =
        body_->Gather(position, end, iov + n, kMaxIovecs - n, &complete);
    n += added;
    gathered_file_bytes = gathered_file_bytes || added > 0;
    if (!complete) return gathered_file_bytes ? n : 0;
  }
  return n;
}

ResponseSender::Turn ResponseSender::SendTurn(ByteStream& stream,
                                              std::uint64_t budget) {
  iovec iov[kMaxIovecs];
  std::uint64_t turn_sent = 0;
  for (;;) {
    if (done()) {
      // What the stream still holds goes out before the response is done.
      const ssize_t flushed = stream.Flush();
      if (flushed == 0) return {Status::kDone, turn_sent};
      if (flushed == -EINTR) continue;
      return {flushed == -EAGAIN ? Status::kBlocked : Status::kFailed,
              turn_sent};
    }
    if (turn_sent >= budget) return {Status::kYielded, turn_sent};
    std::uint64_t left = budget - turn_sent;
    bool sendfile_next = false;
    int count = Gather(iov, stream.SendsFiles(), &sendfile_next);
    ssize_t n = 0;
    if (count > 0) {
      // MSG_MORE holds a head back for the file bytes sendfile() adds, so
      // that a small response still leaves in one segment.
      n = stream.Send(iov, TrimIovecs(iov, count, left), sendfile_next);
    } else if (sendfile_next) {
      const Piece& piece = layout_.pieces[piece_index_];
      std::uint64_t position = piece.offset + piece_done_;
      off_t offset = static_cast<off_t>(position);
      n = stream.SendFile(
          body_->SendfileFd(position, piece.offset + piece.length), &offset,
          std::min(left, piece.length - piece_done_));
      if (n == 0) return {Status::kShrank, turn_sent};
    } else {
      return {Status::kWaiting, turn_sent};
    }
    if (n < 0) {
      if (n == -EINTR) continue;
      return {n == -EAGAIN ? Status::kBlocked : Status::kFailed, turn_sent};
    }
    turn_sent += static_cast<std::uint64_t>(n);
    sent_ += static_cast<std::uint64_t>(n);
    Consume(static_cast<std::uint64_t>(n));
  }
}

void ResponseSender::Consume(std::uint64_t bytes) {
  while (bytes > 0 && !done()) {
    const Piece& piece = layout_.pieces[piece_index_];
    std::uint64_t take = std::min(bytes, piece.length - piece_done_);
    piece_done_ += take;
    bytes -= take;
    if (piece.kind == Piece::Kind::kFile)
      body_->Sent(piece.offset + piece_done_);
    if (piece_done_ == piece.length) {
      ++piece_index_;
      piece_done_ = 0;
      if (piece.kind == Piece::Kind::kFile) SelectFilePiece(piece_index_);
    }
  }
}

void ResponseSender::ReleaseScratch() {
  if (layout_.text.capacity() > kKeptTextBytes) {
    std::string().swap(layout_.text);
  }
  if (layout_.pieces.capacity() > kKeptPieces) {
    std::vector<Piece>().swap(layout_.pieces);
  }
  if (layout_.range.ranges.capacity() > kKeptPieces) {
    std::vector<ByteRange>().swap(layout_.range.ranges);
  }
  if (layout_.range.scratch.capacity() > kKeptPieces) {
    std::vector<ByteRange>().swap(layout_.range.scratch);
  }
}

}  // namespace ferry

#pragma once
// The socket side of a response: its head and pieces go out in order
// through a ByteStream, the file's bytes gathered from a BodySource, at
// most a turn's budget at a time. It knows no file.

#include <sys/uio.h>

#include <cstdint>

#include "body_source.h"
#include "byte_stream.h"
#include "http_response.h"

namespace ferry {

class ResponseSender {
 public:
  /// How a turn ended.
  enum class Status {
    kDone,     ///< every piece went out
    kBlocked,  ///< the socket is full: its next POLL_OUT signal resumes
    kWaiting,  ///< the next bytes are still being read
    kYielded,  ///< the turn's budget is spent; more is ready to go
    kFailed,   ///< the socket failed (the client went away)
    kShrank,   ///< sendfile() met the file's end early: it was truncated
  };
  struct Turn {
    Status status;
    std::uint64_t bytes;  ///< sent in this turn
  };

  /// The response to send; BuildFileResponse and BuildStatusResponse fill
  /// it before Start().
  ResponseLayout& layout() { return layout_; }
  const ResponseLayout& layout() const { return layout_; }

  /// Starts sending layout() with the file bytes from `body` (selects its
  /// first file piece).
  void Start(BodySource& body);
  /// Sends the rest of the response's file bytes from `body` instead: the
  /// same bytes from elsewhere (a file that became hot while it was read
  /// from the disk). What went out is the sender's to know, not the body's.
  void SwitchBody(BodySource& body);
  /// Sends until done, blocked, waiting for bytes or `budget` bytes sent.
  Turn SendTurn(ByteStream& stream, std::uint64_t budget);

  bool done() const { return piece_index_ >= layout_.pieces.size(); }
  std::uint64_t sent() const { return sent_; }
  /// Body bytes sent (for the access log).
  std::uint64_t body_sent() const {
    return sent_ > head_length_ ? sent_ - head_length_ : 0;
  }

  /// Gives back what a large response made the layout's buffers grow to,
  /// so that one hostile request does not pin memory for good.
  void ReleaseScratch();

 private:
  static constexpr int kMaxIovecs = 64;
  static constexpr std::size_t kKeptTextBytes = 4096;
  static constexpr std::size_t kKeptPieces = 64;

  int Gather(iovec* iov, bool sendfile_ok, bool* sendfile_next);
  void Consume(std::uint64_t bytes);
  void SelectFilePiece(std::size_t from);

  ResponseLayout layout_;
  BodySource* body_ = nullptr;
  std::uint64_t head_length_ = 0;  ///< bytes of the response head
  std::uint64_t sent_ = 0;         ///< bytes of the response sent
  std::size_t piece_index_ = 0;    ///< the piece being sent
  std::uint64_t piece_done_ = 0;   ///< bytes of it sent
  std::size_t file_piece_ = 0;     ///< the file piece the body selected
};

}  // namespace ferry

#pragma once
// A TLS server connection (OpenSSL 3) over a non-blocking socket, as one
// more ByteStream: the handshake runs inside the first receives, in the
// loop, each call returning at once.

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "byte_stream.h"

namespace ferry {

/// One client's TLS session over a socket owned by someone else.
///
/// Receive() fills its buffer until the socket has no more (or the buffer
/// is full): a short read means OpenSSL wanted socket bytes, so no
/// decrypted byte waits in OpenSSL (SSL_pending) that no socket signal
/// would announce. Send() takes at most one record's bytes and owns them
/// from then on, as a socket's send buffer would: a record the socket had
/// no room for waits in the stream, and Flush() (which the sender calls at
/// the end of a response) sends it. No call ever blocks; a handshake
/// message or record the other way round can make a receive wait for
/// POLLOUT, or a send for POLLIN: WaitsForOtherDirection() says so.
class TlsStream final : public ByteStream {
 public:
  TlsStream() = default;
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  /// Starts a server session on `fd` with `ctx`. Returns 0 or -ENOMEM.
  int Attach(int fd, SSL_CTX* ctx);
  /// Frees the session, before its socket closes (no alert is sent).
  void Release();
  /// The handshake completed, resuming an earlier session.
  bool Resumed() const;
  /// The kernel seals this connection's records (kTLS took the send side).
  bool KernelSeals() const;

  ssize_t Receive(char* buffer, std::size_t length) override;
  ssize_t Send(const iovec* iov, std::size_t count, bool more) override;
  /// -EOPNOTSUPP: SendsFiles() is false, the bytes go through Send().
  ssize_t SendFile(int file, off_t* offset, std::size_t length) override;
  bool SendsFiles() const override { return false; }
  ssize_t Flush() override;
  bool WaitsForOtherDirection() const override { return other_direction_; }
  /// Sends close_notify (when the socket has room: best effort), then
  /// shuts the socket's write side.
  void ShutdownWrite() override;
  std::uint64_t Unacknowledged() const override;
  void ResetOnClose() override;

  /// The most plaintext one record carries (TLS: 2^14).
  static constexpr std::size_t kRecordBytes = 16384;

 private:
  ssize_t Failure(int result, bool sending);

  SSL* ssl_ = nullptr;
  SocketStream socket_;
  /// Bytes Send() took that have not gone into a record yet.
  std::unique_ptr<char[]> staged_;
  std::size_t staged_length_ = 0;
  /// An error met after a receive's first bytes: the next receive's.
  std::optional<ssize_t> deferred_;
  bool other_direction_ = false;
};

}  // namespace ferry

#pragma once
// The byte stream a connection talks through: every receive and send of the
// serving code goes through this one small interface, so that TLS is one
// more implementation of it rather than edits across the serving code.

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace ferry {

/// One client's bytes, both ways. Non-blocking: every call returns at once
/// with a byte count or a negative errno (-EAGAIN: wait for the socket's
/// next signal; -EINTR: call again). Receive() returns 0 at the end of the
/// client's input; one that returns fewer bytes than asked leaves nothing
/// buffered in the stream (the connection then waits for the socket's next
/// signal: bytes a stream kept back would wait forever).
class ByteStream {
 public:
  virtual ~ByteStream() = default;

  virtual ssize_t Receive(char* buffer, std::size_t length) = 0;
  /// Sends from `count` buffers; `more`: further bytes follow at once (a
  /// head waiting for the file bytes sendfile() adds).
  virtual ssize_t Send(const iovec* iov, std::size_t count, bool more) = 0;
  /// Sends `length` bytes of `file` from `*offset`, advancing it.
  /// GOTCHA: sendfile(2) has no MSG_NOSIGNAL: on a socket the client reset,
  /// SocketStream's raises SIGPIPE, which the daemon ignores
  /// (BlockDaemonSignals); a process that does not must do the same.
  virtual ssize_t SendFile(int file, off_t* offset, std::size_t length) = 0;
  /// False when SendFile() cannot be used: the sender gathers the bytes
  /// and calls Send() instead (TLS encrypts them in user space).
  virtual bool SendsFiles() const { return true; }
  /// Sends what Send() took but could not pass on yet; 0 when nothing is
  /// left, -EAGAIN to be called again at the next POLLOUT signal.
  virtual ssize_t Flush() { return 0; }
  /// The last -EAGAIN waits for the other readiness: a receive for POLLOUT,
  /// a send for POLLIN (TLS: a handshake message or record to pass on).
  virtual bool WaitsForOtherDirection() const { return false; }
  /// No more bytes from us; the client's input can still be read.
  virtual void ShutdownWrite() = 0;
  /// Bytes sent that the client has not acknowledged yet.
  virtual std::uint64_t Unacknowledged() const = 0;
  /// Makes the coming close a reset: what was not sent yet is dropped.
  virtual void ResetOnClose() = 0;
};

/// A plain socket (TCP or unix) owned by someone else.
class SocketStream final : public ByteStream {
 public:
  void Attach(int fd) { fd_ = fd; }

  ssize_t Receive(char* buffer, std::size_t length) override;
  ssize_t Send(const iovec* iov, std::size_t count, bool more) override;
  ssize_t SendFile(int file, off_t* offset, std::size_t length) override;
  void ShutdownWrite() override;
  std::uint64_t Unacknowledged() const override;
  void ResetOnClose() override;

 private:
  int fd_ = -1;
};

}  // namespace ferry

#include "tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ferry {

TlsStream::~TlsStream() { Release(); }

int TlsStream::Attach(int fd, SSL_CTX* ctx) {
  Release();
  socket_.Attach(fd);
  ssl_ = SSL_new(ctx);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd) != 1) {
    ERR_clear_error();
    Release();
    return -ENOMEM;
  }
  // GOTCHA: OpenSSL's socket BIO writes with write(2), no MSG_NOSIGNAL:
  // a client that reset raises SIGPIPE, which the daemon ignores
  // (BlockDaemonSignals), as for sendfile().
  SSL_set_accept_state(ssl_);
  return 0;
}

void TlsStream::Release() {
  SSL_free(ssl_);
  ssl_ = nullptr;
  staged_.reset();
  staged_length_ = 0;
  deferred_.reset();
  other_direction_ = false;
}

bool TlsStream::Resumed() const {
  return ssl_ != nullptr && SSL_session_reused(ssl_) == 1;
}

bool TlsStream::KernelSeals() const {
  return ssl_ != nullptr && BIO_get_ktls_send(SSL_get_wbio(ssl_)) == 1;
}

// What an OpenSSL call that did not succeed means for the caller: -EAGAIN
// (and which readiness it waits for), 0 at the client's end of input, or
// a negative errno for a failed session.
ssize_t TlsStream::Failure(int result, bool sending) {
  const int error = SSL_get_error(ssl_, result);
  const int saved_errno = errno;
  ERR_clear_error();
  other_direction_ = false;
  switch (error) {
    case SSL_ERROR_WANT_READ:
      other_direction_ = sending;
      return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
      other_direction_ = !sending;
      return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:  // close_notify, or EOF (IGNORE_UNEXPECTED_EOF)
      return sending ? -EPIPE : 0;
    case SSL_ERROR_SYSCALL:
      if (saved_errno == EINTR) return -EINTR;
      if (saved_errno == EAGAIN) return -EAGAIN;
      return saved_errno != 0 ? -saved_errno : (sending ? -EPIPE : 0);
    default:  // a protocol error: garbage, a refused version, a bad MAC
      return -EPROTO;
  }
}

ssize_t TlsStream::Receive(char* buffer, std::size_t length) {
  if (deferred_) {
    const ssize_t result = *deferred_;
    deferred_.reset();
    return result;
  }
  std::size_t total = 0;
  while (total < length) {
    std::size_t n = 0;
    ERR_clear_error();
    errno = 0;
    if (SSL_read_ex(ssl_, buffer + total, length - total, &n) == 1) {
      total += n;
      continue;
    }
    const ssize_t result = Failure(0, /*sending=*/false);
    if (total == 0) return result;
    // Stopped after some bytes: -EAGAIN says the socket is drained; any
    // other end is told by the next call.
    if (result != -EAGAIN) deferred_ = result;
    break;
  }
  return static_cast<ssize_t>(total);
}

ssize_t TlsStream::Send(const iovec* iov, std::size_t count, bool) {
  if (ssize_t flushed = Flush(); flushed < 0) return flushed;
  // At the first response: a client that never asks costs no record.
  if (!staged_) staged_ = std::make_unique<char[]>(kRecordBytes);
  std::size_t length = 0;
  for (std::size_t i = 0; i < count && length < kRecordBytes; ++i) {
    const std::size_t take = std::min(iov[i].iov_len, kRecordBytes - length);
    std::memcpy(staged_.get() + length, iov[i].iov_base, take);
    length += take;
  }
  staged_length_ = length;
  const ssize_t flushed = Flush();
  // Taken: they are ours now, sent or waiting in staged_ for room.
  if (flushed == 0 || flushed == -EAGAIN) return static_cast<ssize_t>(length);
  return flushed;
}

ssize_t TlsStream::Flush() {
  if (staged_length_ == 0) return 0;
  std::size_t written = 0;
  ERR_clear_error();
  errno = 0;
  // A retry after WANT_WRITE passes the same bytes again, as SSL_write
  // requires.
  if (SSL_write_ex(ssl_, staged_.get(), staged_length_, &written) == 1) {
    staged_length_ = 0;
    other_direction_ = false;
    return 0;
  }
  return Failure(0, /*sending=*/true);
}

ssize_t TlsStream::SendFile(int, off_t*, std::size_t) { return -EOPNOTSUPP; }

void TlsStream::ShutdownWrite() {
  if (ssl_ != nullptr && SSL_is_init_finished(ssl_) == 1) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // our close_notify; not waiting for the client's
    ERR_clear_error();
  }
  socket_.ShutdownWrite();
}

std::uint64_t TlsStream::Unacknowledged() const {
  return socket_.Unacknowledged() + staged_length_;
}

void TlsStream::ResetOnClose() { socket_.ResetOnClose(); }

}  // namespace ferry

#include "byte_stream.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <cerrno>

namespace ferry {
namespace {

ssize_t ResultOf(ssize_t n) { return n < 0 ? -errno : n; }

}  // namespace

ssize_t SocketStream::Receive(char* buffer, std::size_t length) {
  return ResultOf(recv(fd_, buffer, length, 0));
}

ssize_t SocketStream::Send(const iovec* iov, std::size_t count, bool more) {
  msghdr message{};
  message.msg_iov = const_cast<iovec*>(iov);
  message.msg_iovlen = count;
  return ResultOf(sendmsg(fd_, &message, MSG_NOSIGNAL | (more ? MSG_MORE : 0)));
}

ssize_t SocketStream::SendFile(int file, off_t* offset, std::size_t length) {
  return ResultOf(sendfile(fd_, file, offset, length));
}

void SocketStream::ShutdownWrite() { shutdown(fd_, SHUT_WR); }

std::uint64_t SocketStream::Unacknowledged() const {
  int unsent = 0;  // SIOCOUTQ: sent, not yet acknowledged (TCP)
  if (ioctl(fd_, SIOCOUTQ, &unsent) < 0 || unsent < 0) return 0;
  return static_cast<std::uint64_t>(unsent);
}

void SocketStream::ResetOnClose() {
  linger abort{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
}

}  // namespace ferry

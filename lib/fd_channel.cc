#include "fd_channel.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "system_error.h"

namespace ferry {

FdChannel FdChannel::Make() {
  int pair[2];
  CheckCall(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       0, pair),
            "socketpair", "fd channel");
  return {UniqueFd(pair[0]), UniqueFd(pair[1])};
}

namespace {

/// One byte of payload and room for one descriptor: the unit both ends use.
struct FdMessage {
  char payload = 'f';
  iovec iov{&payload, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};

  FdMessage() {
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;
};

}  // namespace

int SendFd(int channel, int fd) {
  FdMessage fdm;
  msghdr& message = fdm.message;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  for (;;) {
    if (sendmsg(channel, &message, MSG_NOSIGNAL) == 1) return 0;
    if (errno != EINTR) return -errno;
  }
}

UniqueFd ReceiveFd(int channel, int* error) {
  FdMessage fdm;
  msghdr& message = fdm.message;
  ssize_t n;
  do {
    n = recvmsg(channel, &message, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    *error = -errno;
    return UniqueFd();
  }
  if (n == 0) {
    *error = -EPIPE;
    return UniqueFd();
  }
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  if (header == nullptr || header->cmsg_type != SCM_RIGHTS) {
    *error = -EBADMSG;
    return UniqueFd();
  }
  int fd;
  std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  *error = 0;
  return UniqueFd(fd);
}

}  // namespace ferry

#include "acceptor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "log.h"
#include "signals.h"

namespace ferry {

Acceptor::Acceptor(std::vector<WorkerListener> listeners, EventLoop& loop,
                   pid_t tid, std::uint64_t own_tag)
    : listeners_(std::move(listeners)), loop_(loop), own_tag_(own_tag) {
  for (WorkerListener& listener : listeners_) {
    if (listener.shared) continue;
    ArmSocketSignals(listener.fd.get(), SocketSignal(), tid);
    loop_.Map(listener.fd.get(), own_tag_);
  }
  WatchShared(true);
}

void Acceptor::WatchShared(bool watch) {
  for (WorkerListener& listener : listeners_) {
    int fd = listener.fd.get();
    if (!listener.shared || fd < 0) continue;
    if (watch) {
      // Every worker waits on a shared socket; EPOLLEXCLUSIVE wakes one.
      loop_.Watch(fd, static_cast<std::uint64_t>(fd), EPOLLIN | EPOLLEXCLUSIVE);
    } else {
      loop_.Unwatch(fd);  // before we close our copy: see Unwatch()
    }
  }
}

void Acceptor::AcceptAll(int listener, Sink& sink) {
  if (stopped_ || paused_) return;
  bool proxy_protocol = false;
  bool tls = false;
  for (const WorkerListener& mine : listeners_) {
    if (mine.fd.get() == listener) {
      proxy_protocol = mine.proxy_protocol;
      tls = mine.tls;
    }
  }
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    int fd = accept4(listener, reinterpret_cast<sockaddr*>(&peer), &peer_length,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      sink.OnAccepted(UniqueFd(fd), peer, proxy_protocol, tls);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN) return;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
        errno == ENOMEM) {
      Log(LogLevel::kWarning, "accept: %s; retrying on the next tick",
          std::strerror(errno));
      paused_ = true;
      WatchShared(false);
      return;
    }
    Log(LogLevel::kError, "accept: %s", std::strerror(errno));
    return;
  }
}

void Acceptor::AcceptEverywhere(Sink& sink) {
  for (WorkerListener& listener : listeners_) {
    AcceptAll(listener.fd.get(), sink);
  }
}

void Acceptor::OnTick(Sink& sink) {
  if (!paused_ || stopped_) return;
  paused_ = false;
  WatchShared(true);
  AcceptEverywhere(sink);
}

void Acceptor::Stop() {
  if (stopped_) return;
  if (!paused_) WatchShared(false);
  stopped_ = true;
  for (WorkerListener& listener : listeners_) {
    loop_.Unmap(listener.fd.get(), own_tag_);
    listener.fd.Reset();  // our copy; the master still holds the socket
  }
}

}  // namespace ferry

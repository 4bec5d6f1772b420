#include "aio_context.h"

#include <libaio.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <type_traits>

#include "system_error.h"

namespace ferry {

static_assert(sizeof(iocb) == 64, "struct iocb is part of the kernel ABI");
static_assert(std::is_standard_layout_v<AioRead>);

iocb* AioRead::raw() { return reinterpret_cast<iocb*>(iocb_); }

AioRead* AioRead::FromRaw(iocb* cb) { return reinterpret_cast<AioRead*>(cb); }

void AioRead::Prepare(int fd, void* buffer, std::size_t length,
                      std::uint64_t offset, std::uint64_t token, bool nowait) {
  // GOTCHA: io_prep_pread() memsets the iocb, which also clears the
  // eventfd flag; the context sets it again when the read is queued.
  io_prep_pread(raw(), fd, buffer, length, static_cast<long long>(offset));
  raw()->aio_rw_flags = nowait ? RWF_NOWAIT : 0;
  // The kernel hands iocb.data back untouched: it carries the token, and
  // is never dereferenced.
  raw()->data =
      reinterpret_cast<void*>(token);  // NOLINT(performance-no-int-to-ptr)
}

std::uint64_t AioRead::token() const {
  return reinterpret_cast<std::uint64_t>(
      reinterpret_cast<const iocb*>(iocb_)->data);
}

bool AioRead::nowait() const {
  return (reinterpret_cast<const iocb*>(iocb_)->aio_rw_flags & RWF_NOWAIT) != 0;
}

AioContext::AioContext(unsigned depth) : depth_(depth) {
  int error = io_setup(static_cast<int>(depth), &context_);
  if (error == -EAGAIN || error == -EINVAL) {
    // EAGAIN: the system-wide fs.aio-max-nr is used up; EINVAL: more events
    // than the kernel allows at all.
    ThrowSystemError(-error, "io_setup",
                     std::to_string(depth) +
                         " events: lower --queue-depth or raise the sysctl "
                         "fs.aio-max-nr");
  }
  if (error < 0) ThrowSystemError(-error, "io_setup", std::to_string(depth));
  event_fd_.Reset(static_cast<int>(
      CheckCall(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd", "aio")));
  queued_.reserve(depth);
  rejected_.reserve(depth);
}

AioContext::~AioContext() {
  // io_destroy waits for reads in flight; they are few and short.
  if (context_ != nullptr) io_destroy(context_);
}

void AioContext::Submit() {
  for (iocb* cb : queued_) io_set_eventfd(cb, event_fd_.get());
  std::size_t done = 0;
  while (done < queued_.size()) {
    int n = io_submit(context_, static_cast<long>(queued_.size() - done),
                      queued_.data() + done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      in_flight_ += static_cast<unsigned>(n);
      continue;
    }
    if (n == -EAGAIN || n == -EINTR) break;  // ring full: reap, then retry
    // The first iocb was refused (-EBADF, -EINVAL, ...): it completes with
    // that error; carry on with the rest.
    rejected_.push_back({AioRead::FromRaw(queued_[done]), n});
    ++done;
  }
  queued_.erase(queued_.begin(), queued_.begin() + static_cast<long>(done));
}

bool AioContext::Unqueue(AioRead* read) {
  auto found = std::find(queued_.begin(), queued_.end(), read->raw());
  if (found == queued_.end()) return false;
  queued_.erase(found);
  return true;
}

void AioContext::Reap(std::vector<AioCompletion>* out) {
  out->clear();
  std::uint64_t ignored;
  // The eventfd only wakes the loop; the events themselves say what is done.
  while (::read(event_fd_.get(), &ignored, sizeof ignored) > 0) {
  }
  for (const AioCompletion& rejected : rejected_) out->push_back(rejected);
  rejected_.clear();
  constexpr long kBatch = 64;
  io_event events[kBatch];
  timespec no_wait{0, 0};
  while (in_flight_ > 0) {
    int n = io_getevents(context_, 0, kBatch, events, &no_wait);
    if (n == -EINTR) continue;
    if (n < 0) ThrowSystemError(-n, "io_getevents");
    for (int i = 0; i < n; ++i) {
      long result = static_cast<long>(events[i].res);
      if (inject_count_ > 0) {
        --inject_count_;
        result = inject_error_;
      }
      out->push_back({AioRead::FromRaw(events[i].obj), result});
    }
    in_flight_ -= static_cast<unsigned>(n);
    if (n < kBatch) break;
  }
}

long ReadOnceAndWait(int fd, void* buffer, std::size_t length) {
  io_context_t context = nullptr;
  int error = io_setup(1, &context);
  if (error < 0) return error;
  iocb cb{};
  io_prep_pread(&cb, fd, buffer, length, 0);
  iocb* list[1] = {&cb};
  long result = io_submit(context, 1, list);
  if (result == 1) {
    io_event event{};
    do {
      result = io_getevents(context, 1, 1, &event, nullptr);
    } while (result == -EINTR);
    if (result == 1) result = static_cast<long>(event.res);
  }
  io_destroy(context);
  return result;
}

}  // namespace ferry

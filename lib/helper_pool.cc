#include "helper_pool.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "buffer_pool.h"
#include "hot_files.h"
#include "memory_lock.h"
#include "signals.h"

namespace ferry {

HelperPool::HelperPool(unsigned threads, const DocumentRoot& root,
                       pid_t loop_tid)
    : root_(root), loop_pid_(getpid()), loop_tid_(loop_tid) {
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) {
    threads_.push_back(StartBesideLoop("ferry-helper", [this] { Run(); }));
  }
}

HelperPool::~HelperPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void HelperPool::Submit(HelperJob job) {
  ++outstanding_;
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void HelperPool::TakeCompleted(std::vector<HelperJob>* out) {
  out->clear();
  if (!has_completed_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(mutex_);
  out->swap(completed_);
  has_completed_.store(false, std::memory_order_relaxed);
  outstanding_ -= out->size();
}

void HelperPool::Run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (stopping_) return;
    HelperJob job = std::move(pending_.front());
    pending_.pop_front();
    lock.unlock();
    Perform(job);
    lock.lock();
    bool was_empty = completed_.empty();
    completed_.push_back(std::move(job));
    has_completed_.store(true, std::memory_order_release);
    // The loop empties the whole queue each time it looks, so one ring per
    // empty -> non-empty transition is enough.
    if (was_empty) syscall(SYS_tgkill, loop_pid_, loop_tid_, kDoorbellSignal);
  }
}

void HelperPool::Perform(HelperJob& job) const {
  switch (job.kind) {
    case HelperJob::Kind::kOpen:
      job.opened = root_.Open(job.path, /*cached_only=*/false);
      break;
    case HelperJob::Kind::kRead: {
      ssize_t n;
      do {
        n = pread(job.fd.get(), job.buffer, job.length,
                  static_cast<off_t>(job.offset));
      } while (n < 0 && errno == EINTR);
      job.result = n >= 0 ? n : -errno;
      job.fd.Reset();
      break;
    }
    case HelperJob::Kind::kLoadBlockMap:
      job.result = LoadBlockMap(job.fd.get());
      job.extents.Load(job.fd.get());  // without one, reads stay whole
      job.fd.Reset();
      break;
    case HelperJob::Kind::kPopulate:
      job.result = MakePresent(job.buffer, job.length);
      break;
    case HelperJob::Kind::kPin: {
      void* mapping = nullptr;
      job.result =
          PinFile(root_, job.path, job.opened.status, &job.opened.fd, &mapping);
      job.buffer = static_cast<char*>(mapping);
      job.length = job.opened.status.size;
      break;
    }
    case HelperJob::Kind::kUnpin:
      UnpinFile(std::move(job.fd), job.buffer, job.length);
      break;
    case HelperJob::Kind::kList: {
      std::vector<ListingEntry> entries;
      job.result =
          ReadDirectory(job.fd.get(), root_, job.path, *job.rules, &entries);
      job.fd.Reset();
      if (job.result == 0) {
        job.listing = RenderListing(entries, job.query, job.path,
                                    job.opened.status.mtime_sec,
                                    job.opened.status.mtime_nsec);
        // The page as the loop serves it, made here: the loop copies
        // nothing.
        job.page =
            CachedBytes::Copy(job.listing.body.data(), job.listing.body.size(),
                              /*memory_file=*/false);
        job.listing.body = std::string();
      }
      break;
    }
  }
}

}  // namespace ferry

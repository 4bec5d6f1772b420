#include "read_window.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "log.h"

namespace ferry {

void ReadWindow::Resize(std::size_t slots) {
  if (capacity_ == slots) return;
  capacity_ = slots;
  slots_ = std::make_unique<Slot[]>(capacity_);
  head_ = 0;
  count_ = 0;
}

void ReadWindow::Open(UniqueFd file, std::uint64_t owner, std::uint32_t align,
                      bool load_block_map, ReadServices& services) {
  services_ = &services;
  file_ = std::move(file);
  owner_ = owner;
  align_ = align;
  block_map_ = load_block_map ? BlockMap::kToLoad : BlockMap::kInMemory;
  end_ = 0;
  sent_ = 0;
  next_ = 0;
  head_ = 0;
  count_ = 0;
}

void ReadWindow::Close() {
  for (std::size_t i = 0; i < count_; ++i) {
    const Slot& slot = SlotAt(i);
    if (slot.got >= 0 ||
        services_->aio.Unqueue(&services_->reads.Of(slot.block))) {
      services_->pool.Release(slot.block);
    }
  }
  count_ = 0;
  head_ = 0;
  file_.Reset();
  block_map_ = BlockMap::kInMemory;
  extents_ = ExtentMap();
  // Its owner's token may still be in the waiting queue: served, it finds
  // nothing to read.
  waiting_ = false;
}

std::uint64_t ReadWindow::AlignDown(std::uint64_t offset) const {
  std::uint64_t align = align_ != 0 ? align_ : 1;
  return offset / align * align;
}

void ReadWindow::Select(std::uint64_t begin, std::uint64_t end) {
  end_ = end;
  sent_ = begin;
  next_ = AlignDown(begin);
  Fill();
}

void ReadWindow::Fill() {
  if (!is_open()) return;
  // Only with something to read: a HEAD or a 304 reads nothing, and a load
  // still running when its response ends would hand its extents to the
  // next file this window reads.
  if (block_map_ == BlockMap::kToLoad && next_ < end_) {
    block_map_ = BlockMap::kLoading;
    services_->helpers.Submit(FileJob(HelperJob::Kind::kLoadBlockMap));
  }
  if (block_map_ == BlockMap::kLoading) return;  // OnBlockMapLoaded resumes
  ReadServices& io = *services_;
  while (next_ < end_ && count_ < capacity_) {
    bool direct = align_ != 0;
    if (io.pool.free_count() == 0 || (direct && io.aio.Capacity() == 0)) {
      if (!waiting_) {
        waiting_ = true;
        io.reclaim_wanted = true;
        io.waiting.push_back(owner_);
      }
      return;
    }
    std::uint64_t length =
        std::min<std::uint64_t>(io.pool.block_size(), end_ - next_);
    if (direct) {
      // O_DIRECT wants whole aligned blocks; the bytes past `end_` that the
      // rounding adds are read but never sent.
      length = (length + align_ - 1) / align_ * align_;
      length = extents_.OneRequest(next_, length, io.max_request_bytes);
    }
    IssueRead(length);
  }
}

// A helper job on the file, for the owner. The job owns a dup of the
// descriptor, since ours may close before the job runs; if dup() fails the
// helper's call fails on -1 (EBADF) and the job reports that.
HelperJob ReadWindow::FileJob(HelperJob::Kind kind) const {
  HelperJob job;
  job.kind = kind;
  job.token = owner_;
  job.fd.Reset(dup(file_.get()));
  return job;
}

void ReadWindow::OnBlockMapLoaded(ExtentMap extents) {
  if (block_map_ != BlockMap::kLoading) return;
  extents_ = std::move(extents);
  // Whatever the outcome: without the map loaded, reads still work; they
  // may just wait inside io_submit().
  block_map_ = BlockMap::kInMemory;
  Fill();
}

void ReadWindow::OnBlockAvailable() {
  waiting_ = false;
  Fill();
}

void ReadWindow::IssueRead(std::uint64_t length) {
  Slot& slot = SlotAt(count_);
  slot.block = services_->pool.Acquire();
  slot.offset = next_;
  slot.length = length;
  slot.got = -1;
  ++count_;
  next_ += length;
  if (align_ == 0) {
    SubmitToHelper(slot);
  } else {
    SubmitRead(slot);
  }
}

void ReadWindow::SubmitRead(const Slot& slot) {
  ReadServices& io = *services_;
  AioRead& read = io.reads.Of(slot.block);
  read.Prepare(file_.get(), io.pool.Data(slot.block), slot.length, slot.offset,
               owner_, io.nowait_reads);
  io.aio.Queue(&read);
  Bump(io.counters.aio_reads);
}

void ReadWindow::SubmitToHelper(const Slot& slot) {
  HelperJob job = FileJob(HelperJob::Kind::kRead);
  job.buffer = services_->pool.Data(slot.block);
  job.length = slot.length;
  job.offset = slot.offset;
  job.block = slot.block;
  services_->helpers.Submit(std::move(job));
}

ReadWindow::ReadDone ReadWindow::OnReadDone(std::uint32_t block, long result) {
  ReadServices& io = *services_;
  std::size_t i = 0;
  while (i < count_ && SlotAt(i).block != block) ++i;
  if (i == count_ || SlotAt(i).got != -1) {
    io.pool.Release(block);  // not ours any more (cannot happen; be safe)
    return {ReadOutcome::kUnknown, 0};
  }
  Slot& slot = SlotAt(i);
  if (result == -EAGAIN) {
    // RWF_NOWAIT: the data is not cached and reading it would block.
    Bump(io.counters.aio_eagain);
    SubmitToHelper(slot);
    return {ReadOutcome::kPending, slot.offset};
  }
  if (result == -EOPNOTSUPP && io.reads.Of(block).nowait()) {
    // The file system cannot do RWF_NOWAIT (overlayfs, for one): stop
    // asking, and read this again without.
    if (io.nowait_reads) {
      Log(LogLevel::kNotice,
          "RWF_NOWAIT is not supported here; reading without");
      io.nowait_reads = false;
    }
    SubmitRead(slot);
    return {ReadOutcome::kPending, slot.offset};
  }
  if (result < 0) {
    Bump(io.counters.aio_errors);
    slot.got = 0;
    return {ReadOutcome::kFailed, slot.offset};
  }
  slot.got = result;
  std::uint64_t needed = std::min(slot.offset + slot.length, end_);
  if (slot.offset + static_cast<std::uint64_t>(result) < needed) {
    return {ReadOutcome::kShrank, slot.offset};
  }
  return {ReadOutcome::kReady, slot.offset};
}

const char* ReadWindow::WholeFile(std::uint64_t size) const {
  if (count_ == 0) return nullptr;
  const Slot& first = SlotAt(0);
  if (first.offset != 0 || first.got < 0 ||
      static_cast<std::uint64_t>(first.got) < size) {
    return nullptr;
  }
  return services_->pool.Data(first.block);
}

int ReadWindow::Gather(std::uint64_t position, std::uint64_t end, iovec* iov,
                       int max, bool* complete) {
  int n = 0;
  for (std::size_t i = 0; i < count_ && n < max; ++i) {
    const Slot& slot = SlotAt(i);
    if (slot.got < 0) break;
    std::uint64_t wanted_end = std::min(slot.offset + slot.length, end);
    // A short (or failed) read filled less: what follows is not contiguous.
    std::uint64_t filled_end = std::min(
        wanted_end, slot.offset + static_cast<std::uint64_t>(slot.got));
    if (filled_end > position) {
      iov[n++] = {services_->pool.Data(slot.block) + (position - slot.offset),
                  filled_end - position};
      position = filled_end;
    }
    if (filled_end < wanted_end) break;
  }
  *complete = position >= end;
  return n;
}

void ReadWindow::Sent(std::uint64_t position) {
  sent_ = position;
  while (count_ > 0) {
    Slot& first = SlotAt(0);
    if (first.got < 0 || std::min(first.offset + first.length, end_) > position)
      break;
    services_->pool.Release(first.block);
    head_ = (head_ + 1) % capacity_;
    --count_;
  }
  Fill();
}

std::size_t ReadWindow::Reclaim() {
  if (count_ == 0) return 0;
  for (std::size_t i = 0; i < count_; ++i) {
    if (SlotAt(i).got < 0) return 0;  // the kernel owns that block for now
  }
  std::size_t released = count_;
  for (std::size_t i = 0; i < count_; ++i) {
    services_->pool.Release(SlotAt(i).block);
  }
  count_ = 0;
  head_ = 0;
  next_ = AlignDown(sent_);  // read again from the first byte not sent
  return released;
}

}  // namespace ferry

#include "hot_table.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <new>
#include <system_error>

namespace ferry {

/// One file the table knows, in the shared mapping: plain data, written
/// only under the lock.
struct HotTable::Entry {
  // The file version (SameFileVersion's fields): a file changed or
  // replaced on disk is another entry.
  std::uint64_t device;
  std::uint64_t inode;
  std::uint64_t size;
  std::uint64_t change_ns;
  std::int64_t mtime_sec;
  std::uint32_t mtime_nsec;
  std::uint32_t hits;  ///< copies sent × kCopy, halved every window
  std::int64_t last_ms;
  std::uint32_t holders;  ///< slots that pin its pages
  bool used;
  bool hot;
  bool charged;  ///< its size counts against the budget: hot or held
};

struct HotTable::Header {
  std::atomic<std::uint32_t> lock;
  std::uint64_t budget;
  std::int64_t window_ms;
  unsigned entries;
  unsigned slots;
  std::uint64_t charged;
  std::uint64_t admitted;
  std::uint64_t evicted;
};

namespace {

// Counts are in 1/kCopy of a whole copy of the file.
constexpr std::uint32_t kCopy = 1024;
constexpr std::uint32_t kAdmitHits = 2 * kCopy;  // sent again: hot
constexpr std::uint32_t kCoolHits = kCopy / 2;   // below: no longer hot
// Spins of about 100 ns: a holder's critical section is a scan of the
// table, a microsecond or two; one that is preempted costs us the request.
constexpr int kLockSpins = 2000;

// Only the lock word is atomic; every other field is read and written
// under it.
static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "a lock shared by processes must not be a hidden mutex");

}  // namespace

HotTable::HotTable(std::uint64_t budget, std::int64_t window_ms, unsigned slots,
                   unsigned entries) {
  words_per_slot_ = (entries + 63) / 64;
  const std::size_t header_bytes = (sizeof(Header) + 63) / 64 * 64;
  length_ = header_bytes + sizeof(Entry) * entries +
            sizeof(std::uint64_t) * words_per_slot_ * slots;
  memory_ = mmap(nullptr, length_, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory_ == MAP_FAILED) {
    memory_ = nullptr;
    throw std::system_error(errno, std::generic_category(),
                            "mmap of the hot-file table");
  }
  // Zero-filled by mmap: every entry unused, every holder bit clear.
  char* base = static_cast<char*>(memory_);
  header_ = new (base) Header{};
  header_->budget = budget;
  header_->window_ms = std::max<std::int64_t>(window_ms, 1);
  header_->entries = entries;
  header_->slots = slots;
  entries_ = reinterpret_cast<Entry*>(base + header_bytes);
  holder_bits_ = reinterpret_cast<std::uint64_t*>(base + header_bytes +
                                                  sizeof(Entry) * entries);
}

HotTable::~HotTable() {
  if (memory_ != nullptr) munmap(memory_, length_);
}

// The lock word is the holder's pid, so that a lock whose holder died
// inside the critical section (killed there) is taken over, not waited
// for forever.
bool HotTable::TryLock() const {
  const auto self = static_cast<std::uint32_t>(getpid());
  for (int spin = 0; spin < kLockSpins; ++spin) {
    std::uint32_t expected = 0;
    if (header_->lock.load(std::memory_order_relaxed) == 0 &&
        header_->lock.compare_exchange_weak(expected, self,
                                            std::memory_order_acquire)) {
      return true;
    }
    __builtin_ia32_pause();
  }
  std::uint32_t holder = header_->lock.load(std::memory_order_relaxed);
  return holder != 0 && kill(static_cast<pid_t>(holder), 0) != 0 &&
         errno == ESRCH &&
         header_->lock.compare_exchange_strong(holder, self,
                                               std::memory_order_acquire);
}

void HotTable::Lock() const {
  while (!TryLock()) {
  }
}

void HotTable::Unlock() const {
  header_->lock.store(0, std::memory_order_release);
}

std::uint64_t* HotTable::HolderBits(unsigned slot) const {
  return holder_bits_ + std::size_t{slot} * words_per_slot_;
}

int HotTable::IndexOf(const Entry& entry) const {
  return static_cast<int>(&entry - entries_);
}

void HotTable::Decay(Entry& entry, std::int64_t now_ms) const {
  const std::int64_t windows = (now_ms - entry.last_ms) / header_->window_ms;
  if (windows <= 0) return;
  entry.hits = windows >= 32 ? 0 : entry.hits >> windows;
  entry.last_ms += windows * header_->window_ms;
}

void HotTable::Recharge(Entry& entry) {
  const bool charge = entry.used && (entry.hot || entry.holders > 0);
  if (charge == entry.charged) return;
  entry.charged = charge;
  if (charge) {
    header_->charged += entry.size;
  } else {
    header_->charged -= entry.size;
  }
}

HotTable::Entry* HotTable::FindEntry(const FileStatus& status) {
  for (unsigned i = 0; i < header_->entries; ++i) {
    if (Matches(static_cast<int>(i), status)) return &entries_[i];
  }
  return nullptr;
}

// A free entry, or the ghost asked for longest ago; nullptr when every
// entry is hot or pinned.
HotTable::Entry* HotTable::NewGhost(const FileStatus& status,
                                    std::int64_t now_ms) {
  Entry* chosen = nullptr;
  for (unsigned i = 0; i < header_->entries; ++i) {
    Entry& entry = entries_[i];
    if (!entry.used) {
      chosen = &entry;
      break;
    }
    if (entry.charged) continue;
    if (chosen == nullptr || entry.last_ms < chosen->last_ms) chosen = &entry;
  }
  if (chosen == nullptr) return nullptr;
  *chosen = Entry{status.device,
                  status.inode,
                  status.size,
                  status.change_ns,
                  status.mtime_sec,
                  status.mtime_nsec,
                  0,
                  now_ms,
                  0,
                  true,
                  false,
                  false};
  return chosen;
}

// Makes room for `candidate` by evicting hot entries asked for less often
// (the least recently among equals); admits it when the room is there now.
// Evicted entries still pinned somewhere keep their bytes charged until
// released, so the candidate may have to wait for a later request.
bool HotTable::Admit(Entry& candidate, std::int64_t now_ms) {
  const std::uint64_t need = candidate.size;
  std::uint64_t leaving = 0;  // evicted, still held: free once released
  for (unsigned i = 0; i < header_->entries; ++i) {
    const Entry& entry = entries_[i];
    if (entry.used && entry.charged && !entry.hot) leaving += entry.size;
  }
  while (header_->budget - header_->charged + leaving < need) {
    Entry* victim = nullptr;
    for (unsigned i = 0; i < header_->entries; ++i) {
      Entry& entry = entries_[i];
      if (!entry.used || !entry.hot) continue;
      Decay(entry, now_ms);
      if (victim == nullptr || entry.hits < victim->hits ||
          (entry.hits == victim->hits && entry.last_ms < victim->last_ms)) {
        victim = &entry;
      }
    }
    if (victim == nullptr || victim->hits > candidate.hits) return false;
    Evict(*victim);
    if (victim->charged) leaving += victim->size;
  }
  if (header_->budget - header_->charged < need) return false;
  candidate.hot = true;
  ++header_->admitted;
  Recharge(candidate);
  return true;
}

void HotTable::Evict(Entry& entry) {
  entry.hot = false;
  ++header_->evicted;
  Recharge(entry);
}

// A hot file whose count decayed below half a copy was not sent in several
// windows (more, the more it was sent before): its room goes back.
void HotTable::Cool(std::int64_t now_ms) {
  for (unsigned i = 0; i < header_->entries; ++i) {
    Entry& entry = entries_[i];
    if (!entry.used || !entry.hot) continue;
    Decay(entry, now_ms);
    if (entry.hits < kCoolHits) Evict(entry);
  }
}

int HotTable::Request(const FileStatus& status, std::uint64_t bytes,
                      std::int64_t now_ms) {
  if (status.size == 0 || status.size > header_->budget) return -1;
  if (!TryLock()) return -1;
  Cool(now_ms);
  int result = -1;
  Entry* entry = FindEntry(status);
  if (entry == nullptr) entry = NewGhost(status, now_ms);
  if (entry != nullptr) {
    Decay(*entry, now_ms);
    const std::uint64_t share =
        std::clamp<std::uint64_t>(bytes * kCopy / status.size, 1, kCopy);
    entry->hits = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(entry->hits + share, 1u << 30));
    entry->last_ms = std::max(entry->last_ms, now_ms);
    if (entry->hot || (entry->hits >= kAdmitHits && Admit(*entry, now_ms))) {
      result = IndexOf(*entry);
    }
  }
  Unlock();
  return result;
}

bool HotTable::Matches(int entry, const FileStatus& status) const {
  const Entry& e = entries_[entry];
  return e.used && e.inode == status.inode && e.device == status.device &&
         e.size == status.size && e.change_ns == status.change_ns &&
         e.mtime_sec == status.mtime_sec && e.mtime_nsec == status.mtime_nsec;
}

void HotTable::CoolDown(std::int64_t now_ms) {
  if (!TryLock()) return;  // the next tick, or the next request, does it
  Cool(now_ms);
  Unlock();
}

bool HotTable::Wanted(int entry, const FileStatus& status) const {
  if (!TryLock()) return true;  // asked again at the next tick
  const bool wanted = Matches(entry, status) && entries_[entry].hot;
  Unlock();
  return wanted;
}

void HotTable::Forget(int entry, const FileStatus& status) {
  Lock();
  if (Matches(entry, status) && entries_[entry].hot) Evict(entries_[entry]);
  Unlock();
}

bool HotTable::Hold(int entry, unsigned slot, const FileStatus& status) {
  Lock();
  Entry& e = entries_[entry];
  const bool held = Matches(entry, status) && e.hot;
  std::uint64_t& word = HolderBits(slot)[entry / 64];
  const std::uint64_t bit = std::uint64_t{1} << (entry % 64);
  if (held && (word & bit) == 0) {
    word |= bit;
    ++e.holders;
    Recharge(e);
  }
  Unlock();
  return held;
}

void HotTable::Release(int entry, unsigned slot) {
  Lock();
  std::uint64_t& word = HolderBits(slot)[entry / 64];
  const std::uint64_t bit = std::uint64_t{1} << (entry % 64);
  if ((word & bit) != 0) {
    word &= ~bit;
    --entries_[entry].holders;
    Recharge(entries_[entry]);
  }
  Unlock();
}

void HotTable::ReleaseAll(unsigned slot) {
  for (unsigned word = 0; word < words_per_slot_; ++word) {
    for (unsigned bit = 0; bit < 64; ++bit) {
      const unsigned entry = word * 64 + bit;
      if (entry < header_->entries &&
          (HolderBits(slot)[word] & (std::uint64_t{1} << bit)) != 0) {
        Release(static_cast<int>(entry), slot);
      }
    }
  }
}

std::uint64_t HotTable::budget() const { return header_->budget; }

std::uint64_t HotTable::charged() const {
  Lock();
  const std::uint64_t value = header_->charged;
  Unlock();
  return value;
}

std::uint64_t HotTable::admitted() const {
  Lock();
  const std::uint64_t value = header_->admitted;
  Unlock();
  return value;
}

std::uint64_t HotTable::evicted() const {
  Lock();
  const std::uint64_t value = header_->evicted;
  Unlock();
  return value;
}

}  // namespace ferry

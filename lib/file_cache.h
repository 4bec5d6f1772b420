#pragma once
// The small-file cache: a bounded, per-worker LRU of whole small files'
// bytes, so that a hot file is not read from the device on every request
// (O_DIRECT bypasses the page cache). Big files never enter it, so serving
// them stays page-cache neutral.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "document_root.h"
#include "unique_fd.h"

namespace ferry {

/// A cached file's bytes. From kSendfileMin up they live in a memory file
/// (memfd_create: shmem, not the served file's page cache) and leave by
/// sendfile(), which hands the socket references to its pages instead of
/// copying them; the pages stay valid for as long as the socket holds them,
/// even after the entry is evicted, since nothing writes them again.
/// Smaller files live on the heap and are copied into the socket.
class CachedBytes {
 public:
  /// Measured on loopback, worker CPU per response (wrk, 64 connections):
  /// 1 MiB 270 us copied vs 210-225 us by sendfile(); at 64 KiB and below no
  /// difference, or sendfile() costs more (two calls instead of one). From
  /// 256 KiB up, so at most --file-cache / 256 KiB descriptors per worker.
  static constexpr std::uint64_t kSendfileMin = std::uint64_t{256} * 1024;

  /// A copy of `size` bytes at `data`: in a memory file when it is large
  /// enough and `memory_file` allows one, else (or when no descriptor is
  /// left) on the heap.
  static std::shared_ptr<const CachedBytes> Copy(const char* data,
                                                 std::uint64_t size,
                                                 bool memory_file);
  ~CachedBytes();
  CachedBytes(const CachedBytes&) = delete;
  CachedBytes& operator=(const CachedBytes&) = delete;

  const char* data() const { return data_; }
  std::uint64_t size() const { return size_; }
  /// The memory file to sendfile() from, or -1 (heap bytes: copy them).
  int fd() const { return memory_file_.get(); }

 private:
  CachedBytes() = default;

  const char* data_ = nullptr;
  std::uint64_t size_ = 0;
  std::unique_ptr<char[]> heap_;
  UniqueFd memory_file_;
  void* mapping_ = nullptr;  ///< of memory_file_, read-only
};

/// What a response from a cached file needs besides its bytes, worked out
/// once when the file is cached instead of for every response. It holds
/// for the file served as it was then: "app.js.br" asked for by name, or
/// as app.js's precompressed variant ("br", another Content-Type); a hit
/// served the other way makes its head afresh.
struct CachedHead {
  std::string content_type;
  std::string whole_fields;      ///< the 200's fields (see WholeFileFields)
  std::string content_encoding;  ///< "" for a file served as itself
};

/// One cached file. `bytes` is shared with the connections sending it, so
/// evicting an entry never pulls memory from under a slow client.
struct CachedFile {
  std::string path;
  std::shared_ptr<const CachedBytes> bytes;
  FileStatus status;
  CachedHead head;
  std::int64_t checked_ms = 0;  ///< when statx last confirmed it
  /// The --precompressed codings (CodingList bits) found with no usable
  /// variant beside it; trusted as long as the entry (reset by a check).
  std::uint8_t no_variants = 0;
};

/// Loop thread only. Lookups do not allocate; inserts do (a miss already
/// cost a device read).
class FileCache {
 public:
  /// `capacity`: bytes of file data held at most; files larger than
  /// `max_file` are never cached; an entry is trusted for `validity_ms`
  /// after its last check, then checked again (statx) before use. At most
  /// `max_memory_files` entries hold a memory file (a descriptor each);
  /// further large files are kept on the heap.
  FileCache(std::uint64_t capacity, std::uint64_t max_file,
            std::int64_t validity_ms, std::size_t max_memory_files = SIZE_MAX);

  bool Cacheable(std::uint64_t size) const {
    return size <= max_file_ && size <= capacity_;
  }

  /// The entry for `path`, most recently used from now on, or nullptr.
  CachedFile* Find(std::string_view path);

  /// True when `entry` was checked within the validity period.
  bool Fresh(const CachedFile& entry, std::int64_t now_ms) const {
    return now_ms - entry.checked_ms < validity_ms_;
  }

  /// Adds (or replaces) `path` with `size` bytes at `data` and `head`,
  /// evicting the least recently used entries to make room. `checked_ms` is
  /// when `status` was read from the file (its validity counts from then).
  /// Returns false when the file is not cacheable, or when the entry there
  /// was checked later than that: a slow read of an older version must not
  /// replace a newer one.
  bool Insert(std::string_view path, const FileStatus& status, const char* data,
              std::uint64_t size, std::int64_t checked_ms,
              CachedHead head = {});

  void Erase(std::string_view path);

  std::uint64_t used() const { return used_; }
  std::size_t entries() const { return index_.size(); }
  std::size_t memory_files() const { return memory_files_; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const {
      return std::hash<std::string_view>{}(key);
    }
  };
  using Lru = std::list<CachedFile>;

  void EraseEntry(Lru::iterator entry);

  std::uint64_t capacity_;
  std::uint64_t max_file_;
  std::int64_t validity_ms_;
  std::size_t max_memory_files_;
  std::size_t memory_files_ = 0;
  std::uint64_t used_ = 0;
  Lru lru_;  ///< most recently used first
  std::unordered_map<std::string, Lru::iterator, Hash, std::equal_to<>> index_;
};

}  // namespace ferry

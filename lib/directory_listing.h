#pragma once
// --autoindex: a directory without an index answered with its listing, as
// HTML for a person or JSON for a program (nginx's autoindex_format json
// items). Read and rendered by a helper thread (getdents and a statx per
// entry may wait for the disk); the loop gets the finished page, which it
// serves as it serves a cached file: ranges, HEAD and 304 included.
//
// Bounds: a page lists at most kPageEntries entries (the rest on the next
// pages, ?page=N), and a helper reads at most kMaxEntries names of one
// directory (about 64 bytes each while it sorts them), so one listing
// holds at most a few megabytes of a helper's memory for an instant and
// the loop a page of at most a few hundred kilobytes.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

class DocumentRoot;
struct SiteRules;

/// What the request asks of a listing: its query (?sort=name|size|time,
/// ?order=asc|desc, ?format=json|html, ?page=N; others ignored, bad values
/// the defaults) and its Accept field (application/json before text/html
/// asks for JSON).
struct ListingQuery {
  enum class Sort { kName, kSize, kTime };
  Sort sort = Sort::kName;
  bool descending = false;
  bool json = false;
  std::uint32_t page = 1;  ///< 1-based

  static ListingQuery Parse(std::string_view query, std::string_view accept);
};

/// One name in a directory, as listed.
struct ListingEntry {
  std::string name;
  bool directory = false;
  std::uint64_t size = 0;
  std::int64_t mtime_sec = 0;
  std::uint32_t mtime_nsec = 0;
};

/// A rendered page of a listing.
struct Listing {
  std::string body;
  bool json = false;
  /// The newest mtime of the directory and the entries listed (for
  /// Last-Modified); the body's hash tells versions apart in the ETag.
  std::int64_t mtime_sec = 0;
  std::uint32_t mtime_nsec = 0;
  std::uint64_t hash = 0;
  bool found = true;  ///< false: a page past the last (404)
};

inline constexpr std::size_t kPageEntries = 1000;
inline constexpr std::size_t kMaxEntries = 1'000'000;

/// Reads the directory `dir_fd` (open for reading), which is `path` beneath
/// the root ("" the root, else without leading or trailing '/'), into
/// `entries`: only the names a request could be served (not '.', '..', dot
/// names unless the rules allow them, --hide, invalid UTF-8 or control
/// characters), symlinks only when they resolve beneath the root (listed as
/// their target). Blocks: helpers only. Returns 0 or a negative errno.
int ReadDirectory(int dir_fd, const DocumentRoot& root, const std::string& path,
                  const SiteRules& rules, std::vector<ListingEntry>* entries);

/// Sorts `entries` as `query` asks (directories first, then by the key,
/// names breaking ties) and renders its page. `path` as in ReadDirectory;
/// `directory_mtime` seeds Last-Modified.
Listing RenderListing(std::vector<ListingEntry>& entries,
                      const ListingQuery& query, const std::string& path,
                      std::int64_t directory_mtime_sec,
                      std::uint32_t directory_mtime_nsec);

/// Whether `name` could be a path segment ferryd serves: valid UTF-8, no
/// control character.
bool ListableName(std::string_view name);

}  // namespace ferry

#pragma once
// Everything about the response that can be decided from the request and
// the file's metadata: conditionals, ranges, status, header text, and the
// layout of the body as text pieces and file ranges.

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "http_range.h"
#include "http_request.h"

namespace ferry {

/// What statx told us about the file being served.
struct FileInfo {
  std::uint64_t size = 0;
  std::int64_t mtime_sec = 0;
  std::uint64_t inode = 0;
  std::uint32_t mtime_nsec = 0;  ///< the mtime's nanoseconds, < 10^9
};

/// One piece of a response, in sending order: bytes of the response text,
/// or a byte range of the file.
struct Piece {
  enum class Kind { kText, kFile };
  Kind kind = Kind::kText;
  std::uint64_t offset = 0;  ///< into the text, or into the file
  std::uint64_t length = 0;
};

/// A response ready to send: `text` holds the head (and, for multipart, the
/// part headers and the closing boundary); `pieces` says what to send in
/// order. A HEAD response or a body-less status has just the head piece.
struct ResponseLayout {
  int status = 200;
  std::string text;
  std::vector<Piece> pieces;
  std::uint64_t body_bytes = 0;  ///< Content-Length sent (0 for HEAD)
  /// Scratch for BuildFileResponse, kept here so its capacity is reused:
  /// after a 206 it holds the ranges sent, in order.
  RangeResult range;
  /// Header fields the caller adds to every response built into this
  /// layout, each "Name: value\r\n", before Connection (rules of the
  /// operator, CORS, Content-Encoding, Vary). Set before building; the
  /// builders leave it as it is.
  std::string fields;
  /// The Server field's value (--server-header), "" for none. Set once per
  /// connection; it views text that outlives the layout (the Config).
  std::string_view server = "ferry";
  void Clear() {
    text.clear();
    pieces.clear();
    body_bytes = 0;
  }
};

/// The most FormatEtag writes.
inline constexpr std::size_t kEtagMaxLength = 72;

/// The strong validator: "<mtime hex>.<mtime ns hex>-<size hex>-<inode hex>",
/// nginx's "<mtime hex>-<size hex>" made fine enough to tell apart two
/// versions written within one second, or a file replaced by another of
/// the same size and mtime (an If-Range resume must never splice two
/// versions). A precompressed variant's ends in "-<coding>" as well
/// (`content_encoding`, e.g. "-br"): even a variant hard-linked to its
/// original never shares its tag. Writes into `out` (kEtagMaxLength bytes)
/// and returns a view of it.
std::string_view FormatEtag(const FileInfo& info, char* out,
                            std::string_view content_encoding = {});

/// The header fields of a whole file's 200 response that depend on the file
/// alone: Content-Type, Content-Encoding (when `content_encoding` is not
/// empty), Content-Length, Last-Modified, ETag, Accept-Ranges.
/// The small-file cache keeps them with each entry, so that a hit does not
/// format them again. Last-Modified is the mtime as it is: BuildFileResponse
/// does not use these fields while the mtime is later than its `now`.
std::string WholeFileFields(const FileInfo& info, std::string_view content_type,
                            std::string_view content_encoding = {});

/// Builds the response for a regular file: evaluates If-Match,
/// If-Unmodified-Since (412), If-None-Match, If-Modified-Since (304),
/// If-Range and Range (206, multipart/byteranges, 416) in RFC 9110 order,
/// and writes the head with Date, Server, Content-Type, Content-Length,
/// Last-Modified, ETag, Accept-Ranges, Connection. Last-Modified is never
/// later than Date (`now`): a file modified in the future is said to be
/// modified now (RFC 9110 section 8.8.2.1). `boundary` is used for
/// multipart responses. `whole_fields`, when not empty, is what
/// WholeFileFields(info, content_type, content_encoding) returned, for a
/// 200 to reuse. `content_encoding` (a precompressed variant's coding) goes
/// into the 200 and single-range 206 heads and the ETag, never into a 304
/// (RFC 9110 section 15.4.5) or a multipart part: a caller serving an
/// encoded file passes `max_ranges` 1. `layout` is cleared first; its
/// buffers are reused.
void BuildFileResponse(const Request& request, const FileInfo& info,
                       std::string_view content_type, std::time_t now,
                       int max_ranges, std::string_view boundary,
                       bool keep_alive, ResponseLayout* layout,
                       std::string_view whole_fields = {},
                       std::string_view content_encoding = {});

/// Builds a response without a file: an error (with a short HTML body, an
/// Allow header on 405, GET, HEAD and OPTIONS), Content-Range on 416 given
/// `size`), or a redirect (301, 308) to `location` (non-empty only for
/// those). `head_only` omits the body.
void BuildStatusResponse(int status, bool head_only, std::time_t now,
                         bool keep_alive, std::string_view location,
                         std::uint64_t size, ResponseLayout* layout);

/// Builds the answer to a load balancer's health check: 200 with the body
/// "ok\n", or while `draining` 503 "draining\n" and the connection closed;
/// never cached.
void BuildHealthResponse(bool draining, bool head_only, std::time_t now,
                         bool keep_alive, ResponseLayout* layout);

/// Builds an error response (`status`) whose body is a file (an
/// --error-page): no validators, no ranges; `head_only` omits the body.
void BuildErrorPageResponse(int status, bool head_only, const FileInfo& info,
                            std::string_view content_type, std::time_t now,
                            bool keep_alive, ResponseLayout* layout);

/// Builds the 301 that sends a directory's URL without its slash (`/a`)
/// to the directory form (`/a/`, with the query kept). `scratch` holds the
/// Location while it is built.
void BuildDirectoryRedirect(const Request& request, std::time_t now,
                            bool keep_alive, std::string* scratch,
                            ResponseLayout* layout);

/// The status that answers a failed open of the requested file, by its
/// negative errno: 404 (no such file, or a path that left the root), 403
/// (not allowed), 503 (out of descriptors or memory), 500 otherwise.
int StatusForOpenError(int error);

/// The reason phrase of a status ("Not Found"), "Unknown" if not known.
std::string_view ReasonPhrase(int status);

}  // namespace ferry

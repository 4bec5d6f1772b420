#include "http_response.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>
#include <optional>

#include "http_date.h"
#include "http_syntax.h"
#include "url_encoding.h"

namespace ferry {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kHtmlOpen = "<html><head><title>";
constexpr std::string_view kHtmlMiddle = "</title></head><body><h1>";
constexpr std::string_view kHtmlClose = "</h1></body></html>\n";
// A multipart part head is kDelimiter B kPartType T kPartRange a-b/size
// kPartEnd; the body ends with kDelimiter B kClose.
constexpr std::string_view kDelimiter = "\r\n--";
constexpr std::string_view kPartType = "\r\nContent-Type: ";
constexpr std::string_view kPartRange = "\r\nContent-Range: bytes ";
constexpr std::string_view kPartEnd = "\r\n\r\n";
constexpr std::string_view kClose = "--\r\n";

std::uint64_t DigitCount(std::uint64_t v) {
  std::uint64_t n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

void AppendNumber(std::string* text, std::uint64_t v) {
  char buf[20];
  const auto result = std::to_chars(buf, buf + sizeof buf, v);
  text->append(buf, static_cast<std::size_t>(result.ptr - buf));
}

void AppendHeader(std::string* text, std::string_view name,
                  std::string_view value) {
  text->append(name);
  text->append(": ");
  text->append(value);
  text->append(kCrlf);
}

void AppendNumberHeader(std::string* text, std::string_view name,
                        std::uint64_t value) {
  text->append(name);
  text->append(": ");
  AppendNumber(text, value);
  text->append(kCrlf);
}

// The status line, Server (unless `server` is empty) and Date: what every
// response starts with.
void AppendStart(std::string* text, int status, std::time_t now,
                 std::string_view server) {
  text->append("HTTP/1.1 ");
  AppendNumber(text, static_cast<std::uint64_t>(status));
  text->push_back(' ');
  text->append(ReasonPhrase(status));
  text->append(kCrlf);
  if (!server.empty()) AppendHeader(text, "Server", server);
  // Every response of a second carries the same Date: format it once. (Per
  // thread: a worker's responses are all built on its loop thread.)
  thread_local std::time_t formatted = -1;
  thread_local char date[kHttpDateLength];
  if (now != formatted) {
    FormatHttpDate(now, date);
    formatted = now;
  }
  AppendHeader(text, "Date", std::string_view(date, kHttpDateLength));
}

// The caller's fields (see ResponseLayout::fields), Connection and the end
// of the head.
void AppendEnd(std::string* text, bool keep_alive, std::string_view fields) {
  text->append(fields);
  text->append(keep_alive ? "Connection: keep-alive\r\n\r\n"
                          : "Connection: close\r\n\r\n");
}

// "bytes a-b/size" without the unit (shared by Content-Range and parts).
void AppendRange(std::string* text, const ByteRange& r, std::uint64_t size) {
  AppendNumber(text, r.first);
  text->push_back('-');
  AppendNumber(text, r.last);
  text->push_back('/');
  AppendNumber(text, size);
}

// Appends a piece of text; one that continues the previous text piece is
// merged into it, so contiguous text goes out in one send.
void AddText(ResponseLayout* layout, std::size_t offset, std::size_t length) {
  if (length == 0) return;
  auto& pieces = layout->pieces;
  if (!pieces.empty() && pieces.back().kind == Piece::Kind::kText &&
      pieces.back().offset + pieces.back().length == offset) {
    pieces.back().length += length;
    return;
  }
  pieces.push_back({Piece::Kind::kText, offset, length});
}

void AddFile(ResponseLayout* layout, std::uint64_t offset,
             std::uint64_t length) {
  if (length == 0) return;
  layout->pieces.push_back({Piece::Kind::kFile, offset, length});
}

// True when `list` ("*" or 1#entity-tag) has a member equal to `etag`,
// compared weakly or strongly. A malformed member ends the list unmatched.
bool EtagListMatches(std::string_view list, std::string_view etag, bool weak) {
  list = TrimOws(list);
  if (list == "*") return true;
  std::size_t pos = 0;
  while (pos < list.size()) {
    if (IsOws(list[pos]) || list[pos] == ',') {
      ++pos;
      continue;
    }
    bool is_weak = false;
    if (list.substr(pos, 2) == "W/") {
      is_weak = true;
      pos += 2;
    }
    if (pos >= list.size() || list[pos] != '"') return false;
    const std::size_t close = list.find('"', pos + 1);
    if (close == std::string_view::npos) return false;
    const std::string_view tag = list.substr(pos, close + 1 - pos);
    if (tag == etag && (weak || !is_weak)) return true;
    pos = close + 1;
  }
  return false;
}

std::optional<std::time_t> DateField(std::string_view value) {
  if (value.empty()) return std::nullopt;
  return ParseHttpDate(value);
}

// RFC 9110 section 13.2.2 steps 1-4: 412, 304, or 0 to go on.
int EvaluatePreconditions(const Request& request, const FileInfo& info,
                          std::string_view etag) {
  if (!request.if_match.empty()) {
    if (!EtagListMatches(request.if_match, etag, /*weak=*/false)) return 412;
  } else if (auto date = DateField(request.if_unmodified_since)) {
    if (info.mtime_sec > static_cast<std::int64_t>(*date)) return 412;
  }
  if (!request.if_none_match.empty()) {
    if (EtagListMatches(request.if_none_match, etag, /*weak=*/true)) return 304;
  } else if (auto date = DateField(request.if_modified_since)) {
    if (info.mtime_sec <= static_cast<std::int64_t>(*date)) return 304;
  }
  return 0;
}

// Step 5: whether Range is to be evaluated given If-Range.
bool IfRangeHolds(std::string_view if_range, const FileInfo& info,
                  std::string_view etag) {
  if (if_range.empty()) return true;
  if (if_range[0] == '"' || if_range.substr(0, 2) == "W/") {
    return if_range == etag;  // weak tags never match
  }
  const auto date = ParseHttpDate(if_range);
  return date && static_cast<std::int64_t>(*date) == info.mtime_sec;
}

// Last-Modified: the mtime, but never later than the response's Date.
void AppendLastModified(std::string* text, const FileInfo& info,
                        std::time_t now) {
  char date[kHttpDateLength];
  const std::time_t mtime = static_cast<std::time_t>(info.mtime_sec);
  AppendHeader(text, "Last-Modified",
               FormatHttpDate(std::min(mtime, now), date));
}

void BuildNotModified(const FileInfo& info, std::string_view etag,
                      std::time_t now, bool keep_alive,
                      ResponseLayout* layout) {
  std::string& text = layout->text;
  layout->status = 304;
  AppendStart(&text, 304, now, layout->server);
  AppendLastModified(&text, info, now);
  AppendHeader(&text, "ETag", etag);
  AppendEnd(&text, keep_alive, layout->fields);
  AddText(layout, 0, text.size());
}

// The fields every file response (200, 206) carries after Content-Length.
void AppendValidators(std::string* text, const FileInfo& info,
                      std::string_view etag, std::time_t now) {
  AppendLastModified(text, info, now);
  AppendHeader(text, "ETag", etag);
  text->append("Accept-Ranges: bytes\r\n");
}

// Content-Type, and Content-Encoding for a precompressed variant.
void AppendType(std::string* text, std::string_view content_type,
                std::string_view content_encoding) {
  AppendHeader(text, "Content-Type", content_type);
  if (!content_encoding.empty()) {
    AppendHeader(text, "Content-Encoding", content_encoding);
  }
}

// WholeFileFields, appended.
void AppendWholeFileFields(std::string* text, const FileInfo& info,
                           std::string_view content_type,
                           std::string_view content_encoding,
                           std::string_view etag, std::time_t now) {
  AppendType(text, content_type, content_encoding);
  AppendNumberHeader(text, "Content-Length", info.size);
  AppendValidators(text, info, etag, now);
}

std::uint64_t MultipartLength(const std::vector<ByteRange>& ranges,
                              std::uint64_t size, std::string_view type,
                              std::string_view boundary) {
  const std::uint64_t fixed =
      kDelimiter.size() + boundary.size() + kPartType.size() + type.size() +
      kPartRange.size() + 2 + DigitCount(size) + kPartEnd.size();
  std::uint64_t total = kDelimiter.size() + boundary.size() + kClose.size();
  for (const ByteRange& r : ranges) {
    total += fixed + DigitCount(r.first) + DigitCount(r.last) + r.length();
  }
  return total;
}

void BuildMultipart(const FileInfo& info, std::string_view etag,
                    std::string_view type, std::string_view boundary,
                    std::time_t now, bool head_only, bool keep_alive,
                    ResponseLayout* layout) {
  const std::vector<ByteRange>& ranges = layout->range.ranges;
  std::string& text = layout->text;
  const std::uint64_t length =
      MultipartLength(ranges, info.size, type, boundary);
  text.append("Content-Type: multipart/byteranges; boundary=");
  text.append(boundary);
  text.append(kCrlf);
  AppendNumberHeader(&text, "Content-Length", length);
  AppendValidators(&text, info, etag, now);
  AppendEnd(&text, keep_alive, layout->fields);
  AddText(layout, 0, text.size());
  if (head_only) return;
  for (const ByteRange& r : ranges) {
    const std::size_t start = text.size();
    text.append(kDelimiter);
    text.append(boundary);
    text.append(kPartType);
    text.append(type);
    text.append(kPartRange);
    AppendRange(&text, r, info.size);
    text.append(kPartEnd);
    AddText(layout, start, text.size() - start);
    AddFile(layout, r.first, r.length());
  }
  const std::size_t start = text.size();
  text.append(kDelimiter);
  text.append(boundary);
  text.append(kClose);
  AddText(layout, start, text.size() - start);
  layout->body_bytes = length;
}

}  // namespace

std::string WholeFileFields(const FileInfo& info, std::string_view content_type,
                            std::string_view content_encoding) {
  char etag_buf[kEtagMaxLength];
  std::string fields;
  AppendWholeFileFields(&fields, info, content_type, content_encoding,
                        FormatEtag(info, etag_buf, content_encoding),
                        std::numeric_limits<std::time_t>::max());
  return fields;
}

std::string_view FormatEtag(const FileInfo& info, char* out,
                            std::string_view content_encoding) {
  char* p = out;
  *p++ = '"';
  p = std::to_chars(p, p + 16, static_cast<std::uint64_t>(info.mtime_sec), 16)
          .ptr;
  *p++ = '.';
  p = std::to_chars(p, p + 8, info.mtime_nsec, 16).ptr;
  *p++ = '-';
  p = std::to_chars(p, p + 16, info.size, 16).ptr;
  *p++ = '-';
  p = std::to_chars(p, p + 16, info.inode, 16).ptr;
  // (At most "-zstd": the 61 bytes above and this stay within the bound.)
  if (!content_encoding.empty() && content_encoding.size() <= 8) {
    *p++ = '-';
    p = std::copy(content_encoding.begin(), content_encoding.end(), p);
  }
  *p++ = '"';
  return std::string_view(out, static_cast<std::size_t>(p - out));
}

void BuildFileResponse(const Request& request, const FileInfo& info,
                       std::string_view content_type, std::time_t now,
                       int max_ranges, std::string_view boundary,
                       bool keep_alive, ResponseLayout* layout,
                       std::string_view whole_fields,
                       std::string_view content_encoding) {
  layout->Clear();
  const bool head_only = request.method == Method::kHead;
  char etag_buf[kEtagMaxLength];
  const std::string_view etag = FormatEtag(info, etag_buf, content_encoding);

  const int precondition = EvaluatePreconditions(request, info, etag);
  if (precondition == 412) {
    BuildStatusResponse(412, head_only, now, keep_alive, {}, info.size, layout);
    return;
  }
  std::string& text = layout->text;
  text.reserve(384 + content_type.size());
  layout->pieces.reserve(3);
  if (precondition == 304) {
    BuildNotModified(info, etag, now, keep_alive, layout);
    return;
  }

  RangeResult& range = layout->range;
  range.kind = RangeResult::Kind::kIgnore;
  range.ranges.clear();
  if (!request.range.empty() && IfRangeHolds(request.if_range, info, etag)) {
    ParseRange(request.range, info.size, max_ranges, &range);
  }
  if (range.kind == RangeResult::Kind::kUnsatisfiable) {
    BuildStatusResponse(416, head_only, now, keep_alive, {}, info.size, layout);
    return;
  }

  const bool partial = range.kind == RangeResult::Kind::kSatisfiable;
  layout->status = partial ? 206 : 200;
  AppendStart(&text, layout->status, now, layout->server);
  if (partial && range.ranges.size() > 1) {
    const std::size_t parts = range.ranges.size();
    text.reserve(text.size() + 384 + content_type.size() +
                 parts * (boundary.size() + content_type.size() + 96) +
                 boundary.size());
    layout->pieces.reserve(2 * parts + 2);
    BuildMultipart(info, etag, content_type, boundary, now, head_only,
                   keep_alive, layout);
    return;
  }

  const ByteRange whole{0, info.size > 0 ? info.size - 1 : 0};
  const ByteRange& sent = partial ? range.ranges[0] : whole;
  const std::uint64_t length = partial ? sent.length() : info.size;
  if (partial) {
    AppendType(&text, content_type, content_encoding);
    AppendNumberHeader(&text, "Content-Length", length);
    text.append("Content-Range: bytes ");
    AppendRange(&text, sent, info.size);
    text.append(kCrlf);
    AppendValidators(&text, info, etag, now);
  } else if (!whole_fields.empty() &&
             info.mtime_sec <= static_cast<std::int64_t>(now)) {
    // (The prepared fields carry the mtime unclamped.)
    text.append(whole_fields);
  } else {
    AppendWholeFileFields(&text, info, content_type, content_encoding, etag,
                          now);
  }
  AppendEnd(&text, keep_alive, layout->fields);
  AddText(layout, 0, text.size());
  if (!head_only) {
    AddFile(layout, sent.first, length);
    layout->body_bytes = length;
  }
}

void BuildStatusResponse(int status, bool head_only, std::time_t now,
                         bool keep_alive, std::string_view location,
                         std::uint64_t size, ResponseLayout* layout) {
  layout->Clear();
  layout->status = status;
  std::string& text = layout->text;
  text.reserve(384 + location.size());
  const std::string_view reason = ReasonPhrase(status);
  const bool has_body = status >= 200 && status != 204 && status != 304;
  // "<code> <reason>" appears twice in the body.
  const std::uint64_t title =
      DigitCount(static_cast<std::uint64_t>(status)) + 1 + reason.size();
  const std::uint64_t body_length = has_body ? kHtmlOpen.size() +
                                                   kHtmlMiddle.size() +
                                                   kHtmlClose.size() + 2 * title
                                             : 0;

  AppendStart(&text, status, now, layout->server);
  if (has_body) {
    text.append("Content-Type: text/html\r\n");
    AppendNumberHeader(&text, "Content-Length", body_length);
  }
  if (status == 405) text.append("Allow: GET, HEAD, OPTIONS\r\n");
  if (status == 416) {
    text.append("Content-Range: bytes */");
    AppendNumber(&text, size);
    text.append(kCrlf);
  }
  if (!location.empty()) AppendHeader(&text, "Location", location);
  AppendEnd(&text, keep_alive, layout->fields);
  if (has_body && !head_only) {
    for (int i = 0; i < 2; ++i) {
      text.append(i == 0 ? kHtmlOpen : kHtmlMiddle);
      AppendNumber(&text, static_cast<std::uint64_t>(status));
      text.push_back(' ');
      text.append(reason);
    }
    text.append(kHtmlClose);
    layout->body_bytes = body_length;
  }
  AddText(layout, 0, text.size());
}

void BuildHealthResponse(bool draining, bool head_only, std::time_t now,
                         bool keep_alive, ResponseLayout* layout) {
  const std::string_view body = draining ? "draining\n" : "ok\n";
  const int status = draining ? 503 : 200;
  layout->Clear();
  layout->status = status;
  std::string& text = layout->text;
  AppendStart(&text, status, now, layout->server);
  text.append("Content-Type: text/plain\r\nCache-Control: no-store\r\n");
  AppendNumberHeader(&text, "Content-Length", body.size());
  AppendEnd(&text, keep_alive && !draining, layout->fields);
  if (!head_only) {
    text.append(body);
    layout->body_bytes = body.size();
  }
  AddText(layout, 0, text.size());
}

std::string_view ReasonPhrase(int status) {
  struct Entry {
    int status;
    std::string_view reason;
  };
  static constexpr Entry kReasons[] = {
      {200, "OK"},
      {204, "No Content"},
      {206, "Partial Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {412, "Precondition Failed"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {416, "Range Not Satisfiable"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {503, "Service Unavailable"},
      {505, "HTTP Version Not Supported"},
  };
  for (const Entry& entry : kReasons) {
    if (entry.status == status) return entry.reason;
  }
  return "Unknown";
}

int StatusForOpenError(int error) {
  switch (-error) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV:  // RESOLVE_BENEATH: the path tried to leave the root
    case ELOOP:  // a symlink loop, or a magic link
    case ENAMETOOLONG:
      return 404;
    case EACCES:
    case EPERM:
    case ENXIO:
      return 403;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return 503;
    default:
      return 500;
  }
}

void BuildErrorPageResponse(int status, bool head_only, const FileInfo& info,
                            std::string_view content_type, std::time_t now,
                            bool keep_alive, ResponseLayout* layout) {
  layout->Clear();
  layout->status = status;
  std::string& text = layout->text;
  AppendStart(&text, status, now, layout->server);
  AppendHeader(&text, "Content-Type", content_type);
  AppendNumberHeader(&text, "Content-Length", info.size);
  AppendEnd(&text, keep_alive, layout->fields);
  AddText(layout, 0, text.size());
  if (!head_only) {
    AddFile(layout, 0, info.size);
    layout->body_bytes = info.size;
  }
}

void BuildDirectoryRedirect(const Request& request, std::time_t now,
                            bool keep_alive, std::string* scratch,
                            ResponseLayout* layout) {
  // From the decoded, normalised path, encoded again: never the raw
  // target, whose "//host/..." a browser would follow off-site.
  std::string& location = *scratch;
  location.assign(1, '/');
  AppendPercentEncodedPath(request.path, &location);
  location += '/';
  if (!request.query.empty()) {
    location += '?';
    location += request.query;
  }
  BuildStatusResponse(301, request.method == Method::kHead, now, keep_alive,
                      location, 0, layout);
}

}  // namespace ferry

// BuildFileResponse: conditionals, ranges and the response layout.
// Input: an optional first line "SIZE MTIME NOW MAX_RANGES\n" (decimal;
// otherwise 10000, 784111777, 784111800, 16), then a request head that
// ParseRequest turns into the Request (inputs it refuses are skipped).

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "http_date.h"
#include "http_request.h"
#include "http_response.h"

namespace {

using ferry::FileInfo;
using ferry::Piece;
using ferry::ResponseLayout;

constexpr std::string_view kType = "text/plain; charset=utf-8";
constexpr std::string_view kBoundary = "0000000000000000002a";
// 10000-01-01T00:00:00Z: FormatHttpDate writes four-digit years only.
constexpr std::int64_t kYear10000 = 253402300800;

bool ParseHeadLine(std::string_view* input, FileInfo* info, std::time_t* now,
                   int* max_ranges) {
  const std::size_t nl = input->find('\n');
  if (nl == std::string_view::npos) return false;
  const char* p = input->data();
  const char* end = p + nl;
  std::int64_t now_value = 0;
  for (auto step : {0, 1, 2, 3}) {
    if (step > 0) {
      if (p == end || *p != ' ') return false;
      ++p;
    }
    std::from_chars_result r{};
    switch (step) {
      case 0:
        r = std::from_chars(p, end, info->size);
        break;
      case 1:
        r = std::from_chars(p, end, info->mtime_sec);
        break;
      case 2:
        r = std::from_chars(p, end, now_value);
        break;
      default:
        r = std::from_chars(p, end, *max_ranges);
        break;
    }
    if (r.ec != std::errc()) return false;
    p = r.ptr;
  }
  if (p != end) return false;
  *now = static_cast<std::time_t>(now_value);
  input->remove_prefix(nl + 1);
  return true;
}

/// The value of `name` in the head, or npos-as-false.
bool HeaderValue(std::string_view head, std::string_view name,
                 std::string_view* value) {
  const std::string key = "\r\n" + std::string(name) + ": ";
  const std::size_t at = head.find(key);
  if (at == std::string_view::npos) return false;
  const std::size_t start = at + key.size();
  *value = head.substr(start, head.find("\r\n", start) - start);
  return true;
}

std::uint64_t ToNumber(std::string_view s) {
  std::uint64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  FUZZ_CHECK(r.ec == std::errc() && r.ptr == s.data() + s.size());
  return v;
}

std::string RangeText(std::uint64_t first, std::uint64_t length,
                      std::uint64_t size) {
  return std::to_string(first) + "-" + std::to_string(first + length - 1) +
         "/" + std::to_string(size);
}

void CheckDateRoundTrip(std::string_view value) {
  if (value.empty()) return;
  const auto t = ferry::ParseHttpDate(value);
  if (!t || *t >= kYear10000) return;
  char buf[ferry::kHttpDateLength];
  const auto again = ferry::ParseHttpDate(ferry::FormatHttpDate(*t, buf));
  FUZZ_CHECK(again && *again == *t);
}

/// The layout is well formed; returns the length of the head.
std::size_t CheckLayout(const ResponseLayout& layout, const FileInfo& info) {
  const std::string& text = layout.text;
  FUZZ_CHECK(!layout.pieces.empty());
  FUZZ_CHECK(layout.pieces.front().kind == Piece::Kind::kText);
  std::uint64_t text_at = 0;
  std::uint64_t file_bytes = 0;
  for (const Piece& piece : layout.pieces) {
    FUZZ_CHECK(piece.length > 0);
    if (piece.kind == Piece::Kind::kText) {
      FUZZ_CHECK(piece.offset == text_at);  // text goes out in order, once
      FUZZ_CHECK(piece.length <= text.size() - text_at);
      text_at += piece.length;
    } else {
      FUZZ_CHECK(piece.offset < info.size &&
                 piece.length <= info.size - piece.offset);
      FUZZ_CHECK(piece.length <= info.size - file_bytes);  // no amplification
      file_bytes += piece.length;
    }
  }
  FUZZ_CHECK(text_at == text.size());
  const std::size_t head_end = text.find("\r\n\r\n");
  FUZZ_CHECK(head_end != std::string::npos);
  const std::size_t head_length = head_end + 4;
  FUZZ_CHECK(layout.pieces.front().length >= head_length);
  const std::string status_line =
      "HTTP/1.1 " + std::to_string(layout.status) + " ";
  FUZZ_CHECK(text.compare(0, status_line.size(), status_line) == 0);
  return head_length;
}

void CheckGet(const ResponseLayout& get, const FileInfo& info,
              std::size_t head_length) {
  const std::string_view head(get.text.data(), head_length);
  std::uint64_t sent = 0;
  for (const Piece& piece : get.pieces) sent += piece.length;
  FUZZ_CHECK(sent - head_length == get.body_bytes);

  std::string_view value;
  const bool has_length = HeaderValue(head, "Content-Length", &value);
  FUZZ_CHECK(has_length == (get.status != 304));
  if (has_length) FUZZ_CHECK(ToNumber(value) == get.body_bytes);
  if (get.status == 200) {
    FUZZ_CHECK(get.body_bytes == info.size);
    FUZZ_CHECK(get.pieces.size() == (info.size > 0 ? 2u : 1u));
  }
  if (get.status == 416) {
    FUZZ_CHECK(HeaderValue(head, "Content-Range", &value));
    FUZZ_CHECK(value == "bytes */" + std::to_string(info.size));
  }
  if (get.status != 206) return;
  // Each file piece follows the Content-Range that announces it.
  bool single = HeaderValue(head, "Content-Range", &value);
  std::size_t files = 0;
  for (std::size_t i = 1; i < get.pieces.size(); ++i) {
    const Piece& piece = get.pieces[i];
    if (piece.kind != Piece::Kind::kFile) continue;
    ++files;
    const std::string expected =
        RangeText(piece.offset, piece.length, info.size);
    if (single) {
      FUZZ_CHECK(value == "bytes " + expected);
    } else {
      const Piece& part = get.pieces[i - 1];
      FUZZ_CHECK(part.kind == Piece::Kind::kText);
      const std::string_view part_head(get.text.data() + part.offset,
                                       part.length);
      const std::string tail = "Content-Range: bytes " + expected + "\r\n\r\n";
      FUZZ_CHECK(part_head.size() >= tail.size() &&
                 part_head.substr(part_head.size() - tail.size()) == tail);
    }
  }
  FUZZ_CHECK(single ? files == 1 : files >= 2);
  FUZZ_CHECK(files == get.range.ranges.size());
}

}  // namespace

/// Last-Modified, where the head has one, is never later than Date.
void CheckLastModifiedNotAfterDate(std::string_view text) {
  std::string_view last_modified;
  std::string_view date;
  if (!HeaderValue(text, "Last-Modified", &last_modified) ||
      !HeaderValue(text, "Date", &date)) {
    return;
  }
  const auto lm = ferry::ParseHttpDate(last_modified);
  const auto now = ferry::ParseHttpDate(date);
  if (lm && now) FUZZ_CHECK(*lm <= *now);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  FileInfo info{10000, 784111777, 42, 123456789};
  std::time_t now = 784111800;
  int max_ranges = 16;
  FileInfo parsed_info = info;
  std::time_t parsed_now = now;
  int parsed_max = max_ranges;
  if (ParseHeadLine(&input, &parsed_info, &parsed_now, &parsed_max)) {
    info = parsed_info;
    now = parsed_now;
    max_ranges = parsed_max;
  }

  ferry::Request request;
  const ferry::RequestLimits limits;
  if (ferry::ParseRequest(input, limits, &request).kind !=
      ferry::ParseResult::Kind::kDone) {
    return 0;
  }
  for (std::string_view date :
       {request.if_modified_since, request.if_unmodified_since,
        request.if_range}) {
    CheckDateRoundTrip(date);
  }

  static ResponseLayout get;  // reused, as a connection's layout is
  static ResponseLayout head;
  request.method = ferry::Method::kGet;
  ferry::BuildFileResponse(request, info, kType, now, max_ranges, kBoundary,
                           request.keep_alive, &get);
  request.method = ferry::Method::kHead;
  ferry::BuildFileResponse(request, info, kType, now, max_ranges, kBoundary,
                           request.keep_alive, &head);

  const int s = get.status;
  FUZZ_CHECK(s == 200 || s == 206 || s == 304 || s == 412 || s == 416);
  CheckLastModifiedNotAfterDate(get.text);
  const std::size_t head_length = CheckLayout(get, info);
  CheckGet(get, info, head_length);

  // HEAD: the same status and head as GET, and nothing else.
  FUZZ_CHECK(head.status == s);
  FUZZ_CHECK(CheckLayout(head, info) == head.text.size());
  FUZZ_CHECK(head.text == std::string_view(get.text.data(), head_length));
  FUZZ_CHECK(head.body_bytes == 0 && head.pieces.size() == 1);

  // A strong match of If-None-Match, with no If-Match or
  // If-Unmodified-Since to fail first, is 304.
  char etag_buf[ferry::kEtagMaxLength];
  const std::string_view etag = ferry::FormatEtag(info, etag_buf);
  FUZZ_CHECK(etag.size() <= ferry::kEtagMaxLength);
  if (request.if_match.empty() && request.if_unmodified_since.empty() &&
      request.if_none_match == etag) {
    FUZZ_CHECK(s == 304);
  }
  return 0;
}

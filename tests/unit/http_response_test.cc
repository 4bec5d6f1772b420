#include "http_response.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <deque>
#include <map>
#include <string>

#include "allocation_counter.h"
#include "http_date.h"

namespace ferry {
namespace {

constexpr std::time_t kNow = 1700000000;     // Tue, 14 Nov 2023 22:13:20 GMT
constexpr std::int64_t kMtime = 1600000000;  // Sun, 13 Sep 2020 12:26:40 GMT
constexpr std::string_view kMtimeDate = "Sun, 13 Sep 2020 12:26:40 GMT";
constexpr std::string_view kNowDate = "Tue, 14 Nov 2023 22:13:20 GMT";
constexpr std::string_view kType = "text/plain; charset=utf-8";
constexpr std::string_view kBoundary = "00000000000000000042";
constexpr int kMaxRanges = 64;

// A response as a client would see it.
struct Parsed {
  std::string status_line;
  std::multimap<std::string, std::string> headers;
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "<absent>" : it->second;
  }
  bool Has(const std::string& name) const { return headers.count(name) > 0; }
};

// Sends the layout's pieces against `content` and parses the result.
std::string Render(const ResponseLayout& layout, std::string_view content) {
  std::string wire;
  for (const Piece& p : layout.pieces) {
    const std::string_view source =
        p.kind == Piece::Kind::kText ? std::string_view(layout.text) : content;
    EXPECT_LE(p.offset + p.length, source.size());
    wire.append(source.substr(p.offset, p.length));
  }
  return wire;
}

Parsed ParseWire(const std::string& wire) {
  Parsed parsed;
  const std::size_t end = wire.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos);
  std::size_t pos = wire.find("\r\n");
  parsed.status_line = wire.substr(0, pos);
  while (pos < end) {
    const std::size_t next = wire.find("\r\n", pos + 2);
    const std::string line = wire.substr(pos + 2, next - pos - 2);
    const std::size_t colon = line.find(": ");
    EXPECT_NE(colon, std::string::npos) << line;
    parsed.headers.emplace(line.substr(0, colon), line.substr(colon + 2));
    pos = next;
  }
  parsed.body = wire.substr(end + 4);
  return parsed;
}

class FileResponseTest : public ::testing::Test {
 protected:
  FileResponseTest() {
    for (int i = 0; i < 1000; ++i)
      content_.push_back(static_cast<char>('a' + i % 26));
    info_.size = content_.size();
    info_.mtime_sec = kMtime;
    info_.inode = 12;
    request_.host = "h";
  }

  Parsed Build(bool keep_alive = true) {
    BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary,
                      keep_alive, &layout_);
    Parsed parsed = ParseWire(Render(layout_, content_));
    // The body sent is what Content-Length promised (none for HEAD).
    if (request_.method == Method::kGet && parsed.Has("Content-Length")) {
      EXPECT_EQ(parsed.Header("Content-Length"),
                std::to_string(parsed.body.size()));
    }
    EXPECT_EQ(layout_.body_bytes, parsed.body.size());
    EXPECT_EQ(parsed.Header("Server"), "ferry");
    EXPECT_EQ(parsed.Header("Date"), kNowDate);
    return parsed;
  }

  std::string Etag() {
    char buf[kEtagMaxLength];
    return std::string(FormatEtag(info_, buf));
  }

  // Request fields are views: keeps the text they point to alive.
  std::string_view Keep(std::string text) {
    return kept_.emplace_back(std::move(text));
  }

  std::deque<std::string> kept_;
  std::string content_;
  FileInfo info_;
  Request request_;
  ResponseLayout layout_;
};

TEST(FormatEtag, MtimeNanosecondsSizeInode) {
  char buf[kEtagMaxLength];
  FileInfo info;
  info.mtime_sec = 0x5f5e1000;
  info.mtime_nsec = 0x1234;
  info.size = 1000;
  info.inode = 12;
  EXPECT_EQ(FormatEtag(info, buf), "\"5f5e1000.1234-3e8-c\"");
  info = FileInfo{};
  EXPECT_EQ(FormatEtag(info, buf), "\"0.0-0-0\"");
  info.mtime_sec = -1;
  info.mtime_nsec = 999'999'999;
  info.size = ~0ull;
  info.inode = ~0ull;
  const std::string_view longest = FormatEtag(info, buf);
  EXPECT_EQ(longest,
            "\"ffffffffffffffff.3b9ac9ff-ffffffffffffffff-ffffffffffffffff\"");
  EXPECT_LE(longest.size(), kEtagMaxLength);
  EXPECT_LE(FormatEtag(info, buf, "zstd").size(), kEtagMaxLength);
}

// A precompressed variant's tag names its coding: never the original's,
// even for the same inode (a hard link).
TEST(FormatEtag, AVariantsTagNamesItsCoding) {
  char a[kEtagMaxLength];
  char b[kEtagMaxLength];
  FileInfo info;
  info.mtime_sec = 1;
  info.size = 2;
  info.inode = 3;
  EXPECT_EQ(FormatEtag(info, a, "br"), "\"1.0-2-3-br\"");
  EXPECT_NE(FormatEtag(info, a), FormatEtag(info, b, "gzip"));
}

// Two versions written within one second, or a file replaced by another
// of the same size and mtime, have different validators: an If-Range
// resume must not splice them.
TEST(FormatEtag, TellsVersionsOfOneSecondApart) {
  char a[kEtagMaxLength];
  char b[kEtagMaxLength];
  FileInfo first;
  first.mtime_sec = 1600000000;
  first.mtime_nsec = 100;
  first.size = 10;
  first.inode = 7;
  FileInfo second = first;
  second.mtime_nsec = 200;
  EXPECT_NE(FormatEtag(first, a), FormatEtag(second, b));
  second = first;
  second.inode = 8;
  EXPECT_NE(FormatEtag(first, a), FormatEtag(second, b));
}

TEST_F(FileResponseTest, Ok) {
  const Parsed r = Build();
  EXPECT_EQ(layout_.status, 200);
  EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(r.Header("Content-Type"), kType);
  EXPECT_EQ(r.Header("Content-Length"), "1000");
  EXPECT_EQ(r.Header("Last-Modified"), kMtimeDate);
  EXPECT_EQ(r.Header("ETag"), "\"5f5e1000.0-3e8-c\"");
  EXPECT_EQ(r.Header("Accept-Ranges"), "bytes");
  EXPECT_EQ(r.Header("Connection"), "keep-alive");
  EXPECT_FALSE(r.Has("Content-Range"));
  EXPECT_EQ(r.body, content_);
  ASSERT_EQ(layout_.pieces.size(), 2u);
  EXPECT_EQ(layout_.pieces[0].kind, Piece::Kind::kText);
  EXPECT_EQ(layout_.pieces[0].offset, 0u);
  EXPECT_EQ(layout_.pieces[0].length, layout_.text.size());
  EXPECT_EQ(layout_.pieces[1].kind, Piece::Kind::kFile);
  EXPECT_EQ(layout_.pieces[1].offset, 0u);
  EXPECT_EQ(layout_.pieces[1].length, 1000u);
}

// The cache's precomputed fields change nothing a client sees, whatever
// the request makes of them.
TEST_F(FileResponseTest, PrecomputedWholeFileFieldsGiveTheSameResponse) {
  const std::string fields = WholeFileFields(info_, kType);
  struct Case {
    Method method;
    std::string_view range;
    std::string_view if_none_match;
  };
  const std::string etag = Etag();
  for (const Case& c :
       {Case{Method::kGet, "", ""}, Case{Method::kHead, "", ""},
        Case{Method::kGet, "bytes=10-19", ""},
        Case{Method::kGet, "bytes=0-1,5-9", ""},
        Case{Method::kGet, "bytes=5000-", ""}, Case{Method::kGet, "", etag}}) {
    request_.method = c.method;
    request_.range = c.range;
    request_.if_none_match = c.if_none_match;
    for (bool keep_alive : {true, false}) {
      BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary,
                        keep_alive, &layout_);
      const std::string plain = Render(layout_, content_);
      BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary,
                        keep_alive, &layout_, fields);
      EXPECT_EQ(Render(layout_, content_), plain) << c.range;
    }
  }
}

// RFC 9110 section 8.8.2.1: a Last-Modified later than Date is replaced
// by Date, on every response that carries it, with or without the cache's
// prepared fields.
TEST_F(FileResponseTest, LastModifiedNeverLaterThanDate) {
  info_.mtime_sec = kNow + 3600;
  const std::string fields = WholeFileFields(info_, kType);
  EXPECT_EQ(Build().Header("Last-Modified"), kNowDate);
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_, fields);
  EXPECT_EQ(ParseWire(Render(layout_, content_)).Header("Last-Modified"),
            kNowDate);
  request_.range = "bytes=0-9";
  EXPECT_EQ(Build().Header("Last-Modified"), kNowDate);
  request_.range = "bytes=0-9,20-29";
  EXPECT_EQ(Build().Header("Last-Modified"), kNowDate);
  request_.range = {};
  request_.if_none_match = Keep(Etag());
  EXPECT_EQ(Build().Header("Last-Modified"), kNowDate);
  // A past mtime is sent as it is, prepared fields or not.
  info_.mtime_sec = kMtime;
  request_.if_none_match = {};
  EXPECT_EQ(Build().Header("Last-Modified"), kMtimeDate);
}

TEST_F(FileResponseTest, DateFollowsTheClock) {
  EXPECT_EQ(Build().Header("Date"), kNowDate);
  BuildFileResponse(request_, info_, kType, kNow + 1, kMaxRanges, kBoundary,
                    true, &layout_);
  EXPECT_EQ(ParseWire(Render(layout_, content_)).Header("Date"),
            "Tue, 14 Nov 2023 22:13:21 GMT");
  EXPECT_EQ(Build().Header("Date"), kNowDate);
}

TEST_F(FileResponseTest, ConnectionClose) {
  EXPECT_EQ(Build(false).Header("Connection"), "close");
}

TEST_F(FileResponseTest, HeadHasGetHeadersButNoBody) {
  request_.method = Method::kHead;
  const Parsed r = Build();
  EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(r.Header("Content-Length"), "1000");
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(layout_.body_bytes, 0u);
  ASSERT_EQ(layout_.pieces.size(), 1u);
}

TEST_F(FileResponseTest, EmptyFile) {
  content_.clear();
  info_.size = 0;
  const Parsed r = Build();
  EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(r.Header("Content-Length"), "0");
  EXPECT_EQ(layout_.pieces.size(), 1u);  // no empty file piece
}

TEST_F(FileResponseTest, HugeFileOverFourGiB) {
  info_.size = 5ull << 30;
  request_.method = Method::kHead;
  Parsed r = Build();
  EXPECT_EQ(r.Header("Content-Length"), "5368709120");
  request_.method = Method::kGet;
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_);
  ASSERT_EQ(layout_.pieces.size(), 2u);
  EXPECT_EQ(layout_.pieces[1].length, 5ull << 30);
  EXPECT_EQ(layout_.body_bytes, 5ull << 30);
  request_.range = "bytes=4294967296-";
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_);
  EXPECT_EQ(layout_.status, 206);
  EXPECT_NE(layout_.text.find(
                "Content-Range: bytes 4294967296-5368709119/5368709120\r\n"),
            std::string::npos);
  EXPECT_NE(layout_.text.find("Content-Length: 1073741824\r\n"),
            std::string::npos);
  EXPECT_EQ(layout_.pieces[1].offset, 4294967296u);
  EXPECT_EQ(layout_.pieces[1].length, 1073741824u);
}

TEST_F(FileResponseTest, SingleRange) {
  request_.range = "bytes=10-19";
  const Parsed r = Build();
  EXPECT_EQ(layout_.status, 206);
  EXPECT_EQ(r.status_line, "HTTP/1.1 206 Partial Content");
  EXPECT_EQ(r.Header("Content-Range"), "bytes 10-19/1000");
  EXPECT_EQ(r.Header("Content-Length"), "10");
  EXPECT_EQ(r.Header("Content-Type"), kType);
  EXPECT_EQ(r.Header("ETag"), Etag());
  EXPECT_EQ(r.body, content_.substr(10, 10));
}

TEST_F(FileResponseTest, SuffixAndOpenEndedRanges) {
  request_.range = "bytes=-10";
  Parsed r = Build();
  EXPECT_EQ(r.Header("Content-Range"), "bytes 990-999/1000");
  EXPECT_EQ(r.body, content_.substr(990));
  request_.range = "bytes=995-";
  r = Build();
  EXPECT_EQ(r.Header("Content-Range"), "bytes 995-999/1000");
  EXPECT_EQ(r.body, content_.substr(995));
}

TEST_F(FileResponseTest, HeadRange) {
  request_.method = Method::kHead;
  request_.range = "bytes=10-19";
  const Parsed r = Build();
  EXPECT_EQ(r.status_line, "HTTP/1.1 206 Partial Content");
  EXPECT_EQ(r.Header("Content-Length"), "10");
  EXPECT_EQ(r.body, "");
}

TEST_F(FileResponseTest, MultipartByteExact) {
  request_.range = "bytes=0-4,990-";
  const Parsed r = Build();
  EXPECT_EQ(r.status_line, "HTTP/1.1 206 Partial Content");
  EXPECT_EQ(r.Header("Content-Type"),
            "multipart/byteranges; boundary=00000000000000000042");
  EXPECT_FALSE(r.Has("Content-Range"));
  const std::string expected =
      "\r\n--00000000000000000042\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Range: bytes 0-4/1000\r\n\r\n" +
      content_.substr(0, 5) +
      "\r\n--00000000000000000042\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Range: bytes 990-999/1000\r\n\r\n" +
      content_.substr(990) + "\r\n--00000000000000000042--\r\n";
  EXPECT_EQ(r.body, expected);
  // Part heads of 24 + 41 + (31 | 35) + 4 bytes, 15 file bytes, 28 closing.
  EXPECT_EQ(expected.size(), 100u + 104u + 15u + 28u);
  EXPECT_EQ(r.Header("Content-Length"), std::to_string(expected.size()));
  // Head, part head, file, part head, file, closing.
  ASSERT_EQ(layout_.pieces.size(), 5u);  // head and first part head merged
  EXPECT_EQ(layout_.pieces[1].kind, Piece::Kind::kFile);
  EXPECT_EQ(layout_.pieces[1].offset, 0u);
  EXPECT_EQ(layout_.pieces[1].length, 5u);
  EXPECT_EQ(layout_.pieces[3].kind, Piece::Kind::kFile);
  EXPECT_EQ(layout_.pieces[3].offset, 990u);
  EXPECT_EQ(layout_.pieces[3].length, 10u);
}

TEST_F(FileResponseTest, MultipartKeepsRequestOrder) {
  request_.range = "bytes=500-509,0-9";
  const Parsed r = Build();
  EXPECT_LT(r.body.find("bytes 500-509/1000"), r.body.find("bytes 0-9/1000"));
}

TEST_F(FileResponseTest, MultipartHeadSendsNoParts) {
  request_.range = "bytes=0-4,990-";
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_);
  const std::string get_length =
      ParseWire(Render(layout_, content_)).Header("Content-Length");
  request_.method = Method::kHead;
  const Parsed r = Build();
  EXPECT_EQ(r.Header("Content-Length"), get_length);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(layout_.pieces.size(), 1u);
}

TEST_F(FileResponseTest, OverlappingRangesCoalesceToSinglePart) {
  request_.range = "bytes=0-9,5-19";
  const Parsed r = Build();
  EXPECT_EQ(r.Header("Content-Range"), "bytes 0-19/1000");
  EXPECT_EQ(r.body, content_.substr(0, 20));
}

TEST_F(FileResponseTest, TooManyRangesServeWholeFile) {
  request_.range = "bytes=0-0,2-2,4-4";
  BuildFileResponse(request_, info_, kType, kNow, 2, kBoundary, true, &layout_);
  EXPECT_EQ(layout_.status, 200);
  EXPECT_EQ(layout_.body_bytes, 1000u);
}

TEST_F(FileResponseTest, UnsatisfiableRange) {
  request_.range = "bytes=1000-";
  const Parsed r = Build();
  EXPECT_EQ(layout_.status, 416);
  EXPECT_EQ(r.status_line, "HTTP/1.1 416 Range Not Satisfiable");
  EXPECT_EQ(r.Header("Content-Range"), "bytes */1000");
  EXPECT_EQ(r.Header("Content-Type"), "text/html");
  EXPECT_NE(r.body.find("416 Range Not Satisfiable"), std::string::npos);
}

TEST_F(FileResponseTest, EmptyFileWithRangeIs416) {
  content_.clear();
  info_.size = 0;
  request_.range = "bytes=0-";
  const Parsed r = Build();
  EXPECT_EQ(layout_.status, 416);
  EXPECT_EQ(r.Header("Content-Range"), "bytes */0");
}

TEST_F(FileResponseTest, InvalidRangeIsIgnored) {
  request_.range = "lines=1-2";
  EXPECT_EQ(Build().status_line, "HTTP/1.1 200 OK");
  request_.range = "bytes=9-1";
  EXPECT_EQ(Build().status_line, "HTTP/1.1 200 OK");
}

TEST_F(FileResponseTest, IfRange) {
  const std::string_view etag = Keep(Etag());
  const std::string_view weak = Keep("W/" + Etag());
  request_.range = "bytes=0-9";
  request_.if_range = etag;
  EXPECT_EQ((Build(), layout_.status), 206);
  request_.if_range = weak;  // weak tags never match
  EXPECT_EQ((Build(), layout_.status), 200);
  request_.if_range = "\"other\"";
  EXPECT_EQ((Build(), layout_.status), 200);
  request_.if_range = kMtimeDate;
  EXPECT_EQ((Build(), layout_.status), 206);
  request_.if_range = "Sun, 13 Sep 2020 12:26:41 GMT";  // later: no match
  EXPECT_EQ((Build(), layout_.status), 200);
  request_.if_range = "Sun, 13 Sep 2020 12:26:39 GMT";
  EXPECT_EQ((Build(), layout_.status), 200);
  request_.if_range = "garbage";
  EXPECT_EQ((Build(), layout_.status), 200);
  request_.if_range = etag;
  request_.range = "bytes=5000-";  // If-Range holds, Range unsatisfiable
  EXPECT_EQ((Build(), layout_.status), 416);
  request_.if_range = "\"other\"";  // If-Range fails: no 416 either
  EXPECT_EQ((Build(), layout_.status), 200);
}

TEST_F(FileResponseTest, IfMatch) {
  request_.if_match = Keep(Etag());
  EXPECT_EQ((Build(), layout_.status), 200);
  request_.if_match = "*";
  EXPECT_EQ((Build(), layout_.status), 200);
  request_.if_match = Keep("\"x\", " + Etag());
  EXPECT_EQ((Build(), layout_.status), 200);
  request_.if_match = Keep("W/" + Etag());  // strong comparison
  const Parsed r = Build();
  EXPECT_EQ(layout_.status, 412);
  EXPECT_EQ(r.status_line, "HTTP/1.1 412 Precondition Failed");
  request_.if_match = "\"x\"";
  EXPECT_EQ((Build(), layout_.status), 412);
}

TEST_F(FileResponseTest, IfUnmodifiedSince) {
  request_.if_unmodified_since = kMtimeDate;  // not modified since: pass
  EXPECT_EQ((Build(), layout_.status), 200);
  request_.if_unmodified_since = "Sun, 13 Sep 2020 12:26:39 GMT";
  EXPECT_EQ((Build(), layout_.status), 412);
  request_.if_unmodified_since = "not a date";  // ignored
  EXPECT_EQ((Build(), layout_.status), 200);
  // If-Match takes precedence over If-Unmodified-Since.
  request_.if_match = Keep(Etag());
  request_.if_unmodified_since = "Sun, 13 Sep 2020 12:26:39 GMT";
  EXPECT_EQ((Build(), layout_.status), 200);
}

TEST_F(FileResponseTest, IfNoneMatch) {
  request_.if_none_match = Keep(Etag());
  Parsed r = Build();
  EXPECT_EQ(layout_.status, 304);
  EXPECT_EQ(r.status_line, "HTTP/1.1 304 Not Modified");
  EXPECT_EQ(r.Header("ETag"), Etag());
  EXPECT_EQ(r.Header("Last-Modified"), kMtimeDate);
  EXPECT_FALSE(r.Has("Content-Length"));
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(layout_.pieces.size(), 1u);
  request_.if_none_match = Keep("W/" + Etag());  // weak comparison
  EXPECT_EQ((Build(), layout_.status), 304);
  request_.if_none_match = Keep("\"a\",W/\"b\" , " + Etag());
  EXPECT_EQ((Build(), layout_.status), 304);
  request_.if_none_match = "*";
  EXPECT_EQ((Build(), layout_.status), 304);
  request_.if_none_match = "\"a\", \"b\"";
  EXPECT_EQ((Build(), layout_.status), 200);
  request_.if_none_match = Keep(Etag().substr(1));  // malformed
  EXPECT_EQ((Build(), layout_.status), 200);
}

TEST_F(FileResponseTest, IfModifiedSince) {
  request_.if_modified_since = kMtimeDate;
  EXPECT_EQ((Build(), layout_.status), 304);
  request_.if_modified_since = "Sunday, 13-Sep-20 12:26:40 GMT";
  EXPECT_EQ((Build(), layout_.status), 304);
  request_.if_modified_since = "Sun Sep 13 12:26:40 2020";
  EXPECT_EQ((Build(), layout_.status), 304);
  request_.if_modified_since = "Sun, 13 Sep 2020 12:26:39 GMT";  // older
  EXPECT_EQ((Build(), layout_.status), 200);
  request_.if_modified_since = "yesterday";
  EXPECT_EQ((Build(), layout_.status), 200);
  // If-None-Match takes precedence: a non-matching tag means 200.
  request_.if_modified_since = kMtimeDate;
  request_.if_none_match = "\"other\"";
  EXPECT_EQ((Build(), layout_.status), 200);
}

TEST_F(FileResponseTest, PreconditionOrder) {
  // 412 from If-Match wins over 304 from If-None-Match.
  request_.if_match = "\"x\"";
  request_.if_none_match = Keep(Etag());
  EXPECT_EQ((Build(), layout_.status), 412);
  // 304 wins over Range.
  request_.if_match = {};
  request_.range = "bytes=0-9";
  EXPECT_EQ((Build(), layout_.status), 304);
  // 412 wins over an unsatisfiable Range.
  request_.if_none_match = {};
  request_.if_unmodified_since = "Sat, 01 Jan 2000 00:00:00 GMT";
  request_.range = "bytes=5000-";
  EXPECT_EQ((Build(), layout_.status), 412);
}

TEST_F(FileResponseTest, HeadNotModified) {
  request_.method = Method::kHead;
  request_.if_none_match = Keep(Etag());
  EXPECT_EQ((Build(), layout_.status), 304);
}

TEST_F(FileResponseTest, BuffersAreReused) {
  request_.range = "bytes=0-4,10-14,20-24,30-34";
  Build();
  const char* text = layout_.text.data();
  const Piece* pieces = layout_.pieces.data();
  request_.range = "bytes=0-4,10-14";
  Build();
  EXPECT_EQ(layout_.text.data(), text);
  EXPECT_EQ(layout_.pieces.data(), pieces);
}

Parsed BuildStatus(int status, bool head_only = false,
                   std::string_view location = {}, std::uint64_t size = 0) {
  ResponseLayout layout;
  BuildStatusResponse(status, head_only, kNow, false, location, size, &layout);
  EXPECT_EQ(layout.status, status);
  Parsed parsed = ParseWire(Render(layout, {}));
  EXPECT_EQ(layout.body_bytes, parsed.body.size());
  EXPECT_EQ(parsed.Header("Server"), "ferry");
  EXPECT_EQ(parsed.Header("Date"), kNowDate);
  EXPECT_EQ(parsed.Header("Connection"), "close");
  return parsed;
}

TEST(StatusResponse, NotFoundBody) {
  const Parsed r = BuildStatus(404);
  EXPECT_EQ(r.status_line, "HTTP/1.1 404 Not Found");
  EXPECT_EQ(r.Header("Content-Type"), "text/html");
  const std::string body =
      "<html><head><title>404 Not Found</title></head><body><h1>404 Not "
      "Found</h1></body></html>\n";
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.Header("Content-Length"), std::to_string(body.size()));
  EXPECT_FALSE(r.Has("Allow"));
  EXPECT_FALSE(r.Has("Location"));
}

TEST(StatusResponse, EveryErrorStatus) {
  for (int status :
       {400, 403, 404, 405, 408, 412, 414, 416, 431, 500, 501, 503, 505}) {
    const Parsed r = BuildStatus(status);
    const std::string title =
        std::to_string(status) + " " + std::string(ReasonPhrase(status));
    EXPECT_EQ(r.status_line, "HTTP/1.1 " + title);
    EXPECT_NE(r.body.find("<title>" + title + "</title>"), std::string::npos);
    EXPECT_EQ(r.Header("Content-Length"), std::to_string(r.body.size()));
  }
}

TEST(StatusResponse, HeadOnlyKeepsContentLength) {
  const Parsed get = BuildStatus(404);
  const Parsed head = BuildStatus(404, true);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.Header("Content-Length"), get.Header("Content-Length"));
}

TEST(StatusResponse, MethodNotAllowedHasAllow) {
  EXPECT_EQ(BuildStatus(405).Header("Allow"), "GET, HEAD, OPTIONS");
}

TEST(StatusResponse, NoContentHasNoBodyAndTheCallersFields) {
  ResponseLayout layout;
  layout.fields = "Allow: GET, HEAD, OPTIONS\r\n";
  BuildStatusResponse(204, false, kNow, true, {}, 0, &layout);
  const Parsed r = ParseWire(Render(layout, {}));
  EXPECT_EQ(r.status_line, "HTTP/1.1 204 No Content");
  EXPECT_EQ(r.Header("Allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(r.Header("Content-Length"), "<absent>");
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(layout.body_bytes, 0u);
}

TEST(StatusResponse, ServerFieldIsTheLayoutsOrNone) {
  ResponseLayout layout;
  layout.server = "ferry/1 (test)";
  BuildStatusResponse(404, false, kNow, true, {}, 0, &layout);
  EXPECT_EQ(ParseWire(Render(layout, {})).Header("Server"), "ferry/1 (test)");
  layout.server = {};
  BuildStatusResponse(404, false, kNow, true, {}, 0, &layout);
  EXPECT_EQ(layout.text.find("Server"), std::string::npos) << layout.text;
}

TEST(StatusResponse, Redirect) {
  const Parsed r = BuildStatus(301, false, "/dir/?q=1");
  EXPECT_EQ(r.status_line, "HTTP/1.1 301 Moved Permanently");
  EXPECT_EQ(r.Header("Location"), "/dir/?q=1");
}

TEST(StatusResponse, RangeNotSatisfiable) {
  EXPECT_EQ(BuildStatus(416, false, {}, 6ull << 30).Header("Content-Range"),
            "bytes */6442450944");
}

TEST(StatusResponse, KeepAlive) {
  ResponseLayout layout;
  BuildStatusResponse(404, false, kNow, true, {}, 0, &layout);
  EXPECT_NE(layout.text.find("\r\nConnection: keep-alive\r\n"),
            std::string::npos);
}

TEST(StatusResponse, SinglePieceOfText) {
  ResponseLayout layout;
  BuildStatusResponse(404, false, kNow, true, {}, 0, &layout);
  ASSERT_EQ(layout.pieces.size(), 1u);
  EXPECT_EQ(layout.pieces[0].kind, Piece::Kind::kText);
  EXPECT_EQ(layout.pieces[0].length, layout.text.size());
}

TEST(ReasonPhrase, Known) {
  EXPECT_EQ(ReasonPhrase(200), "OK");
  EXPECT_EQ(ReasonPhrase(206), "Partial Content");
  EXPECT_EQ(ReasonPhrase(304), "Not Modified");
  EXPECT_EQ(ReasonPhrase(414), "URI Too Long");
  EXPECT_EQ(ReasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(ReasonPhrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(ReasonPhrase(299), "Unknown");
}

TEST_F(FileResponseTest, ReusedLayoutAllocatesNothing) {
  request_.range = "bytes=0-4,10-14,20-24";
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_);
  const AllocationCounter counter;
  for (int i = 0; i < 3; ++i) {
    BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                      &layout_);
  }
  request_.range = {};
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_);
  BuildStatusResponse(404, false, kNow, true, {}, 0, &layout_);
  EXPECT_EQ(counter.count(), 0);
}

TEST(StatusForOpenError, NamesEachErrnoClass) {
  EXPECT_EQ(StatusForOpenError(-ENOENT), 404);
  EXPECT_EQ(StatusForOpenError(-ENOTDIR), 404);
  EXPECT_EQ(StatusForOpenError(-EXDEV), 404);  // left the root
  EXPECT_EQ(StatusForOpenError(-ELOOP), 404);
  EXPECT_EQ(StatusForOpenError(-EACCES), 403);
  EXPECT_EQ(StatusForOpenError(-EPERM), 403);
  EXPECT_EQ(StatusForOpenError(-EMFILE), 503);
  EXPECT_EQ(StatusForOpenError(-ENOMEM), 503);
  EXPECT_EQ(StatusForOpenError(-EIO), 500);
}

TEST(BuildDirectoryRedirect, EncodesThePathAndKeepsTheQuery) {
  Request request;
  request.method = Method::kGet;
  request.path = "a dir//x";  // decoded: a space, and what was "%2F%2F"
  request.query = "q=1";
  std::string scratch;
  ResponseLayout layout;
  BuildDirectoryRedirect(request, kNow, true, &scratch, &layout);
  EXPECT_EQ(layout.status, 301);
  EXPECT_NE(layout.text.find("\r\nLocation: /a%20dir"), std::string::npos)
      << layout.text;
  EXPECT_NE(layout.text.find("/?q=1\r\n"), std::string::npos) << layout.text;
  // Never a "//host" a browser would follow off-site.
  EXPECT_EQ(layout.text.find("Location: //"), std::string::npos);
}

TEST_F(FileResponseTest, AVariantCarriesContentEncodingButNotIn304) {
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_, {}, "br");
  Parsed whole = ParseWire(Render(layout_, content_));
  EXPECT_EQ(whole.Header("Content-Encoding"), "br");
  EXPECT_EQ(whole.Header("Content-Type"), kType);
  const std::string etag = whole.Header("ETag");
  EXPECT_EQ(etag.substr(etag.size() - 4), "-br\"");
  // The cached fields say the same.
  EXPECT_EQ(
      WholeFileFields(info_, kType, "br").find("Content-Encoding: br\r\n"),
      WholeFileFields(info_, kType, "br").find("\r\n") + 2);
  EXPECT_NE(WholeFileFields(info_, kType, "br").find(etag), std::string::npos);
  request_.range = "bytes=0-9";
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_, {}, "br");
  Parsed part = ParseWire(Render(layout_, content_));
  EXPECT_EQ(part.status_line, "HTTP/1.1 206 Partial Content");
  EXPECT_EQ(part.Header("Content-Encoding"), "br");
  EXPECT_EQ(part.body, content_.substr(0, 10));
  request_.range = {};
  request_.if_none_match = etag;
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_, {}, "br");
  Parsed not_modified = ParseWire(Render(layout_, content_));
  EXPECT_EQ(not_modified.status_line, "HTTP/1.1 304 Not Modified");
  EXPECT_FALSE(not_modified.Has("Content-Encoding"));
  EXPECT_EQ(not_modified.Header("ETag"), etag);
  // The identity's tag does not match the variant's.
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_);
  EXPECT_EQ(ParseWire(Render(layout_, content_)).status_line,
            "HTTP/1.1 200 OK");
}

TEST_F(FileResponseTest, CallersFieldsGoIntoEveryResponse) {
  layout_.fields = "Cache-Control: no-cache\r\nX-A: 1\r\n";
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_);
  EXPECT_NE(layout_.text.find("\r\nCache-Control: no-cache\r\nX-A: 1\r\n"
                              "Connection: keep-alive\r\n\r\n"),
            std::string::npos)
      << layout_.text;
  request_.range = "bytes=0-1,4-5";
  BuildFileResponse(request_, info_, kType, kNow, kMaxRanges, kBoundary, true,
                    &layout_);
  EXPECT_NE(layout_.text.find("X-A: 1\r\n"), std::string::npos);
  BuildStatusResponse(404, false, kNow, false, {}, 0, &layout_);
  EXPECT_NE(layout_.text.find("X-A: 1\r\nConnection: close\r\n"),
            std::string::npos);
  BuildErrorPageResponse(404, false, info_, kType, kNow, true, &layout_);
  EXPECT_NE(layout_.text.find("X-A: 1\r\n"), std::string::npos);
  EXPECT_EQ(layout_.fields, "Cache-Control: no-cache\r\nX-A: 1\r\n");
}

}  // namespace
}  // namespace ferry

#include "http_request.h"

#include <gtest/gtest.h>

#include <string>

#include "allocation_counter.h"
namespace ferry {
namespace {

using Kind = ParseResult::Kind;
using namespace std::string_literals;

class ParseRequestTest : public ::testing::Test {
 protected:
  ParseResult Parse(std::string_view input) {
    return ParseRequest(input, limits_, &request_);
  }
  // The status of a complete head that must be refused.
  int ErrorOf(std::string_view input) {
    const ParseResult r = Parse(input);
    EXPECT_EQ(r.kind, Kind::kError) << input;
    return r.status;
  }
  void ExpectDone(std::string_view input) {
    const ParseResult r = Parse(input);
    EXPECT_EQ(r.kind, Kind::kDone) << input << " status " << r.status;
    EXPECT_EQ(r.consumed, input.size()) << input;
  }

  RequestLimits limits_;
  Request request_;
};

TEST_F(ParseRequestTest, SimpleGet) {
  const std::string input =
      "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
  ExpectDone(input);
  EXPECT_EQ(request_.method, Method::kGet);
  EXPECT_EQ(request_.version_minor, 1);
  EXPECT_EQ(request_.path, "index.html");
  EXPECT_FALSE(request_.directory_form);
  EXPECT_TRUE(request_.keep_alive);
  EXPECT_EQ(request_.raw_path, "/index.html");
  EXPECT_EQ(request_.query, "");
  EXPECT_EQ(request_.host, "example.com");
  EXPECT_TRUE(request_.range.empty());
  EXPECT_TRUE(request_.if_none_match.empty());
}

TEST_F(ParseRequestTest, ViewsPointIntoInput) {
  const std::string input = "GET /a?b HTTP/1.1\r\nHost: h\r\n\r\n";
  ExpectDone(input);
  EXPECT_EQ(request_.raw_path.data(), input.data() + 4);
  EXPECT_EQ(request_.host.data(), input.data() + input.find("h\r"));
}

TEST_F(ParseRequestTest, Head) {
  ExpectDone("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(request_.method, Method::kHead);
  EXPECT_EQ(request_.path, "");
  EXPECT_TRUE(request_.directory_form);
}

TEST_F(ParseRequestTest, BareLfLineEndings) {
  ExpectDone("GET /x HTTP/1.1\nHost: h\n\n");
  EXPECT_EQ(request_.path, "x");
  ExpectDone("GET /x HTTP/1.1\r\nHost: h\n\r\n");
}

TEST_F(ParseRequestTest, LeadingEmptyLinesAreSkipped) {
  ExpectDone("\r\n\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(request_.path, "x");
}

TEST_F(ParseRequestTest, IncompleteUntilHeadEnds) {
  const std::string input = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
  for (std::size_t n = 0; n < input.size(); ++n) {
    EXPECT_EQ(Parse(std::string_view(input).substr(0, n)).kind,
              Kind::kIncomplete)
        << n;
  }
  ExpectDone(input);
}

TEST_F(ParseRequestTest, EmptyInputIsIncomplete) {
  EXPECT_EQ(Parse(std::string_view()).kind, Kind::kIncomplete);
  EXPECT_EQ(Parse("\r\n").kind, Kind::kIncomplete);
}

TEST_F(ParseRequestTest, PipelinedRequestsConsumeOneAtATime) {
  const std::string input =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: "
      "h\r\n\r\nGET";
  ParseResult r = Parse(input);
  ASSERT_EQ(r.kind, Kind::kDone);
  EXPECT_EQ(request_.path, "a");
  std::string_view rest = std::string_view(input).substr(r.consumed);
  r = Parse(rest);
  ASSERT_EQ(r.kind, Kind::kDone);
  EXPECT_EQ(request_.method, Method::kHead);
  EXPECT_EQ(request_.path, "b");
  EXPECT_EQ(Parse(rest.substr(r.consumed)).kind, Kind::kIncomplete);
}

TEST_F(ParseRequestTest, PathCapacityIsReused) {
  ExpectDone(
      "GET /a/long/enough/path/to/leave/the/small/buffer HTTP/1.1\r\nHost: "
      "h\r\n\r\n");
  const char* buffer = request_.path.data();
  const std::size_t capacity = request_.path.capacity();
  ExpectDone("GET /short HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(request_.path, "short");
  EXPECT_EQ(request_.path.data(), buffer);
  EXPECT_EQ(request_.path.capacity(), capacity);
}

TEST_F(ParseRequestTest, FieldsAreResetBetweenRequests) {
  ExpectDone("GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n\r\n");
  EXPECT_EQ(request_.range, "bytes=0-1");
  ExpectDone("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(request_.range.empty());
}

TEST_F(ParseRequestTest, ConditionalAndRangeFields) {
  ExpectDone(
      "GET /f HTTP/1.1\r\n"
      "host: h\r\n"
      "RANGE: bytes=0-9\r\n"
      "If-Match:  \"a\"  \r\n"
      "if-none-match:\t\"b\", W/\"c\"\r\n"
      "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
      "If-Unmodified-Since: Mon, 07 Nov 1994 08:49:37 GMT\r\n"
      "If-Range: \"d\"\r\n"
      "X-Other: whatever\r\n"
      "\r\n");
  EXPECT_EQ(request_.host, "h");
  EXPECT_EQ(request_.range, "bytes=0-9");
  EXPECT_EQ(request_.if_match, "\"a\"");
  EXPECT_EQ(request_.if_none_match, "\"b\", W/\"c\"");
  EXPECT_EQ(request_.if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(request_.if_unmodified_since, "Mon, 07 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(request_.if_range, "\"d\"");
}

TEST_F(ParseRequestTest, RepeatedSingletonFieldsBecomeInvalid) {
  ExpectDone(
      "GET /f HTTP/1.1\r\nHost: h\r\n"
      "If-Range: \"a\"\r\nIf-Range: \"a\"\r\n"
      "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
      "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
  EXPECT_NE(request_.if_range, "\"a\"");
  EXPECT_FALSE(request_.if_range.empty());
  EXPECT_NE(request_.if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT");
}

// RFC 9110 section 5.3: repeated lines of a list field are one list.
TEST_F(ParseRequestTest, RepeatedListFieldsAreJoined) {
  ExpectDone(
      "GET /f HTTP/1.1\r\nHost: h\r\n"
      "If-None-Match: \"a\"\r\nX-Other: \"z\"\r\nif-none-match: \"b\", "
      "\"c\"\r\n"
      "If-Match: \"d\"\r\nIf-Match: \"e\"\r\nIf-Match: \"f\"\r\n"
      "X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n"
      "x-forwarded-for:\t10.0.0.2 \r\n\r\n");
  EXPECT_EQ(request_.if_none_match, "\"a\", \"b\", \"c\"");
  EXPECT_EQ(request_.if_match, "\"d\", \"e\", \"f\"");
  // In order: the later line is the nearer proxy's (forwarded_for.h).
  EXPECT_EQ(request_.x_forwarded_for, "198.51.100.1, 203.0.113.7, 10.0.0.2");
  // A single line still views the input; the next request starts afresh.
  const std::string input =
      "GET /f HTTP/1.1\r\nHost: h\r\nIf-Match: \"g\"\r\n\r\n";
  ExpectDone(input);
  EXPECT_EQ(request_.if_match, "\"g\"");
  EXPECT_EQ(request_.if_match.data(), input.data() + input.find("\"g\""));
  EXPECT_TRUE(request_.if_none_match.empty());
  EXPECT_TRUE(request_.x_forwarded_for.empty());
}

TEST_F(ParseRequestTest, AcceptEncodingLinesAreJoined) {
  ExpectDone(
      "GET /f HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n"
      "accept-encoding: br;q=0.5\r\n\r\n");
  EXPECT_EQ(request_.accept_encoding, "gzip, br;q=0.5");
  ExpectDone("GET /f HTTP/1.1\r\nHost: h\r\nAccept-Encoding: zstd\r\n\r\n");
  EXPECT_EQ(request_.accept_encoding, "zstd");
  ExpectDone("GET /f HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(request_.accept_encoding.empty());
}

TEST_F(ParseRequestTest, RealIpIsOneAddress) {
  ExpectDone("GET /f HTTP/1.1\r\nHost: h\r\nX-REAL-IP: [::1]:80 \r\n\r\n");
  EXPECT_EQ(request_.x_real_ip, "[::1]:80");
  // Repeated, it is no address.
  ExpectDone(
      "GET /f HTTP/1.1\r\nHost: h\r\nX-Real-IP: 203.0.113.9\r\n"
      "x-real-ip: 198.51.100.1\r\n\r\n");
  EXPECT_EQ(request_.x_real_ip, "invalid");
  // Present but empty is not absent.
  ExpectDone("GET /f HTTP/1.1\r\nHost: h\r\nX-Real-IP:\r\n\r\n");
  EXPECT_NE(request_.x_real_ip.data(), nullptr);
  EXPECT_TRUE(request_.x_real_ip.empty());
}

TEST_F(ParseRequestTest, EmptyIfRangeIsNotAbsent) {
  ExpectDone("GET /f HTTP/1.1\r\nHost: h\r\nIf-Range:\r\n\r\n");
  EXPECT_FALSE(request_.if_range.empty());
}

TEST_F(ParseRequestTest, Query) {
  ExpectDone("GET /a/b?x=1&y=%20?z HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(request_.raw_path, "/a/b");
  EXPECT_EQ(request_.query, "x=1&y=%20?z");
  EXPECT_EQ(request_.path, "a/b");
  ExpectDone("GET /?a HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(request_.raw_path, "/");
  EXPECT_EQ(request_.query, "a");
}

TEST_F(ParseRequestTest, AbsoluteFormTakesHostFromTarget) {
  ExpectDone(
      "GET http://example.com:8080/a/b?q HTTP/1.1\r\nHost: other\r\n\r\n");
  EXPECT_EQ(request_.host, "example.com:8080");
  EXPECT_EQ(request_.raw_path, "/a/b");
  EXPECT_EQ(request_.query, "q");
  EXPECT_EQ(request_.path, "a/b");
  ExpectDone("GET HTTP://example.com HTTP/1.0\r\n\r\n");
  EXPECT_EQ(request_.host, "example.com");
  EXPECT_EQ(request_.path, "");
  EXPECT_TRUE(request_.directory_form);
}

TEST_F(ParseRequestTest, BadTargets) {
  EXPECT_EQ(ErrorOf("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"s), 400);
}

TEST_F(ParseRequestTest, PercentDecoding) {
  ExpectDone("GET /a%20b/%C3%A9%2e%2E%5c HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(request_.path, "a b/\xC3\xA9..\\");
  EXPECT_EQ(request_.raw_path, "/a%20b/%C3%A9%2e%2E%5c");
}

TEST_F(ParseRequestTest, BadPercentEncodingIs400) {
  EXPECT_EQ(ErrorOf("GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /a% HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST_F(ParseRequestTest, DotDotAboveRootIs400) {
  EXPECT_EQ(ErrorOf("GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /a/../../b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /%2e%2e/b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /a%2f..%2f..%2fb HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST_F(ParseRequestTest, HttpVersions) {
  ExpectDone("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(request_.version_minor, 0);
  EXPECT_FALSE(request_.keep_alive);
  EXPECT_EQ(ErrorOf("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(ErrorOf("GET / HTTP/3.0\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(ErrorOf("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(ErrorOf("GET /\r\n\r\n"), 400);  // HTTP/0.9 style
  EXPECT_EQ(ErrorOf("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / http/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / FTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

// RFC 9110 section 2.5: a higher minor version of HTTP/1 is processed as
// the highest one ferryd conforms to, 1.1 (and needs a Host as 1.1 does).
TEST_F(ParseRequestTest, HigherMinorVersionIsReadAsHttp11) {
  for (std::string_view version : {"HTTP/1.2", "HTTP/1.9"}) {
    ExpectDone("GET / " + std::string(version) + "\r\nHost: h\r\n\r\n");
    EXPECT_EQ(request_.version_minor, 1);
    EXPECT_TRUE(request_.keep_alive);
    EXPECT_EQ(ErrorOf("GET / " + std::string(version) + "\r\n\r\n"), 400);
  }
}

TEST_F(ParseRequestTest, Methods) {
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\n\r\n"), 405);
  EXPECT_EQ(ErrorOf("get / HTTP/1.1\r\nHost: h\r\n\r\n"), 405);
  EXPECT_EQ(ErrorOf("options / HTTP/1.1\r\nHost: h\r\n\r\n"), 405);
  EXPECT_EQ(ErrorOf("BREW / HTTP/1.1\r\nHost: h\r\n\r\n"), 405);
  EXPECT_EQ(ErrorOf("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

// A method ferryd does not serve has its target judged and split as GET's
// (--ssl-redirect names it in a 308) before its 405.
TEST_F(ParseRequestTest, AnotherMethodsTargetIsJudgedAndKept) {
  EXPECT_EQ(ErrorOf("POST /a%20b/c?x=1 HTTP/1.1\r\nHost: h:80\r\n\r\n"), 405);
  EXPECT_EQ(request_.raw_path, "/a%20b/c");
  EXPECT_EQ(request_.query, "x=1");
  EXPECT_EQ(request_.path, "a b/c");
  EXPECT_EQ(request_.host, "h:80");
  EXPECT_EQ(ErrorOf("PUT http://a.example/x HTTP/1.1\r\nHost: h\r\n\r\n"), 405);
  EXPECT_EQ(request_.host, "a.example");
  EXPECT_EQ(request_.raw_path, "/x");
  EXPECT_EQ(ErrorOf("POST * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST /%00 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST /../x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), 400);
}

TEST_F(ParseRequestTest, OptionsForAPathAndAsteriskForm) {
  ExpectDone("OPTIONS /data/a.bin?x HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(request_.method, Method::kOptions);
  EXPECT_FALSE(request_.asterisk_form);
  EXPECT_EQ(request_.path, "data/a.bin");
  ExpectDone("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(request_.method, Method::kOptions);
  EXPECT_TRUE(request_.asterisk_form);
  EXPECT_EQ(request_.path, "");
  EXPECT_EQ(request_.raw_path, "");
  // The next request starts afresh.
  ExpectDone("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_FALSE(request_.asterisk_form);
  // "*" is OPTIONS's alone (RFC 9112 section 3.2.4).
  EXPECT_EQ(ErrorOf("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("HEAD * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("OPTIONS ** HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("OPTIONS * HTTP/1.1\r\n\r\n"), 400);  // no Host
  // No body is read: one is refused as GET's is; chunked is still 501.
  EXPECT_EQ(ErrorOf("OPTIONS * HTTP/1.1\r\nHost: h\r\n"
                    "Content-Length: 3\r\n\r\n"),
            400);
  EXPECT_EQ(ErrorOf("OPTIONS /a HTTP/1.1\r\nHost: h\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"),
            501);
  ExpectDone("OPTIONS /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
}

TEST_F(ParseRequestTest, CorsFields) {
  const std::string input =
      "OPTIONS /a HTTP/1.1\r\nHost: h\r\n"
      "origin: https://app.example\r\n"
      "Access-Control-Request-Method: GET\r\n"
      "Access-Control-Request-Headers: range\r\n"
      "ACCESS-CONTROL-REQUEST-HEADERS: if-none-match\r\n\r\n";
  ExpectDone(input);
  EXPECT_EQ(request_.origin, "https://app.example");
  EXPECT_EQ(request_.access_control_request_method, "GET");
  EXPECT_EQ(request_.access_control_request_headers, "range, if-none-match");
  ExpectDone(
      "GET /a HTTP/1.1\r\nHost: h\r\nOrigin: http://a\r\n"
      "Origin: http://b\r\n\r\n");
  EXPECT_EQ(request_.origin, "invalid");  // repeated: matches no origin
  EXPECT_TRUE(request_.access_control_request_method.empty());
  EXPECT_TRUE(request_.access_control_request_headers.empty());
}

TEST_F(ParseRequestTest, HostRules) {
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET http://h/ HTTP/1.1\r\n\r\n"), 400);
}

// RFC 9112 section 3.2: a Host field value that is no uri-host [":" port]
// is 400, on any version, and so is an empty one (an http URI's host is
// never empty, RFC 9110 section 4.2.1).
TEST_F(ParseRequestTest, InvalidHostIs400) {
  for (std::string_view host :
       {"", "a b", "a/b", "a, b", "[::1", "::1]", "[::1]x", "h:8x", "h:-1",
        "u@h", "a%2", "a%zz", "[v1.]", "[vz.a]", "[::g]", "h?", "h#", "\"h\"",
        "a\\b"}) {
    for (std::string_view version : {"1.1", "1.0"}) {
      const std::string input = "GET / HTTP/" + std::string(version) +
                                "\r\nHost: " + std::string(host) + "\r\n\r\n";
      EXPECT_EQ(ErrorOf(input), 400) << input;
    }
  }
}

TEST_F(ParseRequestTest, ValidHostsAreAccepted) {
  for (std::string_view host :
       {"h", "example.com", "example.com:8080", "h:", "127.0.0.1:80", "[::1]",
        "[::1]:8080", "[2001:db8::7]", "[::ffff:192.0.2.1]", "[v7.x:y]",
        "xn--bcher-kva.example", "a%20b", "a-b_c~d!$&'()*+,;=", "1.2.3.4.5"}) {
    // request_.host points into the input: keep it alive for the check.
    const std::string input =
        "GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n";
    ExpectDone(input);
    EXPECT_EQ(request_.host, host);
  }
}

TEST_F(ParseRequestTest, InvalidAbsoluteFormAuthorityIs400) {
  for (std::string_view authority :
       {"[::1", "a%zz", "h:x", "a,b@c", "h:8:8", "[::1]8"}) {
    const std::string input = "GET http://" + std::string(authority) +
                              "/ HTTP/1.1\r\nHost: h\r\n\r\n";
    EXPECT_EQ(ErrorOf(input), 400) << input;
  }
  ExpectDone("GET http://[::1]:8080/x HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(request_.host, "[::1]:8080");
}

TEST_F(ParseRequestTest, ContentLengthAndTransferEncoding) {
  ExpectDone("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"),
            400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n"),
            400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
                    "Content-Length: 0\r\n\r\n"),
            400);
  EXPECT_EQ(
      ErrorOf(
          "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"),
      501);
  EXPECT_EQ(
      ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"),
      501);
  EXPECT_EQ(
      ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
              "Content-Length: 0\r\n\r\n"),
      400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"),
            400);
}

// Content-Length = 1*DIGIT: leading zeros are still zero.
TEST_F(ParseRequestTest, ContentLengthWithLeadingZerosIsZero) {
  ExpectDone("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 00\r\n\r\n");
  ExpectDone("HEAD / HTTP/1.1\r\nHost: h\r\nContent-Length: 000\r\n\r\n");
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n"),
            400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"),
            400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +0\r\n\r\n"),
            400);
}

// Every method's framing is judged as GET's is (400, 501) before a method
// other than GET/HEAD gets its 405; a body that is framed well is no
// reason for a 400 then.
TEST_F(ParseRequestTest, FramingIsJudgedBefore405) {
  struct Case {
    std::string_view fields;
    int status;
  };
  for (const Case& c : {
           Case{"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400},
           Case{"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400},
           Case{"Content-Length: x\r\n", 400},
           Case{"Content-Length: -1\r\n", 400},
           Case{"Content-Length: 1\r\nContent-Length: 1\r\n", 400},
           Case{"Transfer-Encoding: chunked\r\n", 501},
           Case{"Transfer-Encoding: gzip\r\n", 501},
           Case{"Host: h\r\n", 400},  // a second Host
           Case{"Content-Length: 5\r\n", 405},
           Case{"Content-Length: 0\r\n", 405},
           Case{"", 405},
       }) {
    for (std::string_view method : {"POST", "PUT", "DELETE", "PATCH"}) {
      const std::string input = std::string(method) +
                                " / HTTP/1.1\r\nHost: h\r\n" +
                                std::string(c.fields) + "\r\n";
      EXPECT_EQ(ErrorOf(input), c.status) << input;
    }
  }
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\n\r\n"), 400);  // no Host
  // 405 waits for the end of the head like any other answer.
  EXPECT_EQ(Parse("POST / HTTP/1.1\r\nHost: h\r\n").kind, Kind::kIncomplete);
}

TEST_F(ParseRequestTest, Connection) {
  ExpectDone("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_FALSE(request_.keep_alive);
  ExpectDone("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n");
  EXPECT_FALSE(request_.keep_alive);
  ExpectDone("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n");
  EXPECT_TRUE(request_.keep_alive);
  ExpectDone("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  EXPECT_TRUE(request_.keep_alive);
  ExpectDone(
      "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
  EXPECT_FALSE(request_.keep_alive);
  ExpectDone("GET / HTTP/1.0\r\n\r\n");
  EXPECT_FALSE(request_.keep_alive);
}

TEST_F(ParseRequestTest, MalformedFields) {
  // Space or tab between name and colon.
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n"), 400);
  // obs-fold.
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\t2\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), 400);
  // No colon, empty name, bad token.
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nX(Y): v\r\n\r\n"), 400);
  // Control characters in a value; HTAB and obs-text are fine.
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01"
                    "b\r\n\r\n"),
            400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nX: a\0\r\n\r\n"s), 400);
  ExpectDone("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb \xE2\x82\xAC\r\n\r\n");
}

TEST_F(ParseRequestTest, BareCrIs400) {
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\rHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), 400);
  EXPECT_EQ(ErrorOf("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  // Already refused before the head is complete.
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\rX"), 400);
  EXPECT_EQ(ErrorOf("GET /\rx"), 400);
  // A CR at the very end may still be followed by its LF.
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r").kind, Kind::kIncomplete);
}

TEST_F(ParseRequestTest, RequestLineLimit) {
  limits_.max_request_line = 30;
  // "GET /" + path + " HTTP/1.1" is exactly 30 bytes.
  const std::string line = "GET /" + std::string(16, 'a') + " HTTP/1.1";
  ASSERT_EQ(line.size(), 30u);
  ExpectDone(line + "\r\nHost: h\r\n\r\n");
  EXPECT_EQ(
      ErrorOf("GET /" + std::string(17, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n"),
      414);
  // Without a line end yet: 30 bytes may still be fine, 31 cannot.
  EXPECT_EQ(Parse(line).kind, Kind::kIncomplete);
  EXPECT_EQ(Parse(line + "\r").kind, Kind::kIncomplete);
  EXPECT_EQ(ErrorOf(line + "x"), 414);
}

TEST_F(ParseRequestTest, HeaderBytesLimit) {
  const std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: 12345\r\n\r\n";
  limits_.max_header_bytes = head.size();
  ExpectDone(head);
  limits_.max_header_bytes = head.size() - 1;
  EXPECT_EQ(ErrorOf(head), 431);
  // Incomplete: once the input reaches the limit, the head cannot fit.
  limits_.max_header_bytes = 30;
  EXPECT_EQ(Parse(std::string_view(head).substr(0, 29)).kind,
            Kind::kIncomplete);
  EXPECT_EQ(ErrorOf(std::string_view(head).substr(0, 30)), 431);
}

TEST_F(ParseRequestTest, HeaderBytesLimitCountsFromStart) {
  limits_.max_header_bytes = 64;
  std::string input = "GET / HTTP/1.1\r\nHost: h\r\n";
  while (input.size() < 200) input += "X-Filler: abcdefgh\r\n";
  EXPECT_EQ(ErrorOf(input), 431);
}

TEST_F(ParseRequestTest, HeaderCountLimit) {
  limits_.max_headers = 3;
  ExpectDone("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n");
  EXPECT_EQ(
      ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
      431);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n"),
            431);
}

TEST_F(ParseRequestTest, DefaultLimitsAcceptLargeRequest) {
  std::string input =
      "GET /" + std::string(8000, 'p') + " HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 90; ++i) input += "X-" + std::to_string(i) + ": v\r\n";
  input += "\r\n";
  ExpectDone(input);
}

TEST(DecodeTargetPath, Normalisation) {
  struct Case {
    std::string_view raw;
    std::string_view path;
    bool directory;
  };
  for (const Case& c : {
           Case{"/", "", true},
           Case{"/a", "a", false},
           Case{"/a/", "a", true},
           Case{"//a///b//", "a/b", true},
           Case{"/./a/./b/.", "a/b", true},
           Case{"/a/b/../c", "a/c", false},
           Case{"/a/b/..", "a", true},
           Case{"/a/..", "", true},
           Case{"/a/b/../../c/", "c", true},
           Case{"/a%2Fb", "a/b", false},
           Case{"/a%2F", "a", true},
           Case{"/..a/b..", "..a/b..", false},
           Case{"/.git/config", ".git/config", false},
           Case{"/a\\..\\b", "a\\..\\b", false},
           Case{"/%2e/x", "x", false},
       }) {
    std::string out = "garbage";
    bool directory = !c.directory;
    EXPECT_EQ(DecodeTargetPath(c.raw, &out, &directory), 0) << c.raw;
    EXPECT_EQ(out, c.path) << c.raw;
    EXPECT_EQ(directory, c.directory) << c.raw;
  }
}

TEST(DecodeTargetPath, Errors) {
  for (std::string_view raw : {"", "a", "/..", "/../", "/a/../..", "/%00", "/%",
                               "/%4", "/%G0", "/%2e%2e"}) {
    std::string out;
    bool directory = false;
    EXPECT_EQ(DecodeTargetPath(raw, &out, &directory), 400) << raw;
  }
}

TEST(HasDotSegment, Cases) {
  EXPECT_TRUE(HasDotSegment(".git"));
  EXPECT_TRUE(HasDotSegment(".git/config"));
  EXPECT_TRUE(HasDotSegment("a/.htaccess"));
  EXPECT_TRUE(HasDotSegment("a/.b/c"));
  EXPECT_FALSE(HasDotSegment(""));
  EXPECT_FALSE(HasDotSegment("a/b.c/d"));
  EXPECT_FALSE(HasDotSegment("index.html"));
  EXPECT_FALSE(HasDotSegment("a./b"));
}

TEST_F(ParseRequestTest, ParsingAllocatesNothing) {
  const std::string input =
      "GET /a/b/../c%20d?q HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n"
      "If-None-Match: \"x\"\r\nConnection: close\r\n\r\n";
  ExpectDone(input);  // the path has its capacity now
  const AllocationCounter counter;
  for (int i = 0; i < 10; ++i) Parse(input);
  Parse("GET /%zz HTTP/1.1\r\n\r\n");
  Parse("GET / HTTP/1.1\r\nHost");
  EXPECT_EQ(counter.count(), 0);
}

}  // namespace
}  // namespace ferry

TEST(IsValidHostTest, AnIpv6LiteralIsOnlyHexDigitsColonsAndDots) {
  EXPECT_TRUE(ferry::IsValidHost("[::1]:8080"));
  EXPECT_TRUE(ferry::IsValidHost("[::ffff:192.0.2.1]"));
  EXPECT_FALSE(ferry::IsValidHost(std::string_view("[::\0]", 5)));
  EXPECT_FALSE(ferry::IsValidHost(std::string_view("[::1\0zz]", 8)));
  EXPECT_FALSE(ferry::IsValidHost("[::1%eth0]"));
}

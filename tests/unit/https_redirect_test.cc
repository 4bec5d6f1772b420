#include "https_redirect.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry {
namespace {

constexpr std::time_t kNow = 1700000000;

// The request `head` (without its final empty line) as ParseRequest makes
// it: Location is built from what the parser lets through.
class HttpsLocationTest : public ::testing::Test {
 protected:
  // The Location for `head` and `port`, or "<none>".
  std::string Location(std::string_view head, std::uint16_t port = 8443) {
    input_ = std::string(head) + "\r\n\r\n";
    const ParseResult parsed = ParseRequest(input_, RequestLimits{}, &request_);
    EXPECT_TRUE(
        parsed.kind == ParseResult::Kind::kDone ||
        (parsed.kind == ParseResult::Kind::kError && parsed.status == 405))
        << head;
    std::string out;
    return AppendHttpsLocation(request_, port, &out) ? out : "<none>";
  }

  std::string input_;
  Request request_;
};

TEST_F(HttpsLocationTest, KeepsTheTargetAsSent) {
  EXPECT_EQ(Location("GET /a%20b/c.txt?x=1&y=%2F&z HTTP/1.1\r\nHost: h"),
            "https://h:8443/a%20b/c.txt?x=1&y=%2F&z");
  // Not normalised: the HTTPS side resolves it as it would have.
  EXPECT_EQ(Location("GET /a/./b/../c//d HTTP/1.1\r\nHost: h"),
            "https://h:8443/a/./b/../c//d");
  EXPECT_EQ(Location("GET / HTTP/1.1\r\nHost: h"), "https://h:8443/");
  EXPECT_EQ(Location("GET /dir/ HTTP/1.1\r\nHost: h"), "https://h:8443/dir/");
  // A "//name" path stays on the host: the URL is absolute.
  EXPECT_EQ(Location("GET //evil.example/x HTTP/1.1\r\nHost: h"),
            "https://h:8443//evil.example/x");
}

TEST_F(HttpsLocationTest, KeepsAnEmptyQuery) {
  EXPECT_EQ(Location("GET /a? HTTP/1.1\r\nHost: h"), "https://h:8443/a?");
  EXPECT_EQ(Location("GET /a HTTP/1.1\r\nHost: h"), "https://h:8443/a");
}

TEST_F(HttpsLocationTest, EncodesWhatAUriMayNotHold) {
  EXPECT_EQ(Location("GET /caf\xc3\xa9/{x}?q=a|b\"c HTTP/1.1\r\nHost: h"),
            "https://h:8443/caf%C3%A9/%7Bx%7D?q=a%7Cb%22c");
}

TEST_F(HttpsLocationTest, TheHostWithoutItsPortAndTheHttpsPort) {
  EXPECT_EQ(Location("GET /x HTTP/1.1\r\nHost: www.example.org:8080"),
            "https://www.example.org:8443/x");
  EXPECT_EQ(Location("GET /x HTTP/1.1\r\nHost: www.example.org:"),
            "https://www.example.org:8443/x");
  EXPECT_EQ(Location("GET /x HTTP/1.1\r\nHost: 192.0.2.1:80", 443),
            "https://192.0.2.1/x");
  EXPECT_EQ(Location("GET /x HTTP/1.1\r\nHost: [2001:db8::1]:8080", 443),
            "https://[2001:db8::1]/x");
  EXPECT_EQ(Location("GET /x HTTP/1.1\r\nHost: [::1]"), "https://[::1]:8443/x");
  EXPECT_EQ(Location("GET /x HTTP/1.1\r\nHost: Example.ORG", 1),
            "https://Example.ORG:1/x");
  EXPECT_EQ(Location("GET /x HTTP/1.1\r\nHost: h", 65535), "https://h:65535/x");
}

TEST_F(HttpsLocationTest, AnAbsoluteFormTargetNamesTheHost) {
  EXPECT_EQ(Location("GET http://a.example:80/p?q HTTP/1.1\r\nHost: b"),
            "https://a.example:8443/p?q");
  EXPECT_EQ(Location("GET http://a.example HTTP/1.1\r\nHost: b"),
            "https://a.example:8443/");
  EXPECT_EQ(Location("GET http://a.example?q=1 HTTP/1.1\r\nHost: b"),
            "https://a.example:8443/?q=1");
}

TEST_F(HttpsLocationTest, NoHostNoLocation) {
  EXPECT_EQ(Location("GET /x HTTP/1.0"), "<none>");
  std::string out = "kept";
  EXPECT_FALSE(AppendHttpsLocation(request_, 443, &out));
  EXPECT_EQ(out, "kept");
  EXPECT_EQ(Location("GET /x HTTP/1.0\r\nHost: h"), "https://h:8443/x");
}

TEST_F(HttpsLocationTest, AnotherMethodsTargetAsGets) {
  EXPECT_EQ(Location("POST /form?a=1 HTTP/1.1\r\nHost: h:80\r\n"
                     "Content-Length: 3"),
            "https://h:8443/form?a=1");
  EXPECT_EQ(Location("DELETE http://a.example/x HTTP/1.1\r\nHost: b"),
            "https://a.example:8443/x");
}

TEST_F(HttpsLocationTest, TheResponse) {
  Location("GET /a?b HTTP/1.1\r\nHost: h");
  std::string scratch;
  ResponseLayout layout;
  ASSERT_EQ(
      BuildHttpsRedirect(301, request_, 8443, kNow, true, &scratch, &layout),
      0);
  EXPECT_EQ(layout.status, 301);
  const std::string& text = layout.text;
  EXPECT_EQ(text.rfind("HTTP/1.1 301 Moved Permanently\r\n", 0), 0u) << text;
  EXPECT_NE(text.find("\r\nLocation: https://h:8443/a?b\r\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  const std::size_t body = text.find("\r\n\r\n") + 4;
  EXPECT_EQ(layout.body_bytes, text.size() - body);
  EXPECT_NE(text.find("\r\nContent-Length: " +
                      std::to_string(text.size() - body) + "\r\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("<h1>301 Moved Permanently</h1>", body),
            std::string::npos);

  ASSERT_EQ(
      BuildHttpsRedirect(308, request_, 443, kNow, false, &scratch, &layout),
      0);
  EXPECT_EQ(layout.text.rfind("HTTP/1.1 308 Permanent Redirect\r\n", 0), 0u);
  EXPECT_NE(layout.text.find("\r\nLocation: https://h/a?b\r\n"),
            std::string::npos);
  EXPECT_NE(layout.text.find("\r\nConnection: close\r\n"), std::string::npos);
}

TEST_F(HttpsLocationTest, HeadHasNoBody) {
  Location("HEAD /a HTTP/1.1\r\nHost: h");
  std::string scratch;
  ResponseLayout layout;
  ASSERT_EQ(
      BuildHttpsRedirect(301, request_, 8443, kNow, true, &scratch, &layout),
      0);
  EXPECT_EQ(layout.body_bytes, 0u);
  EXPECT_EQ(layout.text.find("\r\n\r\n") + 4, layout.text.size());
  EXPECT_NE(layout.text.find("\r\nContent-Length: "), std::string::npos);
}

TEST_F(HttpsLocationTest, NoHostIs400AndNothingBuilt) {
  Location("GET /a HTTP/1.0");
  std::string scratch;
  ResponseLayout layout;
  EXPECT_EQ(
      BuildHttpsRedirect(301, request_, 8443, kNow, true, &scratch, &layout),
      400);
  EXPECT_TRUE(layout.text.empty());
}

TEST(IsAcmeChallenge, OnlyUnderTheChallengeDirectory) {
  EXPECT_TRUE(IsAcmeChallenge("/.well-known/acme-challenge/token"));
  EXPECT_TRUE(IsAcmeChallenge("/.well-known/acme-challenge/"));
  EXPECT_TRUE(IsAcmeChallenge("/.well-known/acme-challenge/a/b"));
  EXPECT_FALSE(IsAcmeChallenge("/.well-known/acme-challenge"));
  EXPECT_FALSE(IsAcmeChallenge("/.well-known/acme-challenges/x"));
  EXPECT_FALSE(IsAcmeChallenge("/.well-known/security.txt"));
  EXPECT_FALSE(IsAcmeChallenge("/x/.well-known/acme-challenge/t"));
  EXPECT_FALSE(IsAcmeChallenge("/"));
}

}  // namespace
}  // namespace ferry

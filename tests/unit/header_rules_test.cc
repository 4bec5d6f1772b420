#include "header_rules.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "allocation_counter.h"

namespace ferry {
namespace {

/// The ConfigError message of parsing `text` with `parse`, "" if none.
template <typename Parse>
std::string ErrorOf(Parse parse, std::string_view text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string HeaderError(std::string_view text) {
  return ErrorOf(ParseHeaderRule, text);
}

std::string CorsError(std::string_view text) {
  return ErrorOf(ParseCorsRule, text);
}

HeaderRules Rules(std::vector<std::string> headers,
                  std::vector<std::string> cors = {}) {
  Config config;
  config.headers = std::move(headers);
  config.cors = std::move(cors);
  return HeaderRules::From(config);
}

std::string Headers(const HeaderRules& rules, std::string_view path) {
  std::string fields;
  rules.AppendHeaders(path, /*tls=*/false, &fields);
  return fields;
}

std::string Cors(const HeaderRules& rules, std::string_view path,
                 std::string_view origin) {
  std::string fields;
  rules.AppendCors(path, origin, &fields);
  return fields;
}

TEST(ParseHeaderRule, SplitsGlobNameAndValue) {
  const HeaderRule rule = ParseHeaderRule(
      "/assets/*  Cache-Control:  public, max-age=31536000, immutable ");
  EXPECT_EQ(rule.pattern.text(), "/assets/*");
  EXPECT_EQ(rule.name, "Cache-Control");
  EXPECT_EQ(rule.value, "public, max-age=31536000, immutable");
  const HeaderRule csp = ParseHeaderRule(
      "*.html Content-Security-Policy: default-src 'self'; img-src *");
  EXPECT_EQ(csp.name, "Content-Security-Policy");
  EXPECT_EQ(csp.value, "default-src 'self'; img-src *");
  EXPECT_EQ(ParseHeaderRule("/x X-Tab:a\tb").value, "a\tb");
}

TEST(ParseHeaderRule, RefusesMalformedRulesNamingTheFlag) {
  struct Case {
    const char* text;
    const char* problem;
  };
  for (const Case& c : {
           Case{"Cache-Control: no-cache", "must start with '/' or '*'"},
           Case{"/x", "is not GLOB Name: value"},
           Case{"/x Cache-Control no-cache", "is not GLOB Name: value"},
           Case{"assets/* Cache-Control: x", "must start with '/' or '*'"},
           Case{"/a[bc] Cache-Control: x", "only * and ? are wildcards"},
           Case{"/x Bad Name: x", "no token"},
           Case{"/x Bad(Name): x", "no token"},
           Case{"/x X-Empty:", "has no value"},
           Case{"/x X-Empty:   ", "has no value"},
       }) {
    const std::string message = HeaderError(c.text);
    EXPECT_EQ(message.rfind("--header: '", 0), 0u) << c.text << ": " << message;
    EXPECT_NE(message.find(c.problem), std::string::npos)
        << c.text << ": " << message;
  }
}

TEST(ParseHeaderRule, RefusesControlCharactersInTheValue) {
  for (const std::string& value :
       std::vector<std::string>{"a\r\nSet-Cookie: x=1", "a\nb", "a\rb",
                                std::string("a\0b", 3), "a\x7f", "a\x01"}) {
    const std::string message = HeaderError("/x X-A: " + value);
    EXPECT_EQ(message.rfind("--header: ", 0), 0u) << message;
    EXPECT_NE(message.find("control character"), std::string::npos) << message;
    // One line: the value is shown escaped.
    EXPECT_EQ(message.find_first_of(std::string("\r\n\0", 3)),
              std::string::npos)
        << message;
  }
  EXPECT_NE(HeaderError("/x X-A: a\r\nb").find("'/x X-A: a\\r\\nb'"),
            std::string::npos);
}

TEST(ParseHeaderRule, RefusesFieldsFerrydSetsSayingWhatToUse) {
  EXPECT_NE(HeaderError("/x Server: nginx").find("--server-header"),
            std::string::npos);
  EXPECT_NE(HeaderError("/x access-control-allow-origin: *").find("--cors"),
            std::string::npos);
  EXPECT_NE(HeaderError("/x Access-Control-Max-Age: 1").find("--cors"),
            std::string::npos);
  EXPECT_NE(HeaderError("/x Content-Type: text/plain").find("--mime-types"),
            std::string::npos);
  for (const char* name :
       {"Content-Length", "content-range", "Transfer-Encoding", "Connection",
        "Date", "ETag", "Last-Modified", "Accept-Ranges", "Content-Encoding",
        "VARY", "Location", "Allow"}) {
    const std::string message = HeaderError(std::string("/x ") + name + ": 1");
    EXPECT_NE(message.find("is set"), std::string::npos) << name << message;
  }
}

TEST(CheckFieldValue, VisibleTextSpacesAndTabsOnly) {
  EXPECT_EQ(CheckFieldValue("ferry/1.0 (Debian)"), "");
  EXPECT_EQ(CheckFieldValue("caf\xc3\xa9"), "");  // obs-text
  EXPECT_NE(CheckFieldValue(""), "");
  EXPECT_NE(CheckFieldValue(" x"), "");
  EXPECT_NE(CheckFieldValue("x\r\n"), "");
  EXPECT_NE(CheckFieldValue(std::string("x\0", 2)), "");
}

TEST(HeaderRules, StrictTransportSecurityOnlyOverTls) {
  // RFC 6797 section 7.2: an HSTS host must not send it over plain HTTP.
  HeaderRules rules = Rules({"* strict-transport-security: max-age=63072000",
                             "* X-Frame-Options: DENY"});
  std::string plain;
  std::string tls;
  rules.AppendHeaders("/a.html", /*tls=*/false, &plain);
  rules.AppendHeaders("/a.html", /*tls=*/true, &tls);
  EXPECT_EQ(plain, "X-Frame-Options: DENY\r\n");
  EXPECT_EQ(tls,
            "strict-transport-security: max-age=63072000\r\n"
            "X-Frame-Options: DENY\r\n");
}

TEST(HeaderRules, EveryMatchingRuleAddsItsFieldInOrder) {
  const HeaderRules rules = Rules(
      {"/* X-Content-Type-Options: nosniff", "*.html Cache-Control: no-cache",
       "/assets/* Cache-Control: public, max-age=31536000, immutable",
       "*.html Content-Security-Policy: default-src 'self'"});
  EXPECT_EQ(Headers(rules, "/index.html"),
            "X-Content-Type-Options: nosniff\r\n"
            "Cache-Control: no-cache\r\n"
            "Content-Security-Policy: default-src 'self'\r\n");
  EXPECT_EQ(Headers(rules, "/assets/app.3f2a.js"),
            "X-Content-Type-Options: nosniff\r\n"
            "Cache-Control: public, max-age=31536000, immutable\r\n");
  EXPECT_EQ(Headers(rules, "/robots.txt"),
            "X-Content-Type-Options: nosniff\r\n");
}

TEST(HeaderRules, ALaterMatchOfTheSameNameReplacesTheValue) {
  const HeaderRules rules = Rules({"/* Cache-Control: max-age=60", "/* X-A: 1",
                                   "/assets/* cache-control: max-age=31536000",
                                   "/assets/*.html CACHE-CONTROL: no-cache"});
  EXPECT_EQ(Headers(rules, "/a.txt"),
            "Cache-Control: max-age=60\r\nX-A: 1\r\n");
  // The later rule's field, written where it stands in the list.
  EXPECT_EQ(Headers(rules, "/assets/a.js"),
            "X-A: 1\r\ncache-control: max-age=31536000\r\n");
  EXPECT_EQ(Headers(rules, "/assets/a.html"),
            "X-A: 1\r\nCACHE-CONTROL: no-cache\r\n");
}

TEST(HeaderRules, DirectoriesMatchWithTheirSlash) {
  const HeaderRules rules = Rules({"*/ Cache-Control: no-cache"});
  EXPECT_EQ(Headers(rules, "/"), "Cache-Control: no-cache\r\n");
  EXPECT_EQ(Headers(rules, "/docs/"), "Cache-Control: no-cache\r\n");
  EXPECT_EQ(Headers(rules, "/docs/a.html"), "");
}

TEST(HeaderRules, FromThrowsForTheFirstBadRule) {
  EXPECT_THROW(Rules({"/x X-A: 1", "/y X-B: a\nb"}), ConfigError);
  EXPECT_THROW(Rules({}, {"/x http://A.example"}), ConfigError);
  EXPECT_TRUE(Rules({}).empty());
  EXPECT_FALSE(Rules({}, {"/* *"}).empty());
}

TEST(HeaderRules, ComposingAllocatesNothingOnceGrown) {
  const HeaderRules rules =
      Rules({"/* X-Content-Type-Options: nosniff",
             "/assets/* Cache-Control: public, max-age=31536000, immutable"},
            {"/assets/* https://app.example"});
  std::string fields;
  rules.AppendHeaders("/assets/a.js", /*tls=*/false, &fields);
  rules.AppendCors("/assets/a.js", "https://app.example", &fields);
  const AllocationCounter counter;
  for (int i = 0; i < 3; ++i) {
    fields.clear();
    rules.AppendHeaders("/assets/a.js", /*tls=*/false, &fields);
    rules.AppendCors("/assets/a.js", "https://app.example", &fields);
  }
  EXPECT_EQ(counter.count(), 0);
}

TEST(ParseCorsRule, OriginsAreSchemeHostAndPortAsBrowsersSendThem) {
  const CorsRule rule = ParseCorsRule(
      "/data/* https://app.example, http://127.0.0.1:8080,http://[::1]:9000");
  EXPECT_EQ(rule.pattern.text(), "/data/*");
  EXPECT_FALSE(rule.any_origin);
  EXPECT_EQ(rule.origins, (std::vector<std::string>{"https://app.example",
                                                    "http://127.0.0.1:8080",
                                                    "http://[::1]:9000"}));
  EXPECT_TRUE(ParseCorsRule("* *").any_origin);
}

TEST(ParseCorsRule, RefusesWhatNoBrowserSendsNamingTheFlag) {
  for (const char* text : {
           "/data/*",                    // no origin
           "data/* https://a.example",   // bad glob
           "/x a.example",               // no scheme
           "/x https://",                // no host
           "/x https://a.example/",      // a path
           "/x https://a.example/app",   // a path
           "/x https://A.example",       // not lower case
           "/x HTTPS://a.example",       // not lower case
           "/x https://a.example:443",   // the default port
           "/x http://a.example:80",     // the default port
           "/x https://a.example:",      // an empty port
           "/x https://a.example:8x",    // not a port
           "/x https://user@a.example",  // userinfo
           "/x *,https://a.example",     // * is alone
           "/x https://a.example,",      // an empty member
           "/x null",                    // opaque origins
       }) {
    const std::string message = CorsError(text);
    EXPECT_EQ(message.rfind("--cors: '", 0), 0u) << text << ": " << message;
  }
}

TEST(ParseCorsRule, RefusesAnIpv6LiteralHidingANul) {
  // Found by fuzz_header_rules: inet_pton read "[::" and stopped at the
  // NUL, so the origin was taken and would have been echoed with its NULs
  // in Access-Control-Allow-Origin.
  const std::string text("/x http://[::\0\0abc]", 19);
  const std::string message = CorsError(text);
  EXPECT_EQ(message.rfind("--cors: '", 0), 0u) << message;
}

TEST(HeaderRules, CorsAllowsListedOriginsAndVariesOnOrigin) {
  const HeaderRules rules =
      Rules({}, {"/data/* https://app.example,http://127.0.0.1:8080"});
  const std::string allowed = Cors(rules, "/data/a.bin", "https://app.example");
  EXPECT_EQ(allowed,
            "Vary: Origin\r\n"
            "Access-Control-Allow-Origin: https://app.example\r\n"
            "Access-Control-Expose-Headers: Content-Range, Accept-Ranges, "
            "Content-Length, ETag\r\n");
  EXPECT_NE(Cors(rules, "/data/a.bin", "http://127.0.0.1:8080")
                .find("Allow-Origin: http://127.0.0.1:8080\r\n"),
            std::string::npos);
  // Not allowed, or no Origin: the response still varies on it.
  EXPECT_EQ(Cors(rules, "/data/a.bin", "https://evil.example"),
            "Vary: Origin\r\n");
  EXPECT_EQ(Cors(rules, "/data/a.bin", ""), "Vary: Origin\r\n");
  EXPECT_EQ(Cors(rules, "/data/a.bin", "invalid"), "Vary: Origin\r\n");
  EXPECT_EQ(Cors(rules, "/other", "https://app.example"), "");
}

TEST(HeaderRules, CorsStarAllowsEveryoneWithoutVary) {
  const HeaderRules rules = Rules({}, {"/public/* *"});
  const std::string expected =
      "Access-Control-Allow-Origin: *\r\n"
      "Access-Control-Expose-Headers: Content-Range, Accept-Ranges, "
      "Content-Length, ETag\r\n";
  EXPECT_EQ(Cors(rules, "/public/a", "https://any.example"), expected);
  // A cache may give this response to any origin: the same fields.
  EXPECT_EQ(Cors(rules, "/public/a", ""), expected);
}

TEST(HeaderRules, TheLastMatchingCorsRuleDecides) {
  const HeaderRules rules =
      Rules({}, {"/* *", "/private/* https://app.example"});
  EXPECT_EQ(Cors(rules, "/private/a", "https://other.example"),
            "Vary: Origin\r\n");
  EXPECT_NE(Cors(rules, "/a", "https://other.example").find("Origin: *"),
            std::string::npos);
}

class OptionsTest : public ::testing::Test {
 protected:
  std::string Options(std::string_view path) {
    std::string fields;
    rules_.AppendOptions(path, request_, &fields);
    return fields;
  }
  HeaderRules rules_ = Rules({"/* Cache-Control: no-cache"},
                             {"/data/* https://app.example", "/pub/* *"});
  Request request_;
};

TEST_F(OptionsTest, PlainOptionsGetsAllowOnly) {
  request_.method = Method::kOptions;
  request_.asterisk_form = true;
  EXPECT_EQ(Options(""), "Allow: GET, HEAD, OPTIONS\r\n");
  request_.asterisk_form = false;
  EXPECT_EQ(Options("/a.html"), "Allow: GET, HEAD, OPTIONS\r\n");
  request_.origin = "https://app.example";  // no requested method
  EXPECT_EQ(Options("/data/a"),
            "Allow: GET, HEAD, OPTIONS\r\n"
            "Vary: Origin, Access-Control-Request-Headers\r\n");
}

TEST_F(OptionsTest, PreflightFromAnAllowedOrigin) {
  request_.method = Method::kOptions;
  request_.origin = "https://app.example";
  request_.access_control_request_method = "GET";
  request_.access_control_request_headers = "range, if-none-match";
  EXPECT_EQ(Options("/data/a.bin"),
            "Allow: GET, HEAD, OPTIONS\r\n"
            "Vary: Origin, Access-Control-Request-Headers\r\n"
            "Access-Control-Allow-Origin: https://app.example\r\n"
            "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
            "Access-Control-Allow-Headers: range, if-none-match\r\n"
            "Access-Control-Max-Age: 86400\r\n");
  request_.origin = "https://else.example";
  EXPECT_NE(Options("/pub/a").find("Access-Control-Allow-Origin: *\r\n"),
            std::string::npos);
}

TEST_F(OptionsTest, PreflightHeadersAreEchoedOnlyAsATokenList) {
  request_.method = Method::kOptions;
  request_.origin = "https://app.example";
  request_.access_control_request_method = "GET";
  for (std::string_view bad :
       {"", "range,", "a b", "x-a, (y)", ",", "range;q=1"}) {
    request_.access_control_request_headers = bad;
    const std::string fields = Options("/data/a");
    EXPECT_NE(fields.find("Allow-Origin"), std::string::npos) << bad;
    EXPECT_EQ(fields.find("Allow-Headers"), std::string::npos) << bad;
  }
}

TEST_F(OptionsTest, PreflightFromAnOriginNotAllowedGetsNoAccessControl) {
  request_.method = Method::kOptions;
  request_.origin = "https://evil.example";
  request_.access_control_request_method = "GET";
  request_.access_control_request_headers = "range";
  const std::string fields = Options("/data/a");
  EXPECT_EQ(fields.find("Access-Control-Allow"), std::string::npos) << fields;
  EXPECT_NE(fields.find("Allow: GET, HEAD, OPTIONS\r\n"), std::string::npos);
  // Nor on a path without a --cors rule.
  request_.origin = "https://app.example";
  EXPECT_EQ(Options("/other"), "Allow: GET, HEAD, OPTIONS\r\n");
}

TEST(IsTokenList, TokensSeparatedByCommas) {
  EXPECT_TRUE(IsTokenList("range"));
  EXPECT_TRUE(IsTokenList("Range, If-None-Match ,x-a"));
  EXPECT_FALSE(IsTokenList(""));
  EXPECT_FALSE(IsTokenList(" "));
  EXPECT_FALSE(IsTokenList("a,,b"));
  EXPECT_FALSE(IsTokenList("a b"));
}

}  // namespace
}  // namespace ferry

#include "http_syntax.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace ferry {
namespace {

TEST(HttpSyntax, TcharIsRfc9110sTokenCharacterSet) {
  const std::string_view specials = "!#$%&'*+-.^_`|~";
  int count = 0;
  for (int c = 0; c < 256; ++c) {
    bool expected = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                    (c >= 'A' && c <= 'Z') ||
                    specials.find(static_cast<char>(c)) != std::string::npos;
    EXPECT_EQ(IsTchar(static_cast<unsigned char>(c)), expected) << c;
    count += IsTchar(static_cast<unsigned char>(c));
  }
  EXPECT_EQ(count, 10 + 26 + 26 + 15);
  // The delimiters, space, controls, DEL and non-ASCII are not tchars.
  for (char c : std::string_view("\"(),/:;<=>?@[\\]{} \t\r\n\x7f")) {
    EXPECT_FALSE(IsTchar(static_cast<unsigned char>(c))) << int(c);
  }
  EXPECT_FALSE(IsTchar(0));
  EXPECT_FALSE(IsTchar(0x80));
  EXPECT_FALSE(IsTchar(0xff));
}

TEST(HttpSyntax, AlnumAndAddsTheGivenBytes) {
  constexpr auto kTable = AlnumAnd("-/");
  EXPECT_TRUE(kTable['7'] && kTable['q'] && kTable['Q']);
  EXPECT_TRUE(kTable['-'] && kTable['/']);
  EXPECT_FALSE(kTable['.'] || kTable[' '] || kTable[0]);
  EXPECT_TRUE(AlnumAnd("\xe9")[0xe9]);
}

TEST(HttpSyntax, OwsIsSpaceAndTabOnly) {
  for (int c = 0; c < 256; ++c) {
    EXPECT_EQ(IsOws(static_cast<char>(c)), c == ' ' || c == '\t') << c;
  }
}

TEST(HttpSyntax, ToLowerAsciiTouchesOnlyAsciiCapitals) {
  for (int c = 0; c < 256; ++c) {
    char in = static_cast<char>(c);
    char expected = c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : in;
    EXPECT_EQ(ToLowerAscii(in), expected) << c;
  }
}

TEST(HttpSyntax, EqualsLowerIgnoresTheCaseOfTheTextAlone) {
  EXPECT_TRUE(EqualsLower("Content-Length", "content-length"));
  EXPECT_TRUE(EqualsLower("HOST", "host"));
  EXPECT_TRUE(EqualsLower("", ""));
  EXPECT_FALSE(EqualsLower("Host", "hosts"));
  EXPECT_FALSE(EqualsLower("Hosts", "host"));
  EXPECT_FALSE(EqualsLower("Hosz", "host"));
  EXPECT_FALSE(EqualsLower("host", "HOST"));  // `lower` must be lower case
  // No Unicode folding: \xC9 is not \xE9.
  EXPECT_FALSE(EqualsLower("caf\xc9", "caf\xe9"));
}

TEST(HttpSyntax, TrimOwsStripsSpaceAndTabAtBothEnds) {
  EXPECT_EQ(TrimOws(" \t bytes=0-1 \t"), "bytes=0-1");
  EXPECT_EQ(TrimOws("a b"), "a b");  // inner whitespace stays
  EXPECT_EQ(TrimOws(" \t "), "");
  EXPECT_EQ(TrimOws(""), "");
  EXPECT_EQ(TrimOws("\r\nx\r\n"), "\r\nx\r\n");  // CR LF are not OWS
}

}  // namespace
}  // namespace ferry

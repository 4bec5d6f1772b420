#include "url_encoding.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry {
namespace {

std::string Encoded(std::string_view path) {
  std::string out;
  AppendPercentEncodedPath(path, &out);
  return out;
}

TEST(UrlEncodingTest, KeepsPathCharacters) {
  EXPECT_EQ(Encoded("a/b-c_d.e~f/g:h@i!$&'()*+,;="),
            "a/b-c_d.e~f/g:h@i!$&'()*+,;=");
}

TEST(UrlEncodingTest, EncodesWhatCouldChangeTheUrl) {
  EXPECT_EQ(Encoded("a b"), "a%20b");
  EXPECT_EQ(Encoded("100%"), "100%25");
  EXPECT_EQ(Encoded("q?x#y"), "q%3Fx%23y");
  EXPECT_EQ(Encoded("\\evil"), "%5Cevil");
  EXPECT_EQ(Encoded("line\r\nbreak"), "line%0D%0Abreak");
  EXPECT_EQ(Encoded(std::string_view("nul\0x", 5)), "nul%00x");
  EXPECT_EQ(Encoded("caf\xc3\xa9"), "caf%C3%A9");
  EXPECT_EQ(Encoded("<\">"), "%3C%22%3E");
}

TEST(UrlEncodingTest, AppendsToWhatIsThere) {
  std::string out = "/";
  AppendPercentEncodedPath("x y", &out);
  EXPECT_EQ(out, "/x%20y");
}

}  // namespace
}  // namespace ferry

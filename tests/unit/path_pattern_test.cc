#include "path_pattern.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry {
namespace {

bool Match(const char* pattern, const char* path) {
  EXPECT_EQ(PathPattern::Check(pattern), "") << pattern;
  return PathPattern(pattern).Matches(path);
}

TEST(PathPattern, LiteralMatchesOnlyItself) {
  EXPECT_TRUE(Match("/robots.txt", "/robots.txt"));
  EXPECT_FALSE(Match("/robots.txt", "/robots.txt2"));
  EXPECT_FALSE(Match("/robots.txt", "/a/robots.txt"));
}

TEST(PathPattern, StarCrossesSlashes) {
  EXPECT_TRUE(Match("/assets/*", "/assets/app.js"));
  EXPECT_TRUE(Match("/assets/*", "/assets/js/deep/app.js"));
  EXPECT_TRUE(Match("/assets/*", "/assets/"));
  EXPECT_FALSE(Match("/assets/*", "/assets"));
  EXPECT_FALSE(Match("/assets/*", "/other/assets/x"));
}

TEST(PathPattern, Suffixes) {
  EXPECT_TRUE(Match("*.html", "/index.html"));
  EXPECT_TRUE(Match("*.html", "/a/b/c.html"));
  EXPECT_FALSE(Match("*.html", "/a.htm"));
  EXPECT_FALSE(Match("*.html", "/a.html.gz"));
  EXPECT_TRUE(Match("*", "/"));
  EXPECT_TRUE(Match("/.well-known/*", "/.well-known/acme-challenge/t"));
}

TEST(PathPattern, QuestionMarkIsOneCharacter) {
  EXPECT_TRUE(Match("/img/?.png", "/img/a.png"));
  EXPECT_FALSE(Match("/img/?.png", "/img/ab.png"));
  EXPECT_FALSE(Match("/img/?.png", "/img/.png"));
}

TEST(PathPattern, SeveralStarsBacktrack) {
  EXPECT_TRUE(Match("/*/*.min.js", "/a/b/c.min.js"));
  EXPECT_TRUE(Match("*a*b*c", "/xaxbxbxc"));
  EXPECT_FALSE(Match("*a*b*c", "/xaxbxbx"));
}

// Found by fuzz_pattern: a '*' in the path (decoded from "%2A") was taken
// as the literal match of the pattern's '*', which then matched nothing.
TEST(PathPattern, AStarInThePathIsJustACharacter) {
  EXPECT_TRUE(Match("/as/*", "/as/*x/y"));
  EXPECT_TRUE(Match("*.js", "/a*/b.js"));
  EXPECT_TRUE(Match("/a?c", "/a*c"));
}

TEST(PathPattern, ManyStarsStayLinearOnAHostilePath) {
  std::string pattern = "/";
  for (int i = 0; i < 100; ++i) pattern += "*a";
  pattern += "b";
  ASSERT_EQ(PathPattern::Check(pattern), "");
  std::string path = "/" + std::string(10000, 'a');
  EXPECT_FALSE(PathPattern(pattern).Matches(path));
}

TEST(PathPattern, CheckNamesWhatIsWrong) {
  EXPECT_EQ(PathPattern::Check(""), "is empty");
  EXPECT_EQ(PathPattern::Check("assets/*"), "must start with '/' or '*'");
  EXPECT_NE(PathPattern::Check("/a b"), "");
  EXPECT_NE(PathPattern::Check("/a\r\nb"), "");
  EXPECT_NE(PathPattern::Check("/[ab].html"), "");
  EXPECT_NE(PathPattern::Check("/{a,b}"), "");
}

}  // namespace
}  // namespace ferry

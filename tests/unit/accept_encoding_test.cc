#include "accept_encoding.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ferry {
namespace {

using C = ContentCoding;

CodingList All() {
  CodingList list;
  list.Add(C::kBrotli);
  list.Add(C::kZstd);
  list.Add(C::kGzip);
  return list;
}

std::vector<std::string> Choose(std::string_view value,
                                const CodingList& offered = All()) {
  std::vector<std::string> names;
  for (C coding : ChooseCodings(value, offered)) {
    names.emplace_back(CodingName(coding));
  }
  return names;
}

using Names = std::vector<std::string>;

TEST(AcceptEncodingTest, NamesAndSuffixes) {
  EXPECT_EQ(CodingSuffix(C::kBrotli), ".br");
  EXPECT_EQ(CodingSuffix(C::kZstd), ".zst");
  EXPECT_EQ(CodingSuffix(C::kGzip), ".gz");
  EXPECT_EQ(CodingSuffix(C::kIdentity), "");
  EXPECT_EQ(CodingNamed("zstd"), C::kZstd);
  EXPECT_FALSE(CodingNamed("deflate"));
  EXPECT_FALSE(CodingNamed("GZIP"));  // the flag takes lower case
}

TEST(AcceptEncodingTest, WeightsAndDefaults) {
  AcceptEncoding a = ParseAcceptEncoding("gzip;q=0.5, BR, identity;q=0");
  EXPECT_EQ(a.gzip, 500);
  EXPECT_EQ(a.brotli, 1000);
  EXPECT_EQ(a.identity, 0);
  EXPECT_EQ(a.zstd, AcceptEncoding::kUnnamed);
  EXPECT_EQ(a.WeightOf(C::kZstd), 0);  // not named, no "*": not acceptable
  a = ParseAcceptEncoding("*;q=0.3, gzip");
  EXPECT_EQ(a.WeightOf(C::kZstd), 300);
  EXPECT_EQ(a.WeightOf(C::kGzip), 1000);
  EXPECT_EQ(a.WeightOf(C::kIdentity), AcceptEncoding::kUnnamed);
}

TEST(AcceptEncodingTest, Qvalues) {
  EXPECT_EQ(ParseAcceptEncoding("gzip;q=1").gzip, 1000);
  EXPECT_EQ(ParseAcceptEncoding("gzip;q=1.000").gzip, 1000);
  EXPECT_EQ(ParseAcceptEncoding("gzip;q=0.001").gzip, 1);
  EXPECT_EQ(ParseAcceptEncoding("gzip;Q=0.25").gzip, 250);
  EXPECT_EQ(ParseAcceptEncoding("gzip ; q=0.").gzip, 0);
  EXPECT_EQ(ParseAcceptEncoding("gzip;q=0").gzip, 0);
  for (const char* bad :
       {"gzip;q=1.5", "gzip;q=1.001", "gzip;q=0.0001", "gzip;q=2",
        "gzip;q=", "gzip;q", "gzip;q=.5", "gzip;q=-1", "gzip;q=0.5x",
        "gzip;q = 0.5", "gzip;level=9", "gzip;", "gzip;q=0.5;", "g zip",
        "\"gzip\"", "gzip/1", ";q=1"}) {
    EXPECT_EQ(ParseAcceptEncoding(bad).gzip, AcceptEncoding::kUnnamed) << bad;
  }
}

TEST(AcceptEncodingTest, MalformedMembersAreIgnoredNotTheRest) {
  EXPECT_EQ(Choose("gzip;q=abc, br"), (Names{"br"}));
  EXPECT_EQ(Choose(",,, ,gzip,,"), (Names{"gzip"}));
  EXPECT_EQ(Choose("\x01\xff, zstd"), (Names{"zstd"}));
}

TEST(AcceptEncodingTest, TheOperatorsOrderBreaksTies) {
  EXPECT_EQ(Choose("gzip, deflate, br, zstd"), (Names{"br", "zstd", "gzip"}));
  CodingList gzip_first;
  gzip_first.Add(C::kGzip);
  gzip_first.Add(C::kBrotli);
  EXPECT_EQ(Choose("br, gzip", gzip_first), (Names{"gzip", "br"}));
  EXPECT_EQ(Choose("gzip, deflate"), (Names{"gzip"}));  // what curl sends
}

TEST(AcceptEncodingTest, HigherWeightsComeFirst) {
  EXPECT_EQ(Choose("br;q=0.5, gzip;q=0.8, zstd;q=0.5"),
            (Names{"gzip", "br", "zstd"}));
  EXPECT_EQ(Choose("*;q=0.1, gzip;q=0.2"), (Names{"gzip", "br", "zstd"}));
}

TEST(AcceptEncodingTest, ZeroRefuses) {
  EXPECT_EQ(Choose("br;q=0, gzip"), (Names{"gzip"}));
  EXPECT_EQ(Choose("*, br;q=0"), (Names{"zstd", "gzip"}));
  EXPECT_EQ(Choose("*;q=0"), Names{});
  EXPECT_EQ(Choose("gzip, gzip;q=0"), Names{});  // refused anywhere
  EXPECT_EQ(Choose("gzip;q=0.000"), Names{});
}

TEST(AcceptEncodingTest, IdentityAndNothing) {
  EXPECT_EQ(Choose(""), Names{});  // absent or empty: identity only
  EXPECT_EQ(Choose("identity"), Names{});
  EXPECT_EQ(Choose("deflate, compress"), Names{});
  // An identity preferred outright wins; one of equal weight does not.
  EXPECT_EQ(Choose("gzip;q=0.5, identity"), Names{});
  EXPECT_EQ(Choose("gzip, identity"), (Names{"gzip"}));
  EXPECT_EQ(Choose("gzip;q=0.5, br, identity;q=0.7"), (Names{"br"}));
  EXPECT_EQ(Choose("gzip, identity;q=0"), (Names{"gzip"}));
}

TEST(AcceptEncodingTest, NamesAreCaseInsensitive) {
  EXPECT_EQ(Choose("GZip, Br"), (Names{"br", "gzip"}));
  EXPECT_EQ(Choose("X-GZIP"), (Names{"gzip"}));
}

TEST(AcceptEncodingTest, OnlyTheOfferedCodings) {
  CodingList gzip_only;
  gzip_only.Add(C::kGzip);
  EXPECT_EQ(Choose("br, zstd", gzip_only), Names{});
  EXPECT_EQ(Choose("*", gzip_only), (Names{"gzip"}));
  EXPECT_EQ(Choose("br, gzip", CodingList{}), Names{});
}

}  // namespace
}  // namespace ferry

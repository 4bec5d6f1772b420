#include "file_lookup.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

namespace ferry {
namespace {

using Step = FileLookup::Step;

OpenedFile Found(FileStatus::Type type = FileStatus::Type::kRegular) {
  OpenedFile opened;
  opened.status.type = type;
  return opened;
}

OpenedFile File(std::uint64_t inode, std::int64_t mtime_sec,
                std::uint32_t mtime_nsec = 0) {
  OpenedFile opened = Found();
  opened.status.inode = inode;
  opened.status.mtime_sec = mtime_sec;
  opened.status.mtime_nsec = mtime_nsec;
  return opened;
}

OpenedFile Missing(int error = -ENOENT) {
  OpenedFile opened;
  opened.error = error;
  return opened;
}

class FileLookupTest : public ::testing::Test {
 protected:
  Step Start(const std::string& target) {
    std::string path;
    bool directory_form = false;
    EXPECT_EQ(DecodeTargetPath(target, &path, &directory_form), 0) << target;
    request_.path = path;
    request_.directory_form = directory_form;
    return lookup_.Start(request_, rules_);
  }
  void Rules(Config config) { rules_ = SiteRules::From(config); }

  SiteRules rules_ = SiteRules::From(Config());
  Request request_;
  FileLookup lookup_;
};

TEST_F(FileLookupTest, AFileIsOpenedAndServed) {
  ASSERT_EQ(Start("/a/b.txt"), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "a/b.txt");
  ASSERT_EQ(lookup_.OnOpened(Found()), Step::kServe);
  EXPECT_EQ(lookup_.status(), 200);
  EXPECT_FALSE(lookup_.error_page());
}

TEST_F(FileLookupTest, MissingIs404AndRefusedIs403) {
  Start("/nope");
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 404);
  Start("/secret");
  ASSERT_EQ(lookup_.OnOpened(Missing(-EACCES)), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 403);
  Start("/fifo");
  ASSERT_EQ(lookup_.OnOpened(Found(FileStatus::Type::kOther)), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 403);
}

TEST_F(FileLookupTest, ADirectoryWithoutItsSlashIsRedirected) {
  Start("/docs");
  EXPECT_EQ(lookup_.OnOpened(Found(FileStatus::Type::kDirectory)),
            Step::kRedirect);
}

TEST_F(FileLookupTest, IndexNamesAreTriedInOrder) {
  Config config;
  config.index = {"index.html", "index.htm", "default.txt"};
  Rules(config);
  ASSERT_EQ(Start("/docs/"), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "docs/index.html");
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "docs/index.htm");
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "docs/default.txt");
  ASSERT_EQ(lookup_.OnOpened(Found()), Step::kServe);
  EXPECT_EQ(lookup_.path(), "docs/default.txt");
  ASSERT_EQ(Start("/"), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "index.html");
}

TEST_F(FileLookupTest, ADirectoryWithoutAnIndexIs403AndNoDirectory404) {
  Start("/docs/");
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "docs");  // is it a directory?
  ASSERT_EQ(lookup_.OnOpened(Found(FileStatus::Type::kDirectory)),
            Step::kRespond);
  EXPECT_EQ(lookup_.status(), 403);
  Start("/gone/");
  lookup_.OnOpened(Missing());
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 404);
}

TEST_F(FileLookupTest, DotPathsAreRefusedButWellKnownIsServed) {
  ASSERT_EQ(Start("/.git/config"), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 403);
  ASSERT_EQ(Start("/a/.env"), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 403);
  ASSERT_EQ(Start("/.well-known/acme-challenge/token"), Step::kOpen);
  EXPECT_EQ(lookup_.path(), ".well-known/acme-challenge/token");
  ASSERT_EQ(Start("/.well-known/"), Step::kOpen);  // its index
  EXPECT_EQ(lookup_.path(), ".well-known/index.html");
  ASSERT_EQ(Start("/.well-knownx/a"), Step::kRespond);
}

TEST_F(FileLookupTest, AllowDotPathAndHide) {
  Config config;
  config.allow_dot_paths = {"/.config/public/*"};
  config.hide = {"*.bak", "/private/*", "/.well-known/secret"};
  Rules(config);
  EXPECT_EQ(Start("/.config/public/a"), Step::kOpen);
  EXPECT_EQ(Start("/.config/other"), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 403);
  ASSERT_EQ(Start("/a/b.bak"), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 404);  // hidden: as if it did not exist
  ASSERT_EQ(Start("/private/x"), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 404);
  ASSERT_EQ(Start("/private/"), Step::kRespond);
  EXPECT_EQ(Start("/privatex"), Step::kOpen);
  ASSERT_EQ(Start("/.well-known/secret"), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 404);  // hide wins
}

TEST_F(FileLookupTest, AllowDotfilesServesEveryDotPath) {
  Config config;
  config.allow_dotfiles = true;
  Rules(config);
  EXPECT_EQ(Start("/.env"), Step::kOpen);
}

TEST_F(FileLookupTest, FallbackServesAMissingPathWith200) {
  Config config;
  config.fallback = "/index.html";
  Rules(config);
  Start("/app/route/42");
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "index.html");
  ASSERT_EQ(lookup_.OnOpened(Found()), Step::kServe);
  EXPECT_EQ(lookup_.status(), 200);
  EXPECT_FALSE(lookup_.error_page());
  // A missing directory too, and ENOTDIR.
  Start("/app/route/");
  lookup_.OnOpened(Missing());
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "index.html");
  Start("/file.txt/x");
  ASSERT_EQ(lookup_.OnOpened(Missing(-ENOTDIR)), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "index.html");
}

TEST_F(FileLookupTest, FallbackNeverServesRefusals) {
  Config config;
  config.fallback = "/index.html";
  Rules(config);
  ASSERT_EQ(Start("/.git/config"), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 403);
  Start("/secret");
  ASSERT_EQ(lookup_.OnOpened(Missing(-EACCES)), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 403);
  Start("/docs/");  // a directory without an index stays 403
  lookup_.OnOpened(Missing());
  ASSERT_EQ(lookup_.OnOpened(Found(FileStatus::Type::kDirectory)),
            Step::kRespond);
  EXPECT_EQ(lookup_.status(), 403);
  // A missing fallback is a plain 404.
  Start("/nope");
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 404);
}

TEST_F(FileLookupTest, ErrorPagesAnswerWithTheirStatus) {
  Config config;
  config.error_pages = {"404 /errors/404.html", "5xx /errors/50x.html",
                        "403 /errors/403.html"};
  Rules(config);
  Start("/nope");
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "errors/404.html");
  EXPECT_TRUE(lookup_.error_page());
  ASSERT_EQ(lookup_.OnOpened(Found()), Step::kServe);
  EXPECT_EQ(lookup_.status(), 404);
  EXPECT_TRUE(lookup_.error_page());
  ASSERT_EQ(Start("/.env"), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "errors/403.html");
  Start("/busy");
  ASSERT_EQ(lookup_.OnOpened(Missing(-EMFILE)), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "errors/50x.html");
  ASSERT_EQ(lookup_.OnOpened(Found()), Step::kServe);
  EXPECT_EQ(lookup_.status(), 503);
}

TEST_F(FileLookupTest, AMissingErrorPageFallsBackToTheBuiltInOne) {
  Config config;
  config.error_pages = {"404 /404.html"};
  Rules(config);
  for (int i = 0; i < 2; ++i) {
    Start("/nope");
    ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
    ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kRespond);
    EXPECT_EQ(lookup_.status(), 404);
  }
  EXPECT_TRUE(rules_.error_pages.front().warned);  // logged once
  Start("/nope");
  lookup_.OnOpened(Missing());
  ASSERT_EQ(lookup_.OnOpened(Found(FileStatus::Type::kDirectory)),
            Step::kRespond);
}

TEST_F(FileLookupTest, AMissingPathWithFallbackAndErrorPage) {
  Config config;
  config.fallback = "/app.html";
  config.error_pages = {"404 /404.html"};
  Rules(config);
  Start("/nope");
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "app.html");
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "404.html");
  ASSERT_EQ(lookup_.OnOpened(Found()), Step::kServe);
  EXPECT_EQ(lookup_.status(), 404);
}

class VariantLookupTest : public FileLookupTest {
 protected:
  void SetUp() override {
    Config config;
    config.precompressed = {"br", "zstd", "gzip"};
    config.index = {"index.html"};
    config.hide = {"*.zst"};
    config.fallback = "/app.html";
    Rules(config);
  }
  Step Start(const std::string& target, std::string_view accept) {
    request_.accept_encoding = accept;
    return FileLookupTest::Start(target);
  }
};

TEST_F(VariantLookupTest, TheOriginalIsOpenedFirstThenVariantsInOrder) {
  ASSERT_EQ(Start("/app.js", "gzip, br, zstd"), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "app.js");
  EXPECT_TRUE(lookup_.tries_variants());
  ASSERT_EQ(lookup_.OnOpened(File(1, 100)), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "app.js.br");
  EXPECT_FALSE(lookup_.tries_variants());
  // app.js.zst is hidden (--hide *.zst): never opened.
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "app.js.gz");
  ASSERT_EQ(lookup_.OnOpened(File(2, 100)), Step::kServe);
  EXPECT_EQ(lookup_.coding(), ContentCoding::kGzip);
  EXPECT_EQ(lookup_.type_path(), "app.js");
  EXPECT_EQ(lookup_.status(), 200);
  EXPECT_EQ(lookup_.TakeServed().status.inode, 2u);
}

TEST_F(VariantLookupTest, NoFittingVariantServesTheOriginal) {
  Start("/app.js", "br, gzip");
  ASSERT_EQ(lookup_.OnOpened(File(1, 100, 500)), Step::kOpen);
  // Not a regular file: skipped.
  ASSERT_EQ(lookup_.OnOpened(Found(FileStatus::Type::kDirectory)), Step::kOpen);
  // Older than the original (by nanoseconds): skipped.
  ASSERT_EQ(lookup_.OnOpened(File(3, 100, 499)), Step::kServe);
  EXPECT_EQ(lookup_.coding(), ContentCoding::kIdentity);
  EXPECT_EQ(lookup_.path(), "app.js");
  EXPECT_EQ(lookup_.type_path(), "app.js");
  EXPECT_EQ(lookup_.TakeServed().status.inode, 1u);
}

TEST_F(VariantLookupTest, WhatDidNotFitIsSaidForTheCacheToRemember) {
  Start("/app.js", "br, gzip");
  const std::uint8_t both = CodingList::CodingBit(ContentCoding::kBrotli) |
                            CodingList::CodingBit(ContentCoding::kGzip);
  EXPECT_EQ(lookup_.codings_tried(), both);
  lookup_.OnOpened(File(1, 100));
  EXPECT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_EQ(lookup_.variants_unusable(), 0u) << "not yet decided";
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kServe);
  EXPECT_EQ(lookup_.variants_unusable(), both);
  // A variant served: nothing to remember.
  Start("/app.js", "br, gzip");
  lookup_.OnOpened(File(1, 100));
  ASSERT_EQ(lookup_.OnOpened(File(2, 100)), Step::kServe);
  EXPECT_EQ(lookup_.variants_unusable(), 0u);
}

TEST_F(VariantLookupTest, CodingsTheCacheKnowsUnusableAreNotTried) {
  const std::uint8_t br = CodingList::CodingBit(ContentCoding::kBrotli);
  const std::uint8_t gzip = CodingList::CodingBit(ContentCoding::kGzip);
  // All of them known: the original (the cache's hit) with no open.
  Start("/app.js", "br, gzip");
  ASSERT_EQ(lookup_.OnOpened(File(1, 100), br | gzip), Step::kServe);
  EXPECT_EQ(lookup_.coding(), ContentCoding::kIdentity);
  EXPECT_EQ(lookup_.path(), "app.js");
  // Some known only: every coding is tried, from the original's open.
  Start("/app.js", "br, gzip");
  ASSERT_EQ(lookup_.OnOpened(File(1, 100), gzip), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "app.js.br");
}

TEST_F(VariantLookupTest, AVariantThatIsTheOriginalItselfIsSkipped) {
  Start("/app.js", "br");
  lookup_.OnOpened(File(7, 100));
  ASSERT_EQ(lookup_.OnOpened(File(7, 100)), Step::kServe);  // a hard link
  EXPECT_EQ(lookup_.coding(), ContentCoding::kIdentity);
}

TEST_F(VariantLookupTest, ErrorsOfAVariantFallBackToTheOriginal) {
  Start("/app.js", "br");
  lookup_.OnOpened(File(1, 100));
  ASSERT_EQ(lookup_.OnOpened(Missing(-EACCES)), Step::kServe);
  EXPECT_EQ(lookup_.status(), 200);
  EXPECT_EQ(lookup_.coding(), ContentCoding::kIdentity);
}

TEST_F(VariantLookupTest, NeverForAMissingOrRefusedOriginal) {
  Start("/app.js", "br");
  // Missing: the fallback (its own variants next), never app.js.br.
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "app.html");
  ASSERT_EQ(lookup_.OnOpened(File(1, 100)), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "app.html.br");
  Start("/secret.js", "br");
  ASSERT_EQ(lookup_.OnOpened(Missing(-EACCES)), Step::kRespond);
  EXPECT_EQ(lookup_.status(), 403);
  ASSERT_EQ(Start("/.env", "br"), Step::kRespond);  // a dot path
  EXPECT_EQ(lookup_.status(), 403);
  Start("/fifo", "br");
  ASSERT_EQ(lookup_.OnOpened(Found(FileStatus::Type::kOther)), Step::kRespond);
}

TEST_F(VariantLookupTest, IndexNamesHaveVariantsToo) {
  Start("/docs/", "gzip");
  ASSERT_EQ(lookup_.OnOpened(File(1, 100)), Step::kOpen);
  EXPECT_EQ(lookup_.path(), "docs/index.html.gz");
  ASSERT_EQ(lookup_.OnOpened(File(2, 101)), Step::kServe);
  EXPECT_EQ(lookup_.type_path(), "docs/index.html");
}

TEST_F(VariantLookupTest, AClientAcceptingNoneOpensOnlyTheOriginal) {
  for (std::string_view accept :
       {"", "identity", "br;q=0, gzip;q=0", "deflate"}) {
    Start("/app.js", accept);
    EXPECT_FALSE(lookup_.tries_variants()) << accept;
    ASSERT_EQ(lookup_.OnOpened(File(1, 100)), Step::kServe) << accept;
    EXPECT_EQ(lookup_.coding(), ContentCoding::kIdentity);
  }
  // Off: no variant whatever the client accepts.
  Rules(Config());
  Start("/app.js", "br, gzip");
  EXPECT_FALSE(lookup_.tries_variants());
  EXPECT_EQ(lookup_.OnOpened(File(1, 100)), Step::kServe);
}

TEST_F(VariantLookupTest, ErrorPagesHaveNoVariants) {
  Config config;
  config.precompressed = {"gzip"};
  config.error_pages = {"404 /404.html"};
  Rules(config);
  Start("/nope", "gzip");
  ASSERT_EQ(lookup_.OnOpened(Missing()), Step::kOpen);
  EXPECT_FALSE(lookup_.tries_variants());
  ASSERT_EQ(lookup_.OnOpened(File(1, 100)), Step::kServe);
  EXPECT_EQ(lookup_.status(), 404);
}

TEST(SiteRules, PrecompressedKeepsTheOperatorsOrder) {
  Config config;
  config.precompressed = {"gzip", "br"};
  SiteRules rules = SiteRules::From(config);
  ASSERT_EQ(rules.precompressed.size, 2u);
  EXPECT_EQ(rules.precompressed[0], ContentCoding::kGzip);
  EXPECT_EQ(rules.precompressed[1], ContentCoding::kBrotli);
}

TEST(ParseErrorPage, CodesAndClasses) {
  SiteRules::ErrorPage page = ParseErrorPage("500 502 503 504 /50x.html");
  EXPECT_EQ(page.statuses, (std::vector<int>{500, 502, 503, 504}));
  EXPECT_FALSE(page.status_class);
  EXPECT_EQ(page.path, "50x.html");
  page = ParseErrorPage("5xx /e/5.html");
  EXPECT_TRUE(page.status_class);
  EXPECT_EQ(page.statuses, (std::vector<int>{500}));
}

TEST(ParseErrorPage, RejectsWhatIsNotCodesAndAFile) {
  for (const char* bad :
       {"", "404", "/404.html", "404 404.html", "200 /ok.html", "600 /x",
        "4x4 /x", "404 /", "404 /a/", "404 /../x", "404 /.hidden", "404 //x",
        "abc /x"}) {
    EXPECT_THROW(ParseErrorPage(bad), ConfigError) << bad;
  }
}

TEST(SiteRules, AnExactErrorPageWinsOverAClass) {
  Config config;
  config.error_pages = {"503 /busy.html", "5xx /50x.html"};
  SiteRules rules = SiteRules::From(config);
  EXPECT_EQ(rules.ErrorPageFor(503)->path, "busy.html");
  EXPECT_EQ(rules.ErrorPageFor(500)->path, "50x.html");
  EXPECT_EQ(rules.ErrorPageFor(404), nullptr);
}

}  // namespace
}  // namespace ferry

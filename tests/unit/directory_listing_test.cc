#include "directory_listing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "config.h"
#include "document_root.h"
#include "file_lookup.h"
#include "test_files.h"
#include "unique_fd.h"

namespace ferry {
namespace {

using testing::TempDir;

std::vector<std::string> Names(const std::vector<ListingEntry>& entries) {
  std::vector<std::string> names;
  names.reserve(entries.size());
  for (const ListingEntry& entry : entries) names.push_back(entry.name);
  return names;
}

ListingEntry File(std::string name, std::uint64_t size, std::int64_t mtime) {
  ListingEntry entry;
  entry.name = std::move(name);
  entry.size = size;
  entry.mtime_sec = mtime;
  return entry;
}

ListingEntry Directory(std::string name, std::int64_t mtime) {
  ListingEntry entry = File(std::move(name), 0, mtime);
  entry.directory = true;
  return entry;
}

TEST(ListingQuery, TheQueryChoosesSortOrderFormatAndPage) {
  ListingQuery query =
      ListingQuery::Parse("sort=size&order=desc&format=json&page=3", "");
  EXPECT_EQ(query.sort, ListingQuery::Sort::kSize);
  EXPECT_TRUE(query.descending);
  EXPECT_TRUE(query.json);
  EXPECT_EQ(query.page, 3U);
}

TEST(ListingQuery, BadValuesAreTheDefaults) {
  ListingQuery query =
      ListingQuery::Parse("sort=colour&order=up&page=0&page=x&other", "");
  EXPECT_EQ(query.sort, ListingQuery::Sort::kName);
  EXPECT_FALSE(query.descending);
  EXPECT_FALSE(query.json);
  EXPECT_EQ(query.page, 1U);
}

TEST(ListingQuery, AcceptAsksForJsonOnlyBeforeHtml) {
  EXPECT_TRUE(ListingQuery::Parse("", "application/json").json);
  EXPECT_TRUE(
      ListingQuery::Parse("", "application/json, text/html;q=0.5").json);
  // A browser's Accept names text/html first.
  EXPECT_FALSE(ListingQuery::Parse(
                   "", "text/html,application/xhtml+xml,application/json;q=0.9")
                   .json);
  EXPECT_FALSE(ListingQuery::Parse("", "application/json;q=0").json);
  EXPECT_FALSE(ListingQuery::Parse("", "*/*").json);
  // The query wins.
  EXPECT_FALSE(ListingQuery::Parse("format=html", "application/json").json);
}

TEST(ListableName, ControlCharactersAndInvalidUtf8AreNotListed) {
  EXPECT_TRUE(ListableName("plain.txt"));
  EXPECT_TRUE(ListableName("caf\xc3\xa9 \xe2\x82\xac.txt"));
  EXPECT_FALSE(ListableName("line\nbreak"));
  EXPECT_FALSE(ListableName("del\x7f"));
  EXPECT_FALSE(ListableName("latin1 \xe9"));
  EXPECT_FALSE(ListableName("overlong \xc0\xaf"));
  EXPECT_FALSE(ListableName("surrogate \xed\xa0\x80"));
  EXPECT_FALSE(ListableName(""));
}

TEST(RenderListing, DirectoriesFirstThenTheKeyNamesBreakingTies) {
  std::vector<ListingEntry> entries = {File("b", 10, 300), File("a", 30, 100),
                                       Directory("z", 50), File("c", 10, 200),
                                       Directory("y", 60)};
  ListingQuery by_size;
  by_size.sort = ListingQuery::Sort::kSize;
  RenderListing(entries, by_size, "", 0, 0);
  EXPECT_EQ(Names(entries),
            (std::vector<std::string>{"y", "z", "b", "c", "a"}));
  ListingQuery by_time_descending;
  by_time_descending.sort = ListingQuery::Sort::kTime;
  by_time_descending.descending = true;
  RenderListing(entries, by_time_descending, "", 0, 0);
  EXPECT_EQ(Names(entries),
            (std::vector<std::string>{"y", "z", "b", "c", "a"}));
  RenderListing(entries, ListingQuery(), "", 0, 0);
  EXPECT_EQ(Names(entries),
            (std::vector<std::string>{"y", "z", "a", "b", "c"}));
}

TEST(RenderListing, NamesAreEscapedAndLinksRelative) {
  std::vector<ListingEntry> entries = {
      File("<script>alert(1)</script>", 1, 0), File("javascript:x", 1, 0),
      File("a \"quoted\" & 'odd' name", 1, 0), File("100%.txt", 1, 0)};
  Listing listing = RenderListing(entries, ListingQuery(), "sub/dir", 0, 0);
  const std::string& html = listing.body;
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"),
            std::string::npos);
  EXPECT_NE(html.find("href=\"./javascript:x\""), std::string::npos);
  EXPECT_NE(html.find("href=\"./100%25.txt\""), std::string::npos);
  EXPECT_NE(
      html.find("href=\"./a%20%22quoted%22%20&amp;%20&#39;odd&#39;%20name\""),
      std::string::npos)
      << html;
  EXPECT_NE(html.find("<title>Index of /sub/dir/</title>"), std::string::npos);
  EXPECT_NE(html.find("href=\"../\""), std::string::npos);
}

TEST(RenderListing, TheRootHasNoParentLink) {
  std::vector<ListingEntry> entries = {File("a", 1, 0)};
  Listing listing = RenderListing(entries, ListingQuery(), "", 0, 0);
  EXPECT_EQ(listing.body.find("href=\"../\""), std::string::npos);
}

TEST(RenderListing, JsonHasNginxsItems) {
  std::vector<ListingEntry> entries = {File("a \"b\".txt", 1234, 784111777),
                                       Directory("d", 784111777)};
  ListingQuery query;
  query.json = true;
  Listing listing = RenderListing(entries, query, "", 0, 0);
  EXPECT_EQ(listing.body,
            "[\n{\"name\":\"d\",\"type\":\"directory\",\"mtime\":\"Sun, 06 Nov "
            "1994 08:49:37 GMT\"},\n{\"name\":\"a \\\"b\\\".txt\",\"type\":"
            "\"file\",\"mtime\":\"Sun, 06 Nov 1994 08:49:37 GMT\",\"size\":"
            "1234}\n]\n");
  EXPECT_TRUE(listing.json);
}

TEST(RenderListing, APageHoldsAThousandEntriesAndAPagePastTheLastIsNotFound) {
  std::vector<ListingEntry> entries;
  for (int i = 0; i < 2500; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "f%05d", i);
    entries.push_back(File(name, 1, i));
  }
  ListingQuery query;
  query.json = true;
  query.page = 3;
  Listing listing = RenderListing(entries, query, "", 0, 0);
  ASSERT_TRUE(listing.found);
  EXPECT_EQ(std::count(listing.body.begin(), listing.body.end(), '{'), 500);
  EXPECT_NE(listing.body.find("f02000"), std::string::npos);
  EXPECT_EQ(listing.body.find("f01999"), std::string::npos);
  EXPECT_EQ(listing.mtime_sec, 2499);  // the newest listed
  query.page = 4;
  EXPECT_FALSE(RenderListing(entries, query, "", 0, 0).found);
  query.json = false;
  query.page = 2;
  listing = RenderListing(entries, query, "", 0, 0);
  EXPECT_NE(listing.body.find("page 2 of 3"), std::string::npos);
  EXPECT_NE(listing.body.find("page=1\">previous"), std::string::npos);
  EXPECT_NE(listing.body.find("page=3\">next"), std::string::npos);
}

TEST(RenderListing, TheHashTellsDifferentPagesApart) {
  std::vector<ListingEntry> one = {File("a", 1, 0)};
  std::vector<ListingEntry> two = {File("a", 2, 0)};
  EXPECT_NE(RenderListing(one, ListingQuery(), "", 0, 0).hash,
            RenderListing(two, ListingQuery(), "", 0, 0).hash);
}

class ReadDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.Write("site/a.txt", "aaa");
    dir_.Write("site/.secret", "x");
    dir_.Write("site/.well-known/x", "x");
    dir_.Write("site/backup.bak", "x");
    dir_.Write("site/sub/b.txt", "bb");
    dir_.Write("outside.txt", "out");
    site_ = dir_.path() + "/site";
    ASSERT_EQ(mkfifo((site_ + "/fifo").c_str(), 0600), 0);
    ASSERT_EQ(symlink("../outside.txt", (site_ + "/escape").c_str()), 0);
    ASSERT_EQ(symlink("sub/b.txt", (site_ + "/inside").c_str()), 0);
    ASSERT_EQ(symlink("missing", (site_ + "/dangling").c_str()), 0);
  }

  std::vector<ListingEntry> Read(const Config& config,
                                 const std::string& path = "") {
    DocumentRoot root(site_);
    SiteRules rules = SiteRules::From(config);
    UniqueFd fd(
        open((site_ + "/" + path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    std::vector<ListingEntry> entries;
    EXPECT_EQ(ReadDirectory(fd.get(), root, path, rules, &entries), 0);
    RenderListing(entries, ListingQuery(), path, 0, 0);  // sorts them
    return entries;
  }

  TempDir dir_;
  std::string site_;
};

TEST_F(ReadDirectoryTest, OnlyWhatWouldBeServedIsListed) {
  Config config;
  config.hide = {"*.bak"};
  std::vector<ListingEntry> entries = Read(config);
  // No dot names (/.well-known/ is served but its directory is a dot
  // name of its own: listed), no FIFO, no --hide, no symlink out of the
  // root or to nothing; the one inside is listed as its target.
  EXPECT_EQ(Names(entries), (std::vector<std::string>{".well-known", "sub",
                                                      "a.txt", "inside"}));
  auto inside =
      std::find_if(entries.begin(), entries.end(),
                   [](const ListingEntry& e) { return e.name == "inside"; });
  EXPECT_EQ(inside->size, 2U);
  EXPECT_EQ(entries[1].directory, true);
}

TEST_F(ReadDirectoryTest, AllowDotfilesListsDotNames) {
  Config config;
  config.allow_dotfiles = true;
  std::vector<std::string> names = Names(Read(config));
  EXPECT_NE(std::find(names.begin(), names.end(), ".secret"), names.end());
}

TEST_F(ReadDirectoryTest, ASubdirectoryIsJudgedByItsWholePath) {
  Config config;
  config.hide = {"/sub/*"};
  EXPECT_TRUE(Read(config, "sub").empty());
}

}  // namespace
}  // namespace ferry

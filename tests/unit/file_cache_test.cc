#include "file_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace ferry {
namespace {

std::string Text(const CachedBytes& bytes) {
  return std::string(bytes.data(), bytes.size());
}

// What sendfile() would send: the memory file's own contents.
std::string MemoryFileText(const CachedBytes& bytes) {
  std::string text(bytes.size(), '\0');
  EXPECT_EQ(pread(bytes.fd(), text.data(), text.size(), 0),
            static_cast<ssize_t>(text.size()));
  return text;
}

FileStatus Status(std::uint64_t size, std::uint64_t inode = 1) {
  FileStatus status;
  status.type = FileStatus::Type::kRegular;
  status.size = size;
  status.inode = inode;
  return status;
}

TEST(FileCache, FindsWhatWasInsertedAndNothingElse) {
  FileCache cache(1024, 512, 1000);
  std::string data(100, 'a');
  cache.Insert("a.txt", Status(100), data.data(), 100, 0);
  CachedFile* entry = cache.Find("a.txt");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(Text(*entry->bytes), data);
  EXPECT_EQ(cache.Find("b.txt"), nullptr);
  EXPECT_EQ(cache.used(), 100u);
}

TEST(FileCache, NeverHoldsMoreThanItsCapacityAndEvictsTheLeastRecentlyUsed) {
  FileCache cache(300, 200, 1000);
  std::string data(100, 'x');
  cache.Insert("1", Status(100), data.data(), 100, 0);
  cache.Insert("2", Status(100), data.data(), 100, 0);
  cache.Insert("3", Status(100), data.data(), 100, 0);
  ASSERT_NE(cache.Find("1"), nullptr);  // now "2" is the least recently used
  cache.Insert("4", Status(100), data.data(), 100, 0);
  EXPECT_LE(cache.used(), 300u);
  EXPECT_EQ(cache.Find("2"), nullptr);
  EXPECT_NE(cache.Find("1"), nullptr);
  EXPECT_NE(cache.Find("4"), nullptr);
}

TEST(FileCache, BigFilesAreNotCached) {
  FileCache cache(1 << 20, 4096, 1000);
  EXPECT_TRUE(cache.Cacheable(4096));
  EXPECT_FALSE(cache.Cacheable(4097));
  std::string data(5000, 'x');
  cache.Insert("big", Status(5000), data.data(), 5000, 0);
  EXPECT_EQ(cache.Find("big"), nullptr);
}

TEST(FileCache, EvictionDoesNotPullBytesFromUnderAReader) {
  FileCache cache(100, 100, 1000);
  std::string data(100, 'r');
  cache.Insert("a", Status(100), data.data(), 100, 0);
  auto held = cache.Find("a")->bytes;  // a slow client still sending it
  std::string other(100, 'o');
  cache.Insert("b", Status(100), other.data(), 100, 0);
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_EQ(Text(*held), data);
}

TEST(FileCache, SmallFilesAreCopiedLargerOnesGoByMemoryFile) {
  constexpr std::uint64_t kMin = CachedBytes::kSendfileMin;
  FileCache cache(4 * kMin, 2 * kMin, 1000);
  std::string small(kMin - 1, 's');
  std::string large(kMin, 'L');
  large[kMin / 2] = 'x';
  ASSERT_TRUE(cache.Insert("small", Status(small.size()), small.data(),
                           small.size(), 0));
  ASSERT_TRUE(cache.Insert("large", Status(large.size()), large.data(),
                           large.size(), 0));
  EXPECT_EQ(cache.Find("small")->bytes->fd(), -1);
  const CachedBytes& bytes = *cache.Find("large")->bytes;
  ASSERT_GE(bytes.fd(), 0);
  EXPECT_EQ(Text(bytes), large);
  EXPECT_EQ(MemoryFileText(bytes), large);
}

TEST(FileCache, AnEvictedMemoryFileStaysWholeForItsReader) {
  constexpr std::uint64_t kMin = CachedBytes::kSendfileMin;
  FileCache cache(kMin, kMin, 1000);
  std::string first(kMin, '1'), second(kMin, '2');
  cache.Insert("a", Status(kMin), first.data(), kMin, 0);
  auto held = cache.Find("a")->bytes;
  cache.Insert("b", Status(kMin), second.data(), kMin, 0);
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_EQ(MemoryFileText(*held), first);
  EXPECT_EQ(Text(*cache.Find("b")->bytes), second);
}

TEST(FileCache, MemoryFilesAreCappedAndTheRestGoOnTheHeap) {
  constexpr std::uint64_t kMin = CachedBytes::kSendfileMin;
  FileCache cache(8 * kMin, kMin, 1000, /*max_memory_files=*/1);
  std::string a(kMin, 'a'), b(kMin, 'b'), c(kMin, 'c');
  cache.Insert("a", Status(kMin), a.data(), kMin, 0);
  cache.Insert("b", Status(kMin), b.data(), kMin, 0);
  EXPECT_GE(cache.Find("a")->bytes->fd(), 0);
  EXPECT_EQ(cache.Find("b")->bytes->fd(), -1);  // over the cap: copied
  EXPECT_EQ(Text(*cache.Find("b")->bytes), b);
  EXPECT_EQ(cache.memory_files(), 1u);
  cache.Erase("a");
  EXPECT_EQ(cache.memory_files(), 0u);
  cache.Insert("c", Status(kMin), c.data(), kMin, 0);
  EXPECT_GE(cache.Find("c")->bytes->fd(), 0);
  EXPECT_EQ(MemoryFileText(*cache.Find("c")->bytes), c);
}

TEST(FileCache, FreshnessLastsTheValidity) {
  FileCache cache(1000, 1000, 500);
  std::string data(10, 'x');
  cache.Insert("a", Status(10), data.data(), 10, 1000);
  const CachedFile* entry = cache.Find("a");
  EXPECT_TRUE(cache.Fresh(*entry, 1499));
  EXPECT_FALSE(cache.Fresh(*entry, 1500));
}

TEST(FileCache, SameFileVersionComparesIdentityAndChange) {
  FileStatus a = Status(10, 7);
  a.change_ns = 5;
  FileStatus b = a;
  EXPECT_TRUE(SameFileVersion(a, b));
  b.change_ns = 6;
  EXPECT_FALSE(SameFileVersion(a, b));
  b = a;
  b.inode = 8;
  EXPECT_FALSE(SameFileVersion(a, b));
}

TEST(FileCache, ReinsertingReplacesAndEraseForgets) {
  FileCache cache(1000, 1000, 1000);
  std::string one(10, '1'), two(20, '2');
  cache.Insert("a", Status(10), one.data(), 10, 0);
  cache.Insert("a", Status(20), two.data(), 20, 0);
  EXPECT_EQ(Text(*cache.Find("a")->bytes), two);
  EXPECT_EQ(cache.used(), 20u);
  cache.Erase("a");
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_EQ(cache.used(), 0u);
  EXPECT_EQ(cache.entries(), 0u);
}

// A read of the old version that started before the file was replaced and
// finishes after the new version was cached must not put the old one back.
TEST(FileCache, ASlowReadOfAnOlderVersionDoesNotReplaceANewerEntry) {
  FileCache cache(1024, 512, 1000);
  std::string old_data(100, 'o');
  std::string new_data(100, 'n');
  ASSERT_TRUE(cache.Insert("f", Status(100, 2), new_data.data(), 100, 50));
  EXPECT_FALSE(cache.Insert("f", Status(100, 1), old_data.data(), 100, 40));
  CachedFile* entry = cache.Find("f");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(Text(*entry->bytes), new_data);
  EXPECT_EQ(entry->checked_ms, 50);
  // A later check replaces it as before.
  EXPECT_TRUE(cache.Insert("f", Status(100, 3), old_data.data(), 100, 60));
  EXPECT_EQ(Text(*cache.Find("f")->bytes), old_data);
  EXPECT_EQ(cache.used(), 100u);
}

}  // namespace
}  // namespace ferry

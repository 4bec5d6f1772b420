#include "document_root.h"

#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "test_files.h"

namespace ferry {
namespace {

using testing::TempDir;

TEST(DocumentRoot, OpensARegularFileWithItsStatus) {
  TempDir dir;
  dir.Write("a/b.txt", "hello");
  DocumentRoot root(dir.path());
  OpenedFile opened = root.Open("a/b.txt", /*cached_only=*/false);
  ASSERT_EQ(opened.error, 0);
  ASSERT_TRUE(opened.fd);
  EXPECT_EQ(opened.status.type, FileStatus::Type::kRegular);
  EXPECT_EQ(opened.status.size, 5u);
  EXPECT_GT(opened.status.mtime_sec, 0);
  if (testing::SupportsDirectIo(dir.path())) {
    EXPECT_GT(opened.status.direct_align, 0u) << "O_DIRECT with its alignment";
  } else {
    EXPECT_EQ(opened.status.direct_align, 0u);
  }
}

/// True when something opened `path` since the watch began (IN_OPEN; an
/// O_PATH descriptor raises none).
class OpenWatch {
 public:
  explicit OpenWatch(const std::string& path)
      : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    EXPECT_GE(inotify_add_watch(fd_.get(), path.c_str(), IN_OPEN), 0);
  }
  bool Opened() const {
    alignas(inotify_event) char buffer[4096];
    return read(fd_.get(), buffer, sizeof buffer) > 0;
  }

 private:
  UniqueFd fd_;
};

TEST(DocumentRoot, AFifoIsNotOpenedToLearnItsType) {
  TempDir dir;
  std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  DocumentRoot root(dir.path());
  OpenWatch watch(fifo);
  OpenedFile opened = root.Open("fifo", /*cached_only=*/false);
  EXPECT_EQ(opened.error, 0);
  EXPECT_EQ(opened.status.type, FileStatus::Type::kOther);
  EXPECT_FALSE(watch.Opened()) << "opening a FIFO wakes its writers";
}

TEST(DocumentRoot, ADeviceIsNotOpenedToLearnItsType) {
  if (geteuid() != 0) GTEST_SKIP() << "mknod needs root";
  TempDir dir;
  std::string device = dir.path() + "/null";
  ASSERT_EQ(mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  DocumentRoot root(dir.path());
  OpenWatch watch(device);
  EXPECT_EQ(root.Open("null", false).status.type, FileStatus::Type::kOther);
  EXPECT_FALSE(watch.Opened()) << "a device's open() has effects";
  // A regular file is still opened, and the watch would have seen it.
  dir.Write("plain", "x");
  OpenWatch plain(dir.path() + "/plain");
  EXPECT_EQ(root.Open("plain", false).status.type, FileStatus::Type::kRegular);
  EXPECT_TRUE(plain.Opened());
}

TEST(DocumentRoot, ADirectoryOpensWithoutDirectIo) {
  TempDir dir;
  dir.Write("d/x", "");
  DocumentRoot root(dir.path());
  OpenedFile opened = root.Open("d", false);
  ASSERT_EQ(opened.error, 0);
  EXPECT_EQ(opened.status.type, FileStatus::Type::kDirectory);
  EXPECT_EQ(opened.status.direct_align, 0u);
  EXPECT_EQ(root.Open("", false).status.type, FileStatus::Type::kDirectory);
}

TEST(DocumentRoot, NothingOutsideTheRootCanBeOpened) {
  TempDir outside;
  outside.Write("root/inside", "in");
  std::string secret = outside.Write("secret", "out");
  DocumentRoot root(outside.path() + "/root");
  std::filesystem::create_symlink(secret, outside.path() + "/root/absolute");
  std::filesystem::create_symlink("../secret",
                                  outside.path() + "/root/relative");
  for (const char* path : {"../secret", "absolute", "relative", "/etc/passwd",
                           "inside/../../secret"}) {
    OpenedFile opened = root.Open(path, false);
    EXPECT_NE(opened.error, 0) << path;
    EXPECT_FALSE(opened.fd) << path;
  }
  EXPECT_EQ(root.Open("inside", false).error, 0);
}

TEST(DocumentRoot, ASymlinkInsideTheRootIsFollowed) {
  TempDir dir;
  dir.Write("target.txt", "t");
  std::filesystem::create_symlink("target.txt", dir.path() + "/link.txt");
  DocumentRoot root(dir.path());
  OpenedFile opened = root.Open("link.txt", false);
  EXPECT_EQ(opened.error, 0);
  EXPECT_EQ(opened.status.size, 1u);
}

TEST(DocumentRoot, AFifoOpensWithoutHangingAndIsNotRegular) {
  TempDir dir;
  ASSERT_EQ(mkfifo((dir.path() + "/pipe").c_str(), 0644), 0);
  DocumentRoot root(dir.path());
  OpenedFile opened = root.Open("pipe", false);
  ASSERT_EQ(opened.error, 0);
  EXPECT_EQ(opened.status.type, FileStatus::Type::kOther);
}

TEST(DocumentRoot, MissingFilesReportENOENT) {
  TempDir dir;
  DocumentRoot root(dir.path());
  EXPECT_EQ(root.Open("nope", false).error, -ENOENT);
}

TEST(DocumentRoot, ACachedOnlyLookupNeverFailsWithAnythingButEagainForAFile) {
  TempDir dir;
  dir.Write("f", "x");
  DocumentRoot root(dir.path());
  ASSERT_EQ(root.Open("f", false).error, 0);  // now in the dentry cache
  OpenedFile opened = root.Open("f", /*cached_only=*/true);
  EXPECT_TRUE(opened.error == 0 || opened.error == -EAGAIN) << opened.error;
}

TEST(DocumentRoot, TheLoopLeavesAFileSystemsFirstDirectReadToAHelper) {
  TempDir dir;
  dir.Write("f", "x");
  if (!testing::SupportsDirectIo(dir.path())) GTEST_SKIP() << "no O_DIRECT";
  DocumentRoot warm(dir.path());
  // A helper's open: the path is in the dentry cache now, and the file
  // system had its first direct read.
  ASSERT_EQ(warm.Open("f", /*cached_only=*/false).error, 0);
  EXPECT_EQ(warm.Open("f", /*cached_only=*/true).error, 0);
  // The same path, by a root that made no read yet: not on the loop.
  DocumentRoot fresh(dir.path());
  EXPECT_EQ(fresh.Open("f", /*cached_only=*/true).error, -EAGAIN);
}

TEST(DocumentRoot, ARootThatIsNotADirectoryIsRefused) {
  TempDir dir;
  std::string file = dir.Write("f", "x");
  EXPECT_THROW(DocumentRoot{file}, std::system_error);
  EXPECT_THROW(DocumentRoot{dir.path() + "/missing"}, std::system_error);
}

}  // namespace
}  // namespace ferry

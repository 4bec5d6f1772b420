#include "direct_read_warmup.h"

#include <gtest/gtest.h>

#include "document_root.h"
#include "test_files.h"

namespace ferry {
namespace {

using testing::TempDir;

FileStatus DirectFile(std::uint64_t device, std::uint64_t size) {
  FileStatus status;
  status.type = FileStatus::Type::kRegular;
  status.device = device;
  status.size = size;
  status.direct_align = 512;
  return status;
}

TEST(DirectReadWarmup, NothingToDoWhereNothingIsReadDirectly) {
  DirectReadWarmup warmup;
  FileStatus buffered = DirectFile(7, 100);
  buffered.direct_align = 0;
  FileStatus directory = DirectFile(7, 4096);
  directory.type = FileStatus::Type::kDirectory;
  EXPECT_TRUE(warmup.Done(buffered));
  EXPECT_TRUE(warmup.Done(directory));
  EXPECT_TRUE(warmup.Done(DirectFile(7, 0)));  // empty: never read
  EXPECT_FALSE(warmup.Done(DirectFile(7, 1)));
}

TEST(DirectReadWarmup, AFileSystemIsDoneOnceAFileOnItWasRead) {
  TempDir dir;
  dir.Write("f", std::string(10000, 'x'));
  DocumentRoot root(dir.path());
  OpenedFile opened = root.Open("f", /*cached_only=*/false);
  ASSERT_EQ(opened.error, 0);
  if (opened.status.direct_align == 0) GTEST_SKIP() << "no O_DIRECT here";
  DirectReadWarmup warmup;
  EXPECT_FALSE(warmup.Done(opened.status));
  warmup.Make(opened.fd.get(), opened.status);
  EXPECT_TRUE(warmup.Done(opened.status));
  // Another file system is still to do; device 0 is a device too.
  EXPECT_FALSE(warmup.Done(DirectFile(opened.status.device + 1, 1)));
  EXPECT_FALSE(warmup.Done(DirectFile(0, 1)));
}

TEST(DirectReadWarmup, ADescriptorThatCannotReadStillCountsAsDone) {
  // A failing first read must not send every later open to a helper.
  DirectReadWarmup warmup;
  warmup.Make(-1, DirectFile(9, 4096));
  EXPECT_TRUE(warmup.Done(DirectFile(9, 4096)));
}

}  // namespace
}  // namespace ferry

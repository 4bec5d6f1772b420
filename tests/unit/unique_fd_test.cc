#include "unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace ferry {
namespace {

/// True when `fd` is open in this process.
bool IsOpen(int fd) {
  errno = 0;
  return fcntl(fd, F_GETFD) != -1;
}

/// A fresh descriptor, owned by nobody yet.
int NewFd() { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

TEST(UniqueFd, EmptyByDefault) {
  UniqueFd fd;
  EXPECT_EQ(fd.get(), -1);
  EXPECT_FALSE(fd);
  fd.Reset();  // closes nothing
  EXPECT_FALSE(fd);
}

TEST(UniqueFd, ClosesWhatItOwnsWhenDestroyed) {
  int raw = NewFd();
  ASSERT_GE(raw, 0);
  {
    UniqueFd fd(raw);
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), raw);
  }
  EXPECT_FALSE(IsOpen(raw));
  EXPECT_EQ(errno, EBADF);
}

TEST(UniqueFd, ResetClosesTheOldAndTakesTheNew) {
  int first = NewFd();
  int second = NewFd();
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  UniqueFd fd(first);
  fd.Reset(second);
  EXPECT_FALSE(IsOpen(first));
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(fd.get(), second);
  EXPECT_TRUE(IsOpen(second));
  fd.Reset();
  EXPECT_FALSE(fd);
  EXPECT_FALSE(IsOpen(second));
  EXPECT_EQ(errno, EBADF);
}

TEST(UniqueFd, MovingHandsOverOwnership) {
  int raw = NewFd();
  ASSERT_GE(raw, 0);
  UniqueFd from(raw);
  UniqueFd to(std::move(from));
  EXPECT_FALSE(from);  // NOLINT(bugprone-use-after-move): the contract
  EXPECT_EQ(to.get(), raw);
  EXPECT_TRUE(IsOpen(raw));

  int other = NewFd();
  ASSERT_GE(other, 0);
  UniqueFd assigned(other);
  assigned = std::move(to);  // closes what `assigned` held
  EXPECT_FALSE(IsOpen(other));
  EXPECT_EQ(assigned.get(), raw);
  EXPECT_FALSE(to);  // NOLINT(bugprone-use-after-move): the contract
  EXPECT_TRUE(IsOpen(raw));
}

TEST(UniqueFd, MoveAssigningToItselfKeepsTheDescriptor) {
  int raw = NewFd();
  ASSERT_GE(raw, 0);
  UniqueFd fd(raw);
  UniqueFd& alias = fd;
  fd = std::move(alias);
  EXPECT_EQ(fd.get(), raw);
  EXPECT_TRUE(IsOpen(raw));
}

TEST(UniqueFd, ReleaseGivesUpWithoutClosing) {
  int raw = NewFd();
  ASSERT_GE(raw, 0);
  {
    UniqueFd fd(raw);
    EXPECT_EQ(fd.Release(), raw);
    EXPECT_FALSE(fd);
  }
  EXPECT_TRUE(IsOpen(raw));
  close(raw);
}

}  // namespace
}  // namespace ferry

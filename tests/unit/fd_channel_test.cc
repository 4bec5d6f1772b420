#include "fd_channel.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace ferry {
namespace {

TEST(FdChannel, ADescriptorCrossesAndStillWorks) {
  FdChannel channel = FdChannel::Make();
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  ASSERT_EQ(SendFd(channel.master.get(), write_end.get()), 0);
  int error = -1;
  UniqueFd received = ReceiveFd(channel.worker.get(), &error);
  ASSERT_TRUE(received) << error;
  EXPECT_NE(received.get(), write_end.get());
  EXPECT_TRUE(fcntl(received.get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_EQ(write(received.get(), "hi", 2), 2);
  char buffer[2];
  ASSERT_EQ(read(read_end.get(), buffer, 2), 2);
  EXPECT_EQ(std::string(buffer, 2), "hi");
}

TEST(FdChannel, NothingQueuedIsEagainAndAClosedPeerIsEpipe) {
  FdChannel channel = FdChannel::Make();
  int error = 0;
  EXPECT_FALSE(ReceiveFd(channel.worker.get(), &error));
  EXPECT_EQ(error, -EAGAIN);
  channel.master.Reset();
  EXPECT_FALSE(ReceiveFd(channel.worker.get(), &error));
  EXPECT_EQ(error, -EPIPE);
}

}  // namespace
}  // namespace ferry

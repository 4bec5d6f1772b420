#include "byte_stream.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "test_files.h"
#include "unique_fd.h"

namespace ferry {
namespace {

class SocketStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    ours_.Reset(fds[0]);
    theirs_.Reset(fds[1]);
    stream_.Attach(ours_.get());
  }

  std::string ReadTheirs() {
    char buffer[256];
    ssize_t n = read(theirs_.get(), buffer, sizeof buffer);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "";
  }

  UniqueFd ours_, theirs_;
  SocketStream stream_;
};

TEST_F(SocketStreamTest, ErrorsAreNegativeErrnoValues) {
  char buffer[16];
  EXPECT_EQ(stream_.Receive(buffer, sizeof buffer), -EAGAIN);
  ASSERT_EQ(write(theirs_.get(), "hi", 2), 2);
  EXPECT_EQ(stream_.Receive(buffer, sizeof buffer), 2);
  theirs_.Reset();
  EXPECT_EQ(stream_.Receive(buffer, sizeof buffer), 0);  // end of input
  iovec one{buffer, 1};
  EXPECT_EQ(stream_.Send(&one, 1, false), -EPIPE);  // and no SIGPIPE
}

TEST_F(SocketStreamTest, SendGathersAndSendFileAdvances) {
  char head[] = "head,";
  char body[] = "body";
  iovec iov[2] = {{head, 5}, {body, 4}};
  EXPECT_EQ(stream_.Send(iov, 2, false), 9);
  EXPECT_EQ(ReadTheirs(), "head,body");

  testing::TempDir dir;
  std::string path = dir.Write("f", "0123456789");
  UniqueFd file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  off_t offset = 3;
  EXPECT_EQ(stream_.SendFile(file.get(), &offset, 4), 4);
  EXPECT_EQ(offset, 7);
  EXPECT_EQ(ReadTheirs(), "3456");
}

TEST_F(SocketStreamTest, ShutdownWriteEndsOurSideOnly) {
  stream_.ShutdownWrite();
  char buffer[4];
  EXPECT_EQ(read(theirs_.get(), buffer, sizeof buffer), 0);
  ASSERT_EQ(write(theirs_.get(), "x", 1), 1);  // theirs still reaches us
  EXPECT_EQ(stream_.Receive(buffer, sizeof buffer), 1);
}

}  // namespace
}  // namespace ferry

#include "system_error.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace ferry {
namespace {

/// The std::system_error `call` throws (code 0 and "" when none).
template <typename Call>
std::system_error Thrown(Call call) {
  try {
    call();
  } catch (const std::system_error& error) {
    return error;
  }
  return std::system_error(std::error_code(), "");
}

TEST(SystemError, ThrowNamesTheCallAndItsArgumentKeepingTheCode) {
  std::system_error error =
      Thrown([] { ThrowSystemError(ENOENT, "open", "/srv/www"); });
  EXPECT_EQ(error.code(), std::error_code(ENOENT, std::generic_category()));
  EXPECT_EQ(error.code(), std::errc::no_such_file_or_directory);
  EXPECT_EQ(std::string(error.what()),
            "open(/srv/www): " + std::generic_category().message(ENOENT));
}

TEST(SystemError, WithoutAnArgumentTheCallAlone) {
  std::system_error error =
      Thrown([] { ThrowSystemError(EAGAIN, "io_submit"); });
  EXPECT_EQ(error.code().value(), EAGAIN);
  EXPECT_EQ(std::string(error.what()),
            "io_submit: " + std::generic_category().message(EAGAIN));
}

TEST(SystemError, CheckCallPassesResultsThrough) {
  EXPECT_EQ(CheckCall(0, "close"), 0);
  EXPECT_EQ(CheckCall(42, "read"), 42);
  EXPECT_EQ(CheckCall(-2, "odd"), -2);  // only -1 means errno
}

TEST(SystemError, CheckCallThrowsErrnoOfAFailedCall) {
  std::system_error error = Thrown([] {
    CheckCall(open("/nonexistent/ferry", O_RDONLY | O_CLOEXEC), "open",
              "/nonexistent/ferry");
  });
  EXPECT_EQ(error.code().value(), ENOENT);
  EXPECT_EQ(error.code().category(), std::generic_category());
  EXPECT_NE(std::string(error.what()).find("open(/nonexistent/ferry)"),
            std::string::npos)
      << error.what();

  error = Thrown([] { CheckCall(close(-1), "close"); });
  EXPECT_EQ(error.code().value(), EBADF);
  EXPECT_TRUE(std::string(error.what()).starts_with("close: ")) << error.what();
}

}  // namespace
}  // namespace ferry

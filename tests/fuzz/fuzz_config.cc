// The --config file parser: the input is the file. Any input either parses
// or throws ConfigError; anything else escaping is a bug. A configuration
// that parses is printed (as --check-config does) and read back: the
// printout must be a config file that gives the same configuration.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "config.h"
#include "fuzz_check.h"

namespace {

/// A memfd holding the input, named by a /proc/self/fd path: no disk I/O
/// per input.
class MemoryFile {
 public:
  MemoryFile() : fd_(memfd_create("ferry-fuzz-config", MFD_CLOEXEC)) {
    FUZZ_CHECK(fd_ >= 0);
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  const std::string& Write(const void* data, std::size_t size) {
    FUZZ_CHECK(ftruncate(fd_, 0) == 0);
    FUZZ_CHECK(pwrite(fd_, data, size, 0) == static_cast<ssize_t>(size));
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

/// Parses the config file at `path`; false on ConfigError.
bool Parse(const std::string& path, ferry::Config* config) {
  const char* argv[] = {"ferryd", "--config", path.c_str()};
  try {
    *config = ferry::ParseCommandLine(3, argv).config;
    return true;
  } catch (const ferry::ConfigError&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static MemoryFile file;
  ferry::Config config;
  if (!Parse(file.Write(data, size), &config)) return 0;

  const std::string described = ferry::DescribeConfig(config);
  ferry::Config again;
  FUZZ_CHECK(Parse(file.Write(described.data(), described.size()), &again));
  FUZZ_CHECK(ferry::DescribeConfig(again) == described);
  return 0;
}

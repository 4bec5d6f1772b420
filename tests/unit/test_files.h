#pragma once
// Temporary directories and files for tests that need real kernel objects.

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ferry::testing {

/// A fresh directory under TMPDIR (or /var/tmp: disk-backed, so O_DIRECT
/// works), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string pattern =
        std::string(base ? base : "/var/tmp") + "/ferry-test-XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

  /// Writes `content` to `relative` (parents created) and returns the path.
  std::string Write(const std::string& relative,
                    const std::string& content) const {
    std::filesystem::path file = std::filesystem::path(path_) / relative;
    std::filesystem::create_directories(file.parent_path());
    int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      (void)!write(fd, content.data(), content.size());
      close(fd);
    }
    return file;
  }

 private:
  std::string path_;
};

/// True when the file system under `dir` accepts O_DIRECT opens.
inline bool SupportsDirectIo(const std::string& dir) {
  std::string probe = dir + "/.direct-probe";
  int fd = open(probe.c_str(), O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  close(fd);
  unlink(probe.c_str());
  return true;
}

}  // namespace ferry::testing

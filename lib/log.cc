#include "log.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "memory_lock.h"
#include "unique_fd.h"

namespace ferry {
namespace {

constexpr std::size_t kLineBytes = 1024;

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

/// True when stderr is connected to the journal (systemd.exec(5),
/// JOURNAL_STREAM is "DEVICE:INODE" of that stream).
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat st {};
  return fstat(STDERR_FILENO, &st) == 0 && st.st_dev == device &&
         st.st_ino == inode;
}

void WriteAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report it
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

/// Vyukov's bounded MPMC queue of fixed-size lines: producers never wait.
class Ring {
 public:
  explicit Ring(std::uint32_t records)
      : mask_(RoundUp(records) - 1), cells_(new Cell[mask_ + 1]) {
    for (std::size_t i = 0; i <= mask_; ++i) {
      cells_[i].sequence.store(i, std::memory_order_relaxed);
    }
  }

  bool Push(const char* line, std::size_t length) {
    std::size_t pos = enqueue_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[pos & mask_];
      std::size_t seq = cell.sequence.load(std::memory_order_acquire);
      auto diff =
          static_cast<std::ptrdiff_t>(seq) - static_cast<std::ptrdiff_t>(pos);
      if (diff == 0) {
        if (enqueue_.compare_exchange_weak(pos, pos + 1,
                                           std::memory_order_relaxed)) {
          cell.length = length;
          std::memcpy(cell.text, line, length);
          cell.sequence.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
      } else {
        pos = enqueue_.load(std::memory_order_relaxed);
      }
    }
  }

  /// Single consumer: appends every complete line to `out`.
  void Drain(std::string* out) {
    for (;;) {
      Cell& cell = cells_[dequeue_ & mask_];
      if (cell.sequence.load(std::memory_order_acquire) != dequeue_ + 1) return;
      out->append(cell.text, cell.length);
      cell.sequence.store(dequeue_ + mask_ + 1, std::memory_order_release);
      ++dequeue_;
    }
  }

  std::uint64_t dropped() const {
    return dropped_.load(std::memory_order_relaxed);
  }

 private:
  struct Cell {
    std::atomic<std::size_t> sequence;
    std::size_t length = 0;
    char text[kLineBytes];
  };
  static std::size_t RoundUp(std::uint32_t n) {
    std::size_t size = 2;
    while (size < n) size *= 2;
    return size;
  }

  const std::size_t mask_;
  std::unique_ptr<Cell[]> cells_;
  std::atomic<std::size_t> enqueue_{0};
  std::size_t dequeue_ = 0;
  std::atomic<std::uint64_t> dropped_{0};
};

/// Where access records go.
class AccessSink {
 public:
  enum class Kind { kOff, kFile, kStdout, kSyslog };

  AccessSink(const std::string& where, UniqueFd file)
      : path_(where), fd_(std::move(file)) {
    if (where == "off") {
      kind_ = Kind::kOff;
    } else if (where == "-") {
      kind_ = Kind::kStdout;
    } else if (where == "syslog") {
      kind_ = Kind::kSyslog;
      openlog("ferryd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    } else {
      kind_ = Kind::kFile;
      if (!fd_) OpenFile();
    }
  }

  Kind kind() const { return kind_; }

  void OpenFile() {
    if (kind_ != Kind::kFile) return;
    int fd = OpenAccessLogFile(path_, geteuid());
    if (fd < 0) {
      Log(LogLevel::kError, "--access-log: '%s': %s", path_.c_str(),
          AccessLogError(fd).c_str());
      return;
    }
    fd_.Reset(fd);
  }

  void Replace(UniqueFd file) {
    if (kind_ == Kind::kFile) fd_ = std::move(file);
  }

  /// Writes `batch`; while the file accepts nothing (EAGAIN: a full FIFO)
  /// waits in slices, giving up once `stopping` is set.
  void Write(const std::string& batch, const std::atomic<bool>& stopping) {
    if (batch.empty()) return;
    switch (kind_) {
      case Kind::kOff:
        return;
      case Kind::kStdout:
        WriteAll(STDOUT_FILENO, batch.data(), batch.size());
        return;
      case Kind::kSyslog:
        for (std::size_t start = 0; start < batch.size();) {
          std::size_t end = batch.find('\n', start);
          syslog(LOG_INFO, "%.*s", static_cast<int>(end - start),
                 batch.data() + start);
          start = end + 1;
        }
        return;
      case Kind::kFile:
        break;
    }
    const char* data = batch.data();
    std::size_t size = batch.size();
    while (size > 0) {
      ssize_t n = ::write(fd_.get(), data, size);
      if (n > 0) {
        data += n;
        size -= static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        if (stopping.load(std::memory_order_acquire)) return;
        pollfd pfd{fd_.get(), POLLOUT, 0};
        poll(&pfd, 1, 100);
        continue;
      }
      return;  // a failing disk: nothing better to do than drop
    }
  }

 private:
  std::string path_;
  Kind kind_ = Kind::kOff;
  UniqueFd fd_;
};

struct Drainer {
  Ring ring;
  Ring access_ring;
  AccessSink access;
  UniqueFd wake{eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  std::atomic<bool> stopping{false};
  std::atomic<int> replacement{-1};  ///< a new access log fd, or -1
  std::thread thread;

  Drainer(std::uint32_t records, const std::string& access_log,
          UniqueFd access_file)
      : ring(records),
        access_ring(records),
        access(access_log, std::move(access_file)) {}

  void Wake() {
    std::uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof one);
  }

  void Run() {
    std::string batch;
    for (;;) {
      bool stop = stopping.load(std::memory_order_acquire);
      int replacement_fd = replacement.exchange(-1, std::memory_order_acq_rel);
      if (replacement_fd >= 0) access.Replace(UniqueFd(replacement_fd));
      batch.clear();
      ring.Drain(&batch);
      WriteAll(STDERR_FILENO, batch.data(), batch.size());
      batch.clear();
      access_ring.Drain(&batch);
      access.Write(batch, stopping);
      if (stop) return;
      // Warnings and reopen requests ring the eventfd; other lines wait for
      // the next poll.
      pollfd pfd{wake.get(), POLLIN, 0};
      if (poll(&pfd, 1, 100) > 0) {
        std::uint64_t ignored;
        (void)!::read(wake.get(), &ignored, sizeof ignored);
      }
    }
  }
};

std::atomic<Drainer*> g_drainer{nullptr};
std::atomic<std::uint64_t> g_dropped_total{0};

}  // namespace

LogLevel ParseLogLevel(const std::string& name) {
  if (name == "error") return LogLevel::kError;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "notice") return LogLevel::kNotice;
  if (name == "debug") return LogLevel::kDebug;
  return LogLevel::kInfo;
}

void SetLogLevel(LogLevel level) {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

void Log(LogLevel level, const char* format, ...) {
  if (!LogEnabled(level)) return;
  static const bool journal = StderrIsJournal();
  char line[kLineBytes];
  int prefix =
      journal
          ? std::snprintf(line, sizeof line, "<%d>", static_cast<int>(level))
          : std::snprintf(line, sizeof line,
                          "ferryd[%d]: ", static_cast<int>(getpid()));
  va_list args;
  va_start(args, format);
  int body =
      std::vsnprintf(line + prefix, sizeof line - prefix - 1, format, args);
  va_end(args);
  std::size_t length =
      static_cast<std::size_t>(prefix) +
      std::min<std::size_t>(body < 0 ? 0 : body, sizeof line - prefix - 2);
  line[length++] = '\n';
  Drainer* drainer = g_drainer.load(std::memory_order_acquire);
  if (drainer == nullptr) {
    WriteAll(STDERR_FILENO, line, length);
    return;
  }
  if (drainer->ring.Push(line, length) && level <= LogLevel::kWarning) {
    drainer->Wake();
  }
}

int OpenAccessLogFile(const std::string& path, uid_t serving_uid) {
  // GOTCHA: root appending through a symlink or a hard link that the log
  // directory's owner planted writes any file (CVE-2016-1247).
  UniqueFd fd(open(path.c_str(),
                   O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
                       O_CLOEXEC | O_NOCTTY,
                   0640));
  if (!fd) return -errno;
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return -errno;
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) return -EINVAL;
  if (S_ISREG(st.st_mode) && st.st_nlink > 1) return -EMLINK;
  if (st.st_uid != geteuid() && st.st_uid != serving_uid) return -EPERM;
  return fd.Release();
}

std::string AccessLogError(int error) {
  switch (error) {
    case -ELOOP:
      return "is a symbolic link (refused)";
    case -EINVAL:
      return "is not a regular file or a FIFO (refused)";
    case -EMLINK:
      return "has another hard link (refused)";
    case -EPERM:
      return "is owned by neither ferryd's user nor --user (refused)";
    default:
      return std::strerror(-error);
  }
}

bool LogRing::AccessLogEnabled() {
  Drainer* drainer = g_drainer.load(std::memory_order_acquire);
  return drainer != nullptr && drainer->access.kind() != AccessSink::Kind::kOff;
}

bool LogRing::AccessLog(const char* line, std::size_t length) {
  Drainer* drainer = g_drainer.load(std::memory_order_acquire);
  return drainer != nullptr && drainer->access_ring.Push(line, length);
}

void LogRing::ReplaceAccessLog(UniqueFd file) {
  Drainer* drainer = g_drainer.load(std::memory_order_acquire);
  if (drainer == nullptr) return;
  // An earlier replacement the thread has not taken yet is superseded.
  UniqueFd superseded(
      drainer->replacement.exchange(file.Release(), std::memory_order_acq_rel));
  drainer->Wake();
}

LogRing::LogRing(std::uint32_t records, const std::string& access_log,
                 UniqueFd access_file) {
  auto* drainer = new Drainer(records, access_log, std::move(access_file));
  drainer->thread = StartBesideLoop("ferry-log", [drainer] { drainer->Run(); });
  g_drainer.store(drainer, std::memory_order_release);
}

LogRing::~LogRing() {
  Drainer* drainer = g_drainer.exchange(nullptr, std::memory_order_acq_rel);
  drainer->stopping.store(true, std::memory_order_release);
  drainer->Wake();
  drainer->thread.join();
  UniqueFd untaken(drainer->replacement.exchange(-1));
  g_dropped_total.fetch_add(
      drainer->ring.dropped() + drainer->access_ring.dropped(),
      std::memory_order_relaxed);
  delete drainer;
}

std::uint64_t LogRing::Dropped() {
  Drainer* drainer = g_drainer.load(std::memory_order_acquire);
  return g_dropped_total.load(std::memory_order_relaxed) +
         (drainer ? drainer->ring.dropped() + drainer->access_ring.dropped()
                  : 0);
}

}  // namespace ferry

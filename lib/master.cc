#include "master.h"

#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aio_context.h"
#include "counters.h"
#include "document_root.h"
#include "fd_channel.h"
#include "interval_timer.h"
#include "listeners.h"
#include "log.h"
#include "metrics.h"
#include "mime_types.h"
#include "privileges.h"
#include "signals.h"
#include "system_error.h"
#include "worker.h"

namespace ferry {
namespace {

constexpr std::int64_t kRestartDelayMillis = 1000;
constexpr std::int64_t kKillGraceMillis = 5000;
constexpr std::int64_t kReloadSwitchMillis = 5000;

void RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

unsigned WorkerCount(const Config& config) {
  if (config.workers != 0) return config.workers;
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<unsigned>(online) : 1;
}

/// The master's state: worker processes by index, in two generations so
/// that a reload's new workers write other counters than the old ones that
/// are still finishing (every counter keeps a single writer).
class Master {
 public:
  Master(Config config, int argc, const char* const* argv)
      : config_(std::move(config)),
        argc_(argc),
        argv_(argv),
        workers_(WorkerCount(config_)),
        counters_(2 * workers_),
        slots_(2 * workers_) {}

  int Run();

 private:
  struct Slot {
    pid_t pid = 0;
    std::uint64_t heartbeat_seen = 0;  ///< at the last watchdog ping
    bool retiring = false;  ///< told to stop (old generation, or shutdown)
    std::int64_t started_ms = 0;
    std::int64_t restart_at_ms = 0;  ///< 0: no restart pending
    UniqueFd channel;  ///< the master's end of the worker's FdChannel
  };

  void OpenListeners();
  void ServeMetrics();
  void ReopenAccessLog();
  void StartWorker(unsigned slot);
  [[noreturn]] void RunWorker(unsigned slot, UniqueFd channel);
  void ReapChildren();
  void Reload();
  void FinishReloadWhenSwitched(std::int64_t now);
  void Stop();
  bool AnyAlive() const;
  void Notify(const std::string& state) const { sd_notify(0, state.c_str()); }
  std::string StatusLine() const;
  void PingWatchdogIfAlive(std::int64_t now);

  Config config_;
  int argc_;
  const char* const* argv_;
  unsigned workers_;
  unsigned generation_ = 0;  ///< slots [gen*workers, (gen+1)*workers) serve
  ListenerSet listeners_;
  ListenerSet metrics_listener_;  ///< --metrics-listen: the master's own
  CountersPage counters_;
  std::vector<Slot> slots_;
  std::optional<SignalFd> signals_;
  Credentials credentials_;
  /// Loaded here, before the workers exist, so that no worker loop reads
  /// /etc/mime.types; they inherit it.
  MimeTypes mime_;
  pid_t master_pid_ = getpid();
  bool stopping_ = false;
  std::int64_t next_ping_ms_ = 0;
  /// A reload waits for the new workers to accept and the old ones to stop
  /// accepting before it says READY=1 (until this deadline; 0: none).
  std::int64_t reload_deadline_ms_ = 0;
  bool withheld_ = false;
  std::string last_status_;  ///< the last ping was withheld (logged once)
};

void Master::OpenListeners() {
  int inherited = listeners_.TakeInherited();
  if (inherited == 0 || config_.listen_given) {
    listeners_.OpenOwn(config_.listen, workers_);
  }
  for (const std::string& name : listeners_.Names()) {
    Log(LogLevel::kNotice, "listening on %s", name.c_str());
  }
  if (!config_.metrics_listen.text.empty()) {
    metrics_listener_.OpenOwn({config_.metrics_listen}, 1);
    Log(LogLevel::kNotice, "metrics on %s",
        metrics_listener_.Names().front().c_str());
  }
}

void Master::ReopenAccessLog() {
  if (!AccessLogIsFile(config_.access_log)) return;
  // The workers may have dropped the rights to open it: the master opens
  // it and hands it over.
  int fd = OpenAccessLogFile(config_.access_log);
  if (fd < 0) {
    Log(LogLevel::kError, "reopening the access log %s: %s",
        config_.access_log.c_str(), std::strerror(-fd));
    return;
  }
  UniqueFd file(fd);
  for (unsigned i = 0; i < slots_.size(); ++i) {
    if (slots_[i].pid <= 0) continue;
    if (int error = SendFd(slots_[i].channel.get(), file.get())) {
      Log(LogLevel::kError, "passing the access log to worker %u: %s",
          i % workers_, std::strerror(error));
    }
  }
  Log(LogLevel::kNotice, "reopened the access log %s",
      config_.access_log.c_str());
}

void Master::ServeMetrics() {
  int listener = metrics_listener_.all().front().fd.get();
  for (;;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a passing error: poll says when to retry
    UniqueFd client(fd);
    AnswerMetricsRequest(client.get(), counters_, workers_);
  }
}

int Master::Run() {
  SetLogLevel(ParseLogLevel(config_.log_level));
  std::uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/1, &watchdog_usec) > 0) {
    config_.watchdog_interval = Milliseconds(watchdog_usec / 1000);
  }
  RaiseDescriptorLimit();
  BlockDaemonSignals();
  CheckConfig(config_);  // fail now, in one clear line
  credentials_ = ResolveCredentials(config_);
  mime_.LoadFile(config_.mime_types);
  tzset();  // the zone file is read now, not by a worker's localtime_r
  {
    // Every worker will need its own AIO context: ask the kernel for all of
    // them now, so that a too large --queue-depth fails here, in one line
    // naming the sysctl, instead of in every worker forever.
    std::vector<std::unique_ptr<AioContext>> probe;
    for (unsigned i = 0; i < workers_; ++i) {
      probe.push_back(std::make_unique<AioContext>(config_.queue_depth));
    }
  }
  OpenListeners();
  signals_.emplace(DaemonSignals());
  for (unsigned i = 0; i < workers_; ++i) StartWorker(i);
  Log(LogLevel::kNotice,
      "ferryd %s serving %s with %u worker%s (block-size %lluK, read-ahead "
      "%u, buffer-memory %lluM, file-cache %lluM, queue-depth %u, "
      "max-connections %u, access-log %s, %s)",
      FERRY_VERSION, config_.root.c_str(), workers_, workers_ == 1 ? "" : "s",
      static_cast<unsigned long long>(config_.block_size >> 10),
      config_.read_ahead,
      static_cast<unsigned long long>(config_.buffer_memory >> 20),
      static_cast<unsigned long long>(config_.file_cache >> 20),
      config_.queue_depth, config_.max_connections, config_.access_log.c_str(),
      credentials_.change ? ("user " + config_.user).c_str()
                          : (geteuid() == 0 ? "as root" : "unprivileged"));
  Notify("READY=1\nSTATUS=" + StatusLine());

  std::int64_t stop_deadline = 0;
  int wake_ms = 1000;
  if (config_.watchdog_interval.count() > 0) {
    wake_ms = static_cast<int>(std::clamp<std::int64_t>(
        config_.watchdog_interval.count() / 4, 1, 1000));
  }
  while (!stopping_ || AnyAlive()) {
    pollfd pfds[2] = {{signals_->fd(), POLLIN, 0}, {-1, POLLIN, 0}};
    if (!metrics_listener_.empty()) {
      pfds[1].fd = metrics_listener_.all().front().fd.get();
    }
    int ready = poll(pfds, 2, reload_deadline_ms_ != 0 ? 10 : wake_ms);
    if (ready < 0 && errno != EINTR) ThrowSystemError(errno, "poll");
    if (ready > 0 && (pfds[1].revents & POLLIN)) ServeMetrics();
    signalfd_siginfo batch[16];
    for (std::size_t n; (n = signals_->Read(batch, 16)) > 0;) {
      for (std::size_t i = 0; i < n; ++i) {
        switch (batch[i].ssi_signo) {
          case SIGCHLD:
            ReapChildren();
            break;
          case SIGTERM:
          case SIGINT:
            if (!stopping_) {
              Stop();
              stop_deadline = MonotonicMillis() +
                              config_.shutdown_timeout.count() +
                              kKillGraceMillis;
            }
            break;
          case SIGHUP:
            if (!stopping_) Reload();
            break;
          case SIGUSR1:
            ReopenAccessLog();
            break;
          default:
            break;
        }
      }
    }
    std::int64_t now = MonotonicMillis();
    if (stopping_ && now >= stop_deadline) {
      for (const Slot& slot : slots_) {
        if (slot.pid > 0) kill(slot.pid, SIGKILL);
      }
      stop_deadline = INT64_MAX;
    }
    for (unsigned i = 0; i < slots_.size(); ++i) {
      if (!stopping_ && slots_[i].restart_at_ms != 0 &&
          now >= slots_[i].restart_at_ms) {
        StartWorker(i);
      }
    }
    if (!stopping_) {
      std::string status = StatusLine();
      if (status != last_status_) Notify("STATUS=" + status);
      last_status_ = std::move(status);
    }
    PingWatchdogIfAlive(now);
    FinishReloadWhenSwitched(now);
  }
  Log(LogLevel::kNotice, "counters: %s", counters_.Summary().c_str());
  Log(LogLevel::kNotice, "stopped");
  return 0;
}

void Master::StartWorker(unsigned slot) {
  // No process writes this slot now; the new worker sets it when it accepts.
  Set(counters_.worker(slot).accepting, 0);
  FdChannel channel;
  try {
    channel = FdChannel::Make();
  } catch (const std::system_error& error) {
    Log(LogLevel::kError, "%s", error.what());
    slots_[slot].restart_at_ms = MonotonicMillis() + kRestartDelayMillis;
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    Log(LogLevel::kError, "fork: %s", std::strerror(errno));
    slots_[slot].restart_at_ms = MonotonicMillis() + kRestartDelayMillis;
    return;
  }
  if (pid == 0) {
    channel.master.Reset();
    RunWorker(slot, std::move(channel.worker));
  }
  Slot& started = slots_[slot];
  started.channel = std::move(channel.master);
  started.pid = pid;
  started.retiring = false;
  started.started_ms = MonotonicMillis();
  started.restart_at_ms = 0;
  started.heartbeat_seen =
      counters_.worker(slot).heartbeat.load(std::memory_order_relaxed);
}

void Master::RunWorker(unsigned slot, UniqueFd channel) {
  prctl(PR_SET_NAME, "ferry-worker");
  signals_.reset();
  for (Slot& other : slots_) other.channel.Reset();
  std::vector<WorkerListener> mine;
  for (const Listener& listener : listeners_.all()) {
    if (listener.shared || listener.worker == slot % workers_) {
      mine.push_back({UniqueFd(dup(listener.fd.get())), listener.shared});
    }
  }
  listeners_ = ListenerSet();  // close every socket that is not ours
  metrics_listener_ = ListenerSet();
  int status = 0;
  try {
    DocumentRoot root(config_.root);
    UniqueFd access_file;
    if (AccessLogIsFile(config_.access_log)) {
      int fd = OpenAccessLogFile(config_.access_log);
      if (fd < 0) ThrowSystemError(-fd, "open", config_.access_log);
      access_file.Reset(fd);
    }
    DropPrivileges(credentials_);  // before any thread exists
    // A worker outlives no master: if the master dies, SIGTERM stops it.
    // (Set after the credentials change, which clears it.)
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master_pid_) _exit(0);  // the master died already
    LogRing log_ring(4096, config_.access_log, std::move(access_file));
    Worker worker(config_, std::move(root), mime_, std::move(mine),
                  std::move(channel), counters_.worker(slot));
    status = worker.Run();
  } catch (const std::exception& error) {
    Log(LogLevel::kError, "worker %u: %s", slot % workers_, error.what());
    status = 1;
  }
  _exit(status);
}

void Master::ReapChildren() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (unsigned i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (slot.pid != pid) continue;
      slot.pid = 0;
      bool serving = !slot.retiring && !stopping_;
      if (serving) {
        if (WIFSIGNALED(status)) {
          Log(LogLevel::kError,
              "worker %u (pid %d) killed by signal %d; restarting",
              i % workers_, pid, WTERMSIG(status));
        } else {
          Log(LogLevel::kError,
              "worker %u (pid %d) exited with status %d; restarting",
              i % workers_, pid, WEXITSTATUS(status));
        }
        // A worker that dies at once would die again: wait a little.
        std::int64_t now = MonotonicMillis();
        slot.restart_at_ms = now - slot.started_ms < kRestartDelayMillis
                                 ? now + kRestartDelayMillis
                                 : now;
        if (slot.restart_at_ms == now) StartWorker(i);
      }
    }
  }
}

void Master::Reload() {
  Notify("RELOADING=1");
  try {
    Config next = ReloadConfig(argc_, argv_);
    if (next.workers != config_.workers) {
      Log(LogLevel::kWarning,
          "reload: --workers cannot change without a restart");
      next.workers = config_.workers;
    }
    bool listen_changed = next.listen.size() != config_.listen.size();
    for (std::size_t i = 0; !listen_changed && i < next.listen.size(); ++i) {
      listen_changed = next.listen[i].text != config_.listen[i].text;
    }
    if (listen_changed) {
      Log(LogLevel::kWarning,
          "reload: --listen cannot change without a restart");
    }
    next.listen = config_.listen;
    next.listen_given = config_.listen_given;
    if (next.metrics_listen.text != config_.metrics_listen.text) {
      Log(LogLevel::kWarning,
          "reload: --metrics-listen cannot change without a restart");
      next.metrics_listen = config_.metrics_listen;
    }
    next.watchdog_interval = config_.watchdog_interval;
    CheckConfig(next);
    unsigned old_base = generation_ * workers_;
    for (unsigned i = 0; i < workers_; ++i) {
      if (slots_[(1 - generation_) * workers_ + i].pid > 0) {
        throw ConfigError("the previous reload's workers are still finishing");
      }
    }
    config_ = std::move(next);
    SetLogLevel(ParseLogLevel(config_.log_level));
    mime_ = MimeTypes();
    mime_.LoadFile(config_.mime_types);
    generation_ = 1 - generation_;
    for (unsigned i = 0; i < workers_; ++i)
      StartWorker(generation_ * workers_ + i);
    for (unsigned i = 0; i < workers_; ++i) {
      Slot& old = slots_[old_base + i];
      old.retiring = true;
      old.restart_at_ms = 0;
      if (old.pid > 0) kill(old.pid, SIGTERM);
    }
    reload_deadline_ms_ = MonotonicMillis() + kReloadSwitchMillis;
    return;  // READY=1 once the new workers took over
  } catch (const std::exception& error) {
    Log(LogLevel::kError,
        "reload failed, keeping the running configuration: %s", error.what());
  }
  Notify("READY=1\nSTATUS=" + StatusLine());
}

void Master::FinishReloadWhenSwitched(std::int64_t now) {
  if (reload_deadline_ms_ == 0) return;
  bool switched = true;
  for (unsigned i = 0; i < slots_.size(); ++i) {
    bool serving = i / workers_ == generation_;
    std::uint64_t accepting =
        counters_.worker(i).accepting.load(std::memory_order_relaxed);
    if (serving ? accepting == 0 : (slots_[i].pid > 0 && accepting != 0)) {
      switched = false;
    }
  }
  if (!switched && now < reload_deadline_ms_) return;
  if (!switched) {
    Log(LogLevel::kWarning, "reload: workers were slow to switch over");
  }
  reload_deadline_ms_ = 0;
  Log(LogLevel::kNotice, "reloaded the configuration");
  Notify("READY=1\nSTATUS=" + StatusLine());
}

void Master::Stop() {
  stopping_ = true;
  Notify("STOPPING=1");
  Log(LogLevel::kNotice, "stopping");
  for (Slot& slot : slots_) {
    slot.retiring = true;
    slot.restart_at_ms = 0;
    if (slot.pid > 0) kill(slot.pid, SIGTERM);
  }
}

void Master::PingWatchdogIfAlive(std::int64_t now) {
  if (config_.watchdog_interval.count() == 0 || now < next_ping_ms_) return;
  // Ping only when every serving worker's loop has ticked since the last
  // ping: a stuck loop must make systemd restart us.
  for (unsigned i = 0; i < slots_.size(); ++i) {
    const Slot& slot = slots_[i];
    if (slot.pid <= 0 || slot.retiring) continue;
    std::uint64_t beat =
        counters_.worker(i).heartbeat.load(std::memory_order_relaxed);
    // A worker started within the last interval may not have ticked yet.
    bool new_worker = now - slot.started_ms < config_.watchdog_interval.count();
    if (beat == slot.heartbeat_seen && !new_worker) {
      if (!withheld_) {
        Log(LogLevel::kWarning,
            "worker %u (pid %d) has not ticked; withholding the watchdog ping",
            i % workers_, slot.pid);
        withheld_ = true;
      }
      return;
    }
  }
  for (unsigned i = 0; i < slots_.size(); ++i) {
    slots_[i].heartbeat_seen =
        counters_.worker(i).heartbeat.load(std::memory_order_relaxed);
  }
  withheld_ = false;
  Notify("WATCHDOG=1");
  next_ping_ms_ = now + config_.watchdog_interval.count() / 2;
}

bool Master::AnyAlive() const {
  for (const Slot& slot : slots_) {
    if (slot.pid > 0) return true;
  }
  return false;
}

std::string Master::StatusLine() const {
  std::uint64_t open = 0, requests = 0, bytes = 0;
  for (unsigned i = 0; i < counters_.workers(); ++i) {
    WorkerCounters& c = const_cast<CountersPage&>(counters_).worker(i);
    open += c.open_connections.load(std::memory_order_relaxed);
    requests += c.requests.load(std::memory_order_relaxed);
    bytes += c.bytes_sent.load(std::memory_order_relaxed);
  }
  return std::to_string(workers_) + " workers, " + std::to_string(open) +
         " connections, " + std::to_string(requests) + " requests, " +
         std::to_string(bytes >> 20) + " MiB sent";
}

}  // namespace

void CheckConfig(const Config& config) {
  try {
    DocumentRoot root(config.root);
  } catch (const std::system_error& error) {
    throw ConfigError("--root: '" + config.root +
                      "': " + error.code().message());
  }
  ResolveCredentials(config);
  if (AccessLogIsFile(config.access_log)) {
    int fd = OpenAccessLogFile(config.access_log);
    if (fd < 0) {
      throw ConfigError("--access-log: '" + config.access_log +
                        "': " + std::strerror(-fd));
    }
    UniqueFd opened(fd);  // it can be opened: that is all we wanted
  }
}

int RunMaster(const Config& config, int argc, const char* const* argv) {
  Master master(config, argc, argv);
  return master.Run();
}

}  // namespace ferry

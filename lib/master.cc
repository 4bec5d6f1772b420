#include "master.h"

#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "address_list.h"
#include "aio_context.h"
#include "counters.h"
#include "document_root.h"
#include "interval_timer.h"
#include "listeners.h"
#include "log.h"
#include "memory_lock.h"
#include "mime_types.h"
#include "privileges.h"
#include "service_manager.h"
#include "signals.h"
#include "system_error.h"
#include "worker.h"

namespace ferry {
namespace {

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

/// What CheckConfig checks but the certificate and key, which a reload
/// loads apart (Master::ReloadTls).
void CheckAllButTls(const Config& config) {
  try {
    DocumentRoot root(config.root);
  } catch (const std::system_error& error) {
    throw ConfigError("--root: '" + config.root +
                      "': " + error.code().message());
  }
  // It can be opened: that is all we wanted.
  OpenAccessLog(config, ResolveCredentials(config));
}

/// What to add to a reload's TLS error when the master may no longer read
/// the key (it runs as whoever it runs as, and never regains root).
std::string UnreadableKeyHint(const Config& config) {
  if (access(config.ssl_certificate_key.c_str(), R_OK) == 0 ||
      errno != EACCES) {
    return "";
  }
  return " (on reload the master reads --ssl-certificate-key as uid " +
         std::to_string(geteuid()) +
         ": the key must be readable by the service user, e.g. through "
         "systemd's LoadCredential=)";
}

}  // namespace

Master::Master(Config config, int argc, const char* const* argv)
    : config_(std::move(config)),
      argc_(argc),
      argv_(argv),
      workers_(WorkerCount(config_)),
      counters_(2 * std::size_t{workers_}),
      processes_(workers_, counters_, [this](unsigned slot, UniqueFd channel) {
        RunWorker(slot, std::move(channel));
      }) {}

void Master::OpenListeners() {
  int inherited = listeners_.TakeInherited();
  if (inherited == 0 || config_.listen_given) {
    listeners_.OpenOwn(config_.listen, workers_);
  }
  listeners_.MarkProxyProtocol(config_.proxy_protocol);
  listeners_.MarkTls(config_.ssl);
  if (const ListenAddress* https = HttpsRedirectTarget(config_)) {
    config_.https_port = listeners_.BoundPort(*https);
  }
  if (!config_.metrics_listen.text.empty()) {
    metrics_listener_.OpenOwn({config_.metrics_listen}, 1, "--metrics-listen");
    metrics_.emplace(metrics_listener_.all().front().fd.get(), counters_,
                     workers_, AddressList::Parse(config_.metrics_allow),
                     hot_.get());
  }
  // Said once every socket is bound: "listening on" means connect() works,
  // on the metrics port too (the tests and scripts wait for it).
  for (const std::string& name : listeners_.Names()) {
    Log(LogLevel::kNotice, "listening on %s", name.c_str());
  }
  if (metrics_) {
    Log(LogLevel::kNotice, "metrics on %s",
        metrics_listener_.Names().front().c_str());
  }
}

void Master::ReopenAccessLog() {
  if (!AccessLogIsFile(config_.access_log)) return;
  // The workers may have dropped the rights to open it: the master opens
  // it and hands it over.
  int fd = OpenAccessLogFile(config_.access_log, ServingUid(credentials_));
  if (fd < 0) {
    Log(LogLevel::kError,
        "reopening --access-log '%s': %s; writing on to the open file",
        config_.access_log.c_str(), AccessLogError(fd).c_str());
    return;
  }
  access_log_.Reset(fd);
  processes_.SendToAll(access_log_.get(), "the access log");
  Log(LogLevel::kNotice, "reopened the access log %s",
      config_.access_log.c_str());
}

int Master::Run() {
  StartUp();
  std::vector<pollfd> pfds;
  while (!stopping_ || processes_.AnyAlive()) {
    WaitForEvents(&pfds);
    TakeSignals();
    std::int64_t now = MonotonicMillis();
    FinishDrain(now);
    KillStragglers(now);
    RestartDueWorkers(now);
    UpdateStatus();
    PingWatchdogIfAlive(now);
    FinishReloadWhenSwitched(now);
    ReloadWhenServing();
  }
  Log(LogLevel::kNotice, "counters: %s", counters_.Summary().c_str());
  Log(LogLevel::kNotice, "stopped");
  return 0;
}

// Everything that can fail does so here, before READY=1, in one line.
void Master::StartUp() {
  SetLogLevel(ParseLogLevel(config_.log_level));
  if (Milliseconds interval = WatchdogInterval(); interval.count() > 0) {
    config_.watchdog_interval = interval;
  }
  RaiseDescriptorLimit();
  // While still root: --mlock locks everything, the hot cache its pins.
  if (config_.mlock || HotCacheBytes(config_) > 0) RaiseMemoryLockLimit();
  BlockDaemonSignals();
  CheckConfig(config_, &tls_);  // fail now, in one clear line
  credentials_ = ResolveCredentials(config_);
  access_log_ = OpenAccessLog(config_, credentials_);
  mime_.LoadFile(config_.mime_types);
  tzset();  // the zone file is read now, not by a worker's localtime_r
  if (const std::uint64_t hot = HotCacheBytes(config_); hot > 0) {
    // Shared by every worker of both generations: mapped before they fork.
    hot_ = std::make_unique<HotTable>(hot, config_.hot_cache_window.count(),
                                      processes_.slots());
    processes_.OnExited([this](unsigned slot) { hot_->ReleaseAll(slot); });
  }
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
  if (tls_.get() != nullptr) {
    Log(LogLevel::kNotice,
        "TLS: %s, session tickets shared by the workers, kTLS %s",
        config_.ssl_protocols.c_str(),
        tls_.kernel_tls() ? "on" : "off (tcp_available_ulp has no tls)");
  }
  if (credentials_.fallback) {
    Log(LogLevel::kWarning,
        "--user: the default user '%s' does not exist; serving as %s (create "
        "it: systemd-sysusers ferryd.conf, or useradd --system %s)",
        config_.user.c_str(), kFallbackUser, config_.user.c_str());
  }
  signals_.emplace(DaemonSignals());
  processes_.StartAll();
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
      credentials_.change
          ? ("user " + (credentials_.fallback ? std::string(kFallbackUser)
                                              : config_.user))
                .c_str()
          : (geteuid() == 0 ? "as root" : "unprivileged"));
  Notify("READY=1\nSTATUS=" + StatusLine());
}

// The master's one wait point: its signalfd and the metrics scrapers, woken
// at least every quarter of the watchdog interval (at most every second).
void Master::WaitForEvents(std::vector<pollfd>* pfds) {
  int timeout = 1000;
  if (config_.watchdog_interval.count() > 0) {
    timeout = static_cast<int>(std::clamp<std::int64_t>(
        config_.watchdog_interval.count() / 4, 1, 1000));
  }
  if (reload_deadline_ms_ != 0 || reload_pending_) timeout = 10;
  if (draining_) {
    timeout = static_cast<int>(std::clamp<std::int64_t>(
        drain_end_ms_ - MonotonicMillis(), 0, timeout));
  }
  pfds->assign(1, {signals_->fd(), POLLIN, 0});
  if (metrics_) {
    metrics_->AddPollFds(pfds);
    int until = metrics_->TimeoutMs(MonotonicMillis());
    if (until >= 0) timeout = std::min(timeout, until);
  }
  int ready = poll(pfds->data(), pfds->size(), timeout);
  if (ready < 0 && errno != EINTR) ThrowSystemError(errno, "poll");
  if (metrics_) {
    metrics_->OnPoll(pfds->data() + 1, ready > 0 ? pfds->size() - 1 : 0,
                     MonotonicMillis());
  }
}

void Master::TakeSignals() {
  signalfd_siginfo batch[16];
  for (std::size_t n; (n = signals_->Read(batch, 16)) > 0;) {
    for (std::size_t i = 0; i < n; ++i) OnSignal(batch[i].ssi_signo);
  }
}

void Master::OnSignal(std::uint32_t signo) {
  switch (signo) {
    case SIGCHLD:
      processes_.ReapChildren(stopping_);
      break;
    case SIGTERM:
    case SIGINT:
      if (stopping_) break;
      if (config_.drain_time.count() > 0 && !draining_) {
        BeginDrain();
      } else {
        Stop();  // a second signal ends a drain at once
      }
      break;
    case SIGHUP:
      if (draining_) {
        Log(LogLevel::kWarning, "reload: ignored while draining");
      } else if (!stopping_) {
        reload_pending_ = true;  // ReloadWhenServing
      }
      break;
    case SIGUSR1:
      ReopenAccessLog();
      break;
    default:
      break;
  }
}

// Workers still running past the graceful stop's deadline are killed.
void Master::KillStragglers(std::int64_t now) {
  if (!stopping_ || now < stop_deadline_ms_) return;
  processes_.KillAll();
  stop_deadline_ms_ = INT64_MAX;
}

void Master::RestartDueWorkers(std::int64_t now) {
  if (!stopping_) processes_.RestartDue(now);
}

void Master::UpdateStatus() {
  if (stopping_) return;
  std::string status = (draining_ ? "draining, " : "") + StatusLine();
  if (status != last_status_) Notify("STATUS=" + status);
  last_status_ = std::move(status);
}

// SIGTERM with --drain-time: the workers serve on, accepting too, while
// the health path says 503 so that the load balancer sends no one new.
void Master::BeginDrain() {
  draining_ = true;
  drain_end_ms_ = MonotonicMillis() + config_.drain_time.count();
  for (unsigned i = 0; i < counters_.workers(); ++i) {
    Set(counters_.worker(i).draining, 1);
  }
  Log(LogLevel::kNotice,
      "draining for %s: the health path answers 503; a second SIGTERM stops "
      "at once",
      FormatDuration(config_.drain_time).c_str());
  Notify("STATUS=draining, " + StatusLine());
}

void Master::FinishDrain(std::int64_t now) {
  if (draining_ && now >= drain_end_ms_) Stop();
}

void Master::Stop() {
  draining_ = false;
  stopping_ = true;
  stop_deadline_ms_ =
      MonotonicMillis() + config_.shutdown_timeout.count() + kKillGraceMillis;
  Notify("STOPPING=1");
  Log(LogLevel::kNotice, "stopping");
  processes_.StopAll();
}

void Master::PingWatchdogIfAlive(std::int64_t now) {
  if (config_.watchdog_interval.count() == 0 || now < next_ping_ms_) return;
  // Ping only when every serving worker's loop has ticked since the last
  // ping: a stuck loop must make systemd restart us.
  auto [stuck, pid] =
      processes_.FirstStuck(now, config_.watchdog_interval.count());
  if (stuck >= 0) {
    if (!withheld_) {
      Log(LogLevel::kWarning,
          "worker %d (pid %d) has not ticked; withholding the watchdog ping",
          stuck, pid);
      withheld_ = true;
    }
    return;
  }
  processes_.MarkHeartbeats();
  withheld_ = false;
  Notify("WATCHDOG=1");
  next_ping_ms_ = now + config_.watchdog_interval.count() / 2;
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

void Master::RunWorker(unsigned slot, UniqueFd channel) {
  prctl(PR_SET_NAME, "ferry-worker");
  signals_.reset();
  processes_.CloseChannels();
  std::vector<WorkerListener> mine;
  for (const Listener& listener : listeners_.all()) {
    if (listener.shared || listener.worker == slot % workers_) {
      mine.push_back({UniqueFd(dup(listener.fd.get())), listener.shared,
                      listener.proxy_protocol, listener.tls});
    }
  }
  listeners_ = ListenerSet();  // close every socket that is not ours
  metrics_.reset();            // its scrapers' sockets too
  metrics_listener_ = ListenerSet();
  int status = 0;
  try {
    DocumentRoot root(config_.root);
    // The master's descriptor: a worker re-forked after someone swapped
    // the log file for a symlink must not open it again as root.
    UniqueFd access_file = std::move(access_log_);
    DropPrivileges(credentials_);  // before any thread exists
    // A worker outlives no master: if the master dies, SIGTERM stops it.
    // (Set after the credentials change, which clears it.)
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master_pid_) _exit(0);  // the master died already
    LogRing log_ring(4096, config_.access_log, std::move(access_file));
    Worker worker(config_, std::move(root), mime_, std::move(mine),
                  std::move(channel), counters_.worker(slot), tls_.get(),
                  hot_.get(), slot);
    status = worker.Run();
  } catch (const std::exception& error) {
    Log(LogLevel::kError, "worker %u: %s", slot % workers_, error.what());
    status = 1;
  }
  _exit(status);
}

// A SIGHUP is applied once every worker of the serving generation accepts.
// GOTCHA: a listener's F_SETOWN_EX belongs to the socket's open file, which
// both generations share: a worker still starting when the reload forks its
// successor arms the socket after it, takes its signals and then stops,
// leaving connections to that socket unannounced (seen after a SIGHUP sent
// right after the start, one time in 15).
void Master::ReloadWhenServing() {
  if (!reload_pending_) return;
  if (stopping_ || draining_) {
    reload_pending_ = false;
    return;
  }
  if (!processes_.Switched()) return;
  reload_pending_ = false;
  Reload();
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
    if (ListenTexts(next.proxy_protocol) !=
        ListenTexts(config_.proxy_protocol)) {
      Log(LogLevel::kWarning,
          "reload: --proxy-protocol cannot change without a restart");
      next.proxy_protocol = config_.proxy_protocol;
    }
    if (ListenTexts(next.ssl) != ListenTexts(config_.ssl)) {
      Log(LogLevel::kWarning, "reload: --ssl cannot change without a restart");
      next.ssl = config_.ssl;
    }
    if (next.metrics_listen.text != config_.metrics_listen.text) {
      Log(LogLevel::kWarning,
          "reload: --metrics-listen cannot change without a restart");
      next.metrics_listen = config_.metrics_listen;
    }
    next.watchdog_interval = config_.watchdog_interval;
    next.https_port = config_.https_port;  // --ssl is kept, and so its port
    CheckAllButTls(next);
    UniqueFd access_log = OpenAccessLog(next, credentials_);
    if (processes_.Switching()) {
      throw ConfigError("the previous reload's workers are still finishing");
    }
    ReloadTls(&next);
    config_ = std::move(next);
    access_log_ = std::move(access_log);
    if (metrics_) metrics_->Allow(AddressList::Parse(config_.metrics_allow));
    SetLogLevel(ParseLogLevel(config_.log_level));
    mime_ = MimeTypes();
    mime_.LoadFile(config_.mime_types);
    processes_.SwitchGeneration();  // the new workers fork with all of that
    reload_deadline_ms_ = MonotonicMillis() + kReloadSwitchMillis;
    return;  // READY=1 once the new workers took over
  } catch (const std::exception& error) {
    Log(LogLevel::kError,
        "reload failed, keeping the running configuration: %s", error.what());
  }
  Notify("READY=1\nSTATUS=" + StatusLine());
}

// The new generation's TLS context, read anew from the files even when
// their names did not change (a certificate renewed in place). One that
// cannot be loaded leaves the running context and its settings serving:
// one error line says why. Either way the ticket keys rotate, the previous
// ones still opening tickets.
void Master::ReloadTls(Config* next) {
  if (tls_.get() == nullptr) return;
  try {
    TlsContext loaded(*next);
    loaded.TakeTicketKeys(tls_);
    loaded.RotateTicketKeys();
    tls_ = std::move(loaded);
    Log(LogLevel::kNotice,
        "reload: loaded the certificate %s (%s); new TLS session ticket keys, "
        "the previous ones still resume",
        next->ssl_certificate.c_str(), next->ssl_protocols.c_str());
    return;
  } catch (const ConfigError& error) {
    Log(LogLevel::kError,
        "reload: %s; the running certificate and key serve on, with new "
        "session ticket keys%s",
        error.what(), UnreadableKeyHint(*next).c_str());
  }
  next->ssl_certificate = config_.ssl_certificate;
  next->ssl_certificate_key = config_.ssl_certificate_key;
  next->ssl_protocols = config_.ssl_protocols;
  next->ssl_ciphers = config_.ssl_ciphers;
  tls_.RotateTicketKeys();
}

void Master::FinishReloadWhenSwitched(std::int64_t now) {
  if (reload_deadline_ms_ == 0) return;
  bool switched = processes_.Switched();
  if (!switched && now < reload_deadline_ms_) return;
  if (!switched) {
    Log(LogLevel::kWarning, "reload: workers were slow to switch over");
  }
  reload_deadline_ms_ = 0;
  Log(LogLevel::kNotice, "reloaded the configuration");
  Notify("READY=1\nSTATUS=" + StatusLine());
}

void CheckConfig(const Config& config, TlsContext* tls) {
  CheckAllButTls(config);
  if (!config.ssl.empty()) {
    TlsContext loaded(config);
    if (tls != nullptr) *tls = std::move(loaded);
  }
}

UniqueFd OpenAccessLog(const Config& config, const Credentials& credentials) {
  if (!AccessLogIsFile(config.access_log)) return {};
  int fd = OpenAccessLogFile(config.access_log, ServingUid(credentials));
  if (fd < 0) {
    throw ConfigError("--access-log: '" + config.access_log +
                      "': " + AccessLogError(fd));
  }
  return UniqueFd(fd);
}

int RunMaster(const Config& config, int argc, const char* const* argv) {
  Master master(config, argc, argv);
  return master.Run();
}

}  // namespace ferry

#pragma once
// The master process: listeners, the worker processes (WorkerProcesses
// forks and re-forks them), control signals, reloads, systemd
// notifications. It never touches a client.

#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "counters.h"
#include "hot_table.h"
#include "listeners.h"
#include "metrics_server.h"
#include "mime_types.h"
#include "privileges.h"
#include "service_manager.h"
#include "signals.h"
#include "tls_context.h"
#include "unique_fd.h"
#include "worker_processes.h"

namespace ferry {

/// Checks what option parsing cannot: the document root opens as a
/// directory, --user and --group exist. Throws ConfigError naming the flag.
void CheckConfig(const Config& config, TlsContext* tls = nullptr);

/// Runs the daemon with `config` until SIGTERM/SIGINT and returns the exit
/// status. `argc`/`argv` are kept to re-read the config file on SIGHUP.
/// Throws std::system_error for start-up failures (bind, root, io_setup).
int RunMaster(const Config& config, int argc, const char* const* argv);

/// Opens --access-log when it names a file (OpenAccessLogFile's checks, the
/// workers being `credentials`); an empty UniqueFd otherwise. Throws
/// ConfigError naming the flag and the reason.
UniqueFd OpenAccessLog(const Config& config, const Credentials& credentials);

/// The master: its control loop as named phases (Run).
class Master {
 public:
  Master(Config config, int argc, const char* const* argv);

  int Run();

 private:
  // Run()'s phases, in order.
  void StartUp();
  void WaitForEvents(std::vector<pollfd>* pfds);
  void TakeSignals();
  void OnSignal(std::uint32_t signo);
  void KillStragglers(std::int64_t now);
  void RestartDueWorkers(std::int64_t now);
  void UpdateStatus();

  void OpenListeners();
  void ReopenAccessLog();
  [[noreturn]] void RunWorker(unsigned slot, UniqueFd channel);
  void Reload();
  void ReloadTls(Config* next);
  void FinishReloadWhenSwitched(std::int64_t now);
  void ReloadWhenServing();
  void Stop();
  void BeginDrain();
  void FinishDrain(std::int64_t now);
  void Notify(const std::string& state) const { NotifyServiceManager(state); }
  std::string StatusLine() const;
  void PingWatchdogIfAlive(std::int64_t now);

  Config config_;
  int argc_;
  const char* const* argv_;
  unsigned workers_;
  ListenerSet listeners_;
  ListenerSet metrics_listener_;  ///< --metrics-listen: the master's own
  /// Two generations' worth (see WorkerProcesses).
  CountersPage counters_;
  std::optional<MetricsServer> metrics_;  ///< with its scrapers, if any
  WorkerProcesses processes_;
  /// --hot-cache: the admission table the workers share; null when off.
  std::unique_ptr<HotTable> hot_;
  std::optional<SignalFd> signals_;
  Credentials credentials_;
  /// The access log file, opened by the master (never by a worker, never
  /// again on a re-fork): workers inherit it; SIGUSR1 replaces it only
  /// when the reopened file passes OpenAccessLogFile()'s checks.
  UniqueFd access_log_;
  /// Loaded here, before the workers exist, so that no worker loop reads
  /// /etc/mime.types; they inherit it.
  MimeTypes mime_;
  /// --ssl: certificate, key and ticket keys, loaded here as root before
  /// the workers fork; they inherit it and never open the key file. A
  /// reload replaces it (ReloadTls): the workers already running keep the
  /// copy they forked with.
  TlsContext tls_;
  pid_t master_pid_ = getpid();
  bool stopping_ = false;
  bool draining_ = false;          ///< SIGTERM with --drain-time: still serving
  std::int64_t drain_end_ms_ = 0;  ///< then Stop()
  std::int64_t stop_deadline_ms_ = 0;  ///< then the workers left are killed
  std::int64_t next_ping_ms_ = 0;
  /// A reload waits for the new workers to accept and the old ones to stop
  /// accepting before it says READY=1 (until this deadline; 0: none).
  std::int64_t reload_deadline_ms_ = 0;
  /// A SIGHUP came: applied once the serving workers all accept.
  bool reload_pending_ = false;
  bool withheld_ = false;
  std::string last_status_;  ///< the last ping was withheld (logged once)
};

}  // namespace ferry

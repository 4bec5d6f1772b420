// The master's workers: forking one into its slot, what the child runs,
// reaping and re-forking, and a reload's switch to a new generation.

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "address_list.h"
#include "document_root.h"
#include "fd_channel.h"
#include "interval_timer.h"
#include "log.h"
#include "master.h"
#include "system_error.h"
#include "worker.h"

namespace ferry {
namespace {

constexpr std::int64_t kRestartDelayMillis = 1000;
constexpr std::int64_t kReloadSwitchMillis = 5000;

}  // namespace

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
    UniqueFd access_log = OpenAccessLog(next, credentials_);
    unsigned old_base = generation_ * workers_;
    for (unsigned i = 0; i < workers_; ++i) {
      if (slots_[(1 - generation_) * workers_ + i].pid > 0) {
        throw ConfigError("the previous reload's workers are still finishing");
      }
    }
    config_ = std::move(next);
    access_log_ = std::move(access_log);
    if (metrics_) metrics_->Allow(AddressList::Parse(config_.metrics_allow));
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

}  // namespace ferry

#include "worker_processes.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fd_channel.h"
#include "interval_timer.h"
#include "log.h"

namespace ferry {
namespace {

constexpr std::int64_t kRestartDelayMillis = 1000;

}  // namespace

WorkerProcesses::WorkerProcesses(unsigned workers, CountersPage& counters,
                                 ChildMain child)
    : workers_(workers),
      counters_(counters),
      child_(std::move(child)),
      slots_(2 * std::size_t{workers}) {}

void WorkerProcesses::StartAll() {
  for (unsigned i = 0; i < workers_; ++i) Start(generation_ * workers_ + i);
}

void WorkerProcesses::Start(unsigned slot) {
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
    child_(slot, std::move(channel.worker));
    _exit(1);  // not reached: the child exits itself
  }
  Slot& started = slots_[slot];
  started.channel = std::move(channel.master);
  started.pid = pid;
  started.retiring = false;
  started.started_ms = MonotonicMillis();
  started.restart_at_ms = 0;
  started.heartbeat_seen = Heartbeat(slot);
}

bool WorkerProcesses::Switching() const {
  unsigned next = 1 - generation_;
  for (unsigned i = 0; i < workers_; ++i) {
    if (slots_[next * workers_ + i].pid > 0) return true;
  }
  return false;
}

void WorkerProcesses::SwitchGeneration() {
  unsigned old_base = generation_ * workers_;
  generation_ = 1 - generation_;
  StartAll();
  for (unsigned i = 0; i < workers_; ++i) {
    Slot& old = slots_[old_base + i];
    old.retiring = true;
    old.restart_at_ms = 0;
    if (old.pid > 0) kill(old.pid, SIGTERM);
  }
}

bool WorkerProcesses::Switched() const {
  for (unsigned i = 0; i < slots_.size(); ++i) {
    bool serving = i / workers_ == generation_;
    std::uint64_t accepting =
        counters_.worker(i).accepting.load(std::memory_order_relaxed);
    if (serving ? accepting == 0 : (slots_[i].pid > 0 && accepting != 0)) {
      return false;
    }
  }
  return true;
}

void WorkerProcesses::ReapChildren(bool stopping) {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (unsigned i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (slot.pid != pid) continue;
      slot.pid = 0;
      if (exited_) exited_(i);
      if (slot.retiring || stopping) continue;
      if (WIFSIGNALED(status)) {
        Log(LogLevel::kError,
            "worker %u (pid %d) killed by signal %d; restarting", i % workers_,
            pid, WTERMSIG(status));
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
      if (slot.restart_at_ms == now) Start(i);
    }
  }
}

void WorkerProcesses::RestartDue(std::int64_t now_ms) {
  for (unsigned i = 0; i < slots_.size(); ++i) {
    if (slots_[i].restart_at_ms != 0 && now_ms >= slots_[i].restart_at_ms) {
      Start(i);
    }
  }
}

void WorkerProcesses::StopAll() {
  for (Slot& slot : slots_) {
    slot.retiring = true;
    slot.restart_at_ms = 0;
    if (slot.pid > 0) kill(slot.pid, SIGTERM);
  }
}

void WorkerProcesses::KillAll() {
  for (const Slot& slot : slots_) {
    if (slot.pid > 0) kill(slot.pid, SIGKILL);
  }
}

bool WorkerProcesses::AnyAlive() const {
  for (const Slot& slot : slots_) {
    if (slot.pid > 0) return true;
  }
  return false;
}

std::uint64_t WorkerProcesses::Heartbeat(unsigned slot) const {
  return counters_.worker(slot).heartbeat.load(std::memory_order_relaxed);
}

std::pair<int, pid_t> WorkerProcesses::FirstStuck(std::int64_t now_ms,
                                                  std::int64_t grace_ms) const {
  for (unsigned i = 0; i < slots_.size(); ++i) {
    const Slot& slot = slots_[i];
    if (slot.pid <= 0 || slot.retiring) continue;
    // A worker started within the grace may not have ticked yet.
    bool new_worker = now_ms - slot.started_ms < grace_ms;
    if (Heartbeat(i) == slot.heartbeat_seen && !new_worker) {
      return {static_cast<int>(i % workers_), slot.pid};
    }
  }
  return {-1, 0};
}

void WorkerProcesses::MarkHeartbeats() {
  for (unsigned i = 0; i < slots_.size(); ++i) {
    slots_[i].heartbeat_seen = Heartbeat(i);
  }
}

void WorkerProcesses::SendToAll(int fd, const char* what) {
  for (unsigned i = 0; i < slots_.size(); ++i) {
    if (slots_[i].pid <= 0) continue;
    if (int error = SendFd(slots_[i].channel.get(), fd)) {
      Log(LogLevel::kError, "passing %s to worker %u: %s", what, i % workers_,
          std::strerror(-error));
    }
  }
}

void WorkerProcesses::CloseChannels() {
  for (Slot& slot : slots_) slot.channel.Reset();
}

}  // namespace ferry

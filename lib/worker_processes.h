#pragma once
// The master's worker processes, one per slot: forking, reaping and
// re-forking them, and a reload's switch to a new generation.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "counters.h"
#include "unique_fd.h"

namespace ferry {

/// Slots in two generations of `workers` each, so that a reload's new
/// workers write other counters than the old ones still finishing (every
/// counter keeps a single writer). Slot i writes counters.worker(i).
class WorkerProcesses {
 public:
  /// What a forked child runs for `slot`, with its end of the master's
  /// FdChannel; it must not return (it calls _exit).
  using ChildMain = std::function<void(unsigned slot, UniqueFd channel)>;

  WorkerProcesses(unsigned workers, CountersPage& counters, ChildMain child);

  unsigned workers() const { return workers_; }
  /// Every slot, both generations.
  unsigned slots() const { return static_cast<unsigned>(slots_.size()); }

  /// Forks the serving generation's workers.
  void StartAll();
  /// True while the workers a generation switch retired are still running:
  /// their slots are not free for another switch yet.
  bool Switching() const;
  /// Forks a new generation and tells the serving one to stop (SIGTERM).
  /// Only when not Switching().
  void SwitchGeneration();
  /// True when the new generation accepts and the old one no longer does.
  bool Switched() const;

  /// Called with a slot whose process the master reaped (before any
  /// re-fork of it): what the process held in shared memory is let go.
  void OnExited(std::function<void(unsigned slot)> exited) {
    exited_ = std::move(exited);
  }

  /// Reaps every child that exited; a serving worker that died is
  /// re-forked (after a delay if it died young) unless `stopping`.
  void ReapChildren(bool stopping);
  /// Re-forks the workers whose delay is over.
  void RestartDue(std::int64_t now_ms);
  /// SIGTERM to every worker; none is restarted any more.
  void StopAll();
  /// SIGKILL to every worker left.
  void KillAll();
  bool AnyAlive() const;

  /// The first serving worker whose loop has not ticked since the last
  /// call of MarkHeartbeats() (one started within `grace_ms` is spared),
  /// as {slot, pid}; {-1, 0} when all did.
  std::pair<int, pid_t> FirstStuck(std::int64_t now_ms,
                                   std::int64_t grace_ms) const;
  void MarkHeartbeats();

  /// Sends `fd` to every live worker over its channel; logs failures.
  void SendToAll(int fd, const char* what);
  /// In a forked child: closes the master's ends of every channel.
  void CloseChannels();

 private:
  struct Slot {
    pid_t pid = 0;
    std::uint64_t heartbeat_seen = 0;  ///< at the last MarkHeartbeats()
    bool retiring = false;  ///< told to stop (old generation, or shutdown)
    std::int64_t started_ms = 0;
    std::int64_t restart_at_ms = 0;  ///< 0: no restart pending
    UniqueFd channel;  ///< the master's end of the worker's FdChannel
  };

  void Start(unsigned slot);
  std::uint64_t Heartbeat(unsigned slot) const;

  unsigned workers_;
  CountersPage& counters_;
  ChildMain child_;
  std::function<void(unsigned slot)> exited_;
  unsigned generation_ = 0;  ///< slots [gen*workers, (gen+1)*workers) serve
  std::vector<Slot> slots_;
};

}  // namespace ferry

#pragma once
// --mlock: no page fault on the loop (DESIGN.md, difficulty 5).

namespace ferry {

/// Locks this process's memory so that the loop never waits for a page:
/// every file-backed mapping (the binary's and its libraries' code and
/// read-only data, locale files) is read in and locked now, and every other
/// mapping that exists now (the buffer pool, thread stacks, the tables)
/// stays in RAM once touched (mlockall(MCL_CURRENT | MCL_ONFAULT)). Memory
/// allocated later is not locked: it is anonymous, which only swap takes
/// away.
/// GOTCHA: locks are not inherited across fork(): each worker locks its
/// own. Needs RLIMIT_MEMLOCK (LimitMEMLOCK= under systemd) or
/// CAP_IPC_LOCK. Reads /proc/self/maps: start-up only. Returns 0 or a
/// negative errno.
int LockMemory();

/// Raises RLIMIT_MEMLOCK to unlimited when allowed (as root, before the
/// privileges drop); otherwise leaves it as it is.
void RaiseMemoryLockLimit();

}  // namespace ferry

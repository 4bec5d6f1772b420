#pragma once
// --mlock: no page fault on the loop (DESIGN.md, difficulty 5); and memory
// that is given back when it is freed.

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

/// Fixes glibc's mmap threshold at 128 KiB (and the trim threshold at
/// 256 KiB): an allocation that large is always its own mapping, unmapped
/// when freed. GOTCHA: glibc otherwise raises the threshold to the size of
/// each large mapping freed (up to 32 MiB) and keeps twice that free at the
/// top of each thread's arena: after one listing of 100,000 names each
/// helper held 14 MiB for good.
void GiveLargeFreesBack();

/// Raises RLIMIT_MEMLOCK to unlimited when allowed (as root, before the
/// privileges drop); otherwise leaves it as it is.
void RaiseMemoryLockLimit();

}  // namespace ferry

#pragma once
// --mlock: no page fault on the loop (DESIGN.md, difficulty 5); and memory
// that is given back when it is freed.

namespace ferry {

/// Locks this process's memory so that the loop never waits for a page:
/// every file-backed mapping (the binary's and its libraries' code and
/// read-only data, locale files) is read in and locked now, and the
/// calling (loop) thread's stack grown by 256 KiB first. With an unlimited
/// RLIMIT_MEMLOCK every page is made present now and every later mapping
/// when it is made (mlockall(MCL_CURRENT | MCL_FUTURE)): no page fault on
/// the loop; and the heap is extended by 4 MiB first, kept, so that the
/// loop's allocations rarely need a brk (each takes the mmap_lock). With a
/// limit, the mappings that exist now stay in RAM once touched (MCL_ONFAULT)
/// and later ones are not locked. GOTCHA: locks are not inherited across
/// fork(): each worker locks its own. Reads /proc/self/maps: start-up only.
/// Returns 0 when locked in full, 1 when locked within a limit, or a negative
/// errno.
int LockMemory();

/// Gives the calling thread its malloc arena now. GOTCHA: glibc makes a
/// thread's arena at the thread's first allocation (maps 64 MiB, unmaps
/// the excess, opens its first part): three changes of the address space,
/// each holding the process's mmap_lock for writing, and a loop thread's
/// page fault meanwhile waits for it in D state. A thread that runs beside
/// a loop calls this first thing, and its creator waits until it has.
void CreateThreadArena();

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

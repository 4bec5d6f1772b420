#pragma once
// --mlock: no page fault on the loop (DESIGN.md, difficulty 5); and memory
// that is given back when it is freed.

#include <functional>
#include <thread>

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

/// Starts a thread that runs beside a loop: it names itself `name` (at
/// most 15 characters), makes its malloc arena, and only then runs `body`;
/// the call returns once it has done the first two. GOTCHA: glibc makes a
/// thread's arena at the thread's first allocation (maps 64 MiB, unmaps
/// the excess, opens its first part): three changes of the address space,
/// each holding the process's mmap_lock for writing, and a loop thread's
/// page fault meanwhile waits for it in D state. Named before it returns,
/// the thread is never taken for a loop thread by its name.
std::thread StartBesideLoop(const char* name, std::function<void()> body);

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

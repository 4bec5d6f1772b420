#include "memory_lock.h"

#include <linux/capability.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <utility>

namespace ferry {

void GiveLargeFreesBack() {
  // Setting either turns glibc's dynamic thresholds off.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  mallopt(M_TRIM_THRESHOLD, 256 * 1024);
}

std::thread StartBesideLoop(const char* name, std::function<void()> body) {
  std::latch started(1);
  std::thread thread([name, &started, body = std::move(body)] {
    prctl(PR_SET_NAME, name);
    // volatile: a malloc and free of the same pointer may be optimised away.
    void* volatile block = std::malloc(64);
    std::free(block);
    started.count_down();
    body();
  });
  started.wait();
  return thread;
}

namespace {

// How deep the loop's stack is made present before locking: far more than
// its deepest call (a few KiB), far less than the 8 MiB it may grow to.
constexpr std::size_t kLoopStackReserve = std::size_t{256} << 10;

// Touches the next kLoopStackReserve bytes of the calling thread's stack, so
// that the stack mapping has grown over them before it is locked. GOTCHA:
// growing the stack later is a page fault that takes the mmap_lock for
// writing, on the loop.
[[gnu::noinline]] void GrowStack() {
  volatile char depth[kLoopStackReserve];
  for (std::size_t i = 0; i < sizeof depth; i += 4096) depth[i] = 0;
}

// Heap the loop keeps in reserve under a full lock: more than it grows by
// while serving a mix of a few hundred connections (a trace saw 3 brk calls
// of ~132 KiB), far less than --buffer-memory.
constexpr std::size_t kLoopHeapReserve = std::size_t{4} << 20;

// Extends the main heap (the loop's arena) by kLoopHeapReserve now and
// keeps it: a later allocation is carved from it without a brk. GOTCHA:
// brk takes the mmap_lock for writing, and waits for any thread holding
// it (a helper's large allocation, a reader of /proc/PID/cmdline): a
// D-state sleep of the loop, seen in CI under ThreadSanitizer, whose
// allocator maps memory on every thread.
void ReserveHeap() {
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(2 * kLoopHeapReserve));
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(2 * kLoopHeapReserve));
  // volatile: a malloc and free of the same pointer may be optimised away.
  void* volatile block = std::malloc(kLoopHeapReserve);
  std::free(block);
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

// CAP_IPC_LOCK (which the workers keep for --mlock when started as root)
// or an infinite RLIMIT_MEMLOCK.
bool MemoryLockUnlimited() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) == 0 &&
      (data[0].effective & (1u << CAP_IPC_LOCK)) != 0) {
    return true;
  }
  rlimit limit{};
  return getrlimit(RLIMIT_MEMLOCK, &limit) == 0 &&
         limit.rlim_cur == RLIM_INFINITY;
}

}  // namespace

int LockMemory() {
  // File-backed mappings first, in full: a page of code first run on the
  // loop would otherwise be read from the disk in a page fault.
  std::FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) return -errno;
  char line[4096];
  int error = 0;
  while (std::fgets(line, sizeof line, maps) != nullptr) {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    char perms[5] = {};
    int path_at = 0;
    if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s %*s %*s %*s %n",
                    &start, &end, perms, &path_at) < 3 ||
        line[path_at] != '/' || perms[0] != 'r') {
      continue;
    }
    // The address comes from /proc/self/maps as a number.
    auto* address =
        reinterpret_cast<void*>(start);  // NOLINT(performance-no-int-to-ptr)
    if (mlock(address, end - start) != 0) {
      error = errno;
      break;
    }
  }
  std::fclose(maps);
  if (error != 0) return -error;
  GrowStack();
  // Unlimited: every page there is now made present (a copy-on-write page
  // shared with the master is copied now, not at the loop's first write),
  // and every later mapping is filled when it is made, in the call that
  // makes it (brk, mmap, mprotect): the loop takes no page fault at all.
  // A fault can wait for the mmap_lock that another thread of the worker
  // holds for writing (a helper mapping or unmapping memory): a D-state
  // sleep of the loop, seen in CI.
  if (MemoryLockUnlimited()) {
    ReserveHeap();
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) return -errno;
    return 0;
  }
  // Limited: MCL_FUTURE would count every later mapping against the limit
  // and turn it into malloc failures under load. What exists now is locked
  // as it is touched; later memory is not locked.
  if (mlockall(MCL_CURRENT | MCL_ONFAULT) != 0) return -errno;
  return 1;
}

void RaiseMemoryLockLimit() {
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  setrlimit(RLIMIT_MEMLOCK, &unlimited);  // fails without the right: fine
}

}  // namespace ferry

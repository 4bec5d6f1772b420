#include "memory_lock.h"

#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace ferry {

void GiveLargeFreesBack() {
  // Setting either turns glibc's dynamic thresholds off.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  mallopt(M_TRIM_THRESHOLD, 256 * 1024);
}

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
  // Not MCL_FUTURE: it would count every later allocation against
  // RLIMIT_MEMLOCK and turn the limit into malloc failures under load.
  if (mlockall(MCL_CURRENT | MCL_ONFAULT) != 0) return -errno;
  return 0;
}

void RaiseMemoryLockLimit() {
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  setrlimit(RLIMIT_MEMLOCK, &unlimited);  // fails without the right: fine
}

}  // namespace ferry

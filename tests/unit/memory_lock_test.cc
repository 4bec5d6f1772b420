#include "memory_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace ferry {
namespace {

/// VmLck of this process, in KiB.
long LockedKib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long value = 0;
  while (status >> key) {
    if (key == "VmLck:") {
      status >> value;
      return value;
    }
  }
  return -1;
}

TEST(MemoryLock, LocksTheCodeAndWhatIsTouched) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ASan and TSan make mlock() a no-op";
#endif
  if (geteuid() != 0) GTEST_SKIP() << "needs root for RLIMIT_MEMLOCK";
  RaiseMemoryLockLimit();
  EXPECT_EQ(LockedKib(), 0);
  ASSERT_EQ(LockMemory(), 0);
  // This binary's and libc's code at least: several MiB.
  EXPECT_GT(LockedKib(), 1024);
}

}  // namespace
}  // namespace ferry

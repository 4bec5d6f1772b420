#include "privileges.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "test_sockets.h"

namespace ferry {
namespace {

using testing::RunInChild;

constexpr const char* kMissing = "ferry-test-no-such-name";

/// The message ResolveCredentials throws for `config`, or "" when none.
std::string ConfigErrorOf(const Config& config) {
  try {
    ResolveCredentials(config);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

const passwd& Nobody() {
  static const passwd* nobody = getpwnam(kFallbackUser);
  return *nobody;
}

/// "change fallback uid:gid mlock" of `credentials`, to compare whole.
std::string Describe(const Credentials& c) {
  return std::to_string(c.change) + " " + std::to_string(c.fallback) + " " +
         std::to_string(c.uid) + ":" + std::to_string(c.gid) + " " +
         std::to_string(c.keep_memory_lock);
}

#define SKIP_UNLESS_ROOT() \
  if (geteuid() != 0) GTEST_SKIP() << "needs root (CI is root)"

TEST(Privileges, RootAsTheUserChangesNothing) {
  Config config;
  config.user = "root";
  config.user_given = true;
  Credentials credentials = ResolveCredentials(config);
  EXPECT_EQ(Describe(credentials), Describe({}));
  EXPECT_EQ(ServingUid(credentials), geteuid());
}

TEST(Privileges, AMissingUserGivenExplicitlyIsAConfigErrorNamingUser) {
  SKIP_UNLESS_ROOT();
  Config config;
  config.user = kMissing;
  config.user_given = true;
  EXPECT_EQ(ConfigErrorOf(config),
            std::string("--user: '") + kMissing + "' is not a user");
}

TEST(Privileges, AMissingDefaultUserFallsBackToNobody) {
  SKIP_UNLESS_ROOT();
  ASSERT_NE(getpwnam(kFallbackUser), nullptr);
  Config config;
  config.user = kMissing;
  config.group = kMissing;
  config.hot_cache = 0;  // neither it nor --mlock: no right is kept
  Credentials credentials = ResolveCredentials(config);
  // The default group missing: nobody's own.
  EXPECT_EQ(Describe(credentials),
            Describe({true, true, Nobody().pw_uid, Nobody().pw_gid, false}));
  EXPECT_EQ(ServingUid(credentials), Nobody().pw_uid);
}

TEST(Privileges, TheHotCacheKeepsTheRightToLockMemory) {
  SKIP_UNLESS_ROOT();
  Config config;
  config.user = kFallbackUser;
  config.user_given = true;
  config.group = kMissing;
  config.hot_cache = 64ull << 20;
  EXPECT_TRUE(ResolveCredentials(config).keep_memory_lock);
  config.hot_cache = 0;
  EXPECT_FALSE(ResolveCredentials(config).keep_memory_lock);
}

TEST(Privileges, GroupGivenIsLookedUpAndAMissingOneNamesGroup) {
  SKIP_UNLESS_ROOT();
  const group* daemon_group = getgrnam("daemon");
  ASSERT_NE(daemon_group, nullptr);
  gid_t daemon_gid = daemon_group->gr_gid;
  Config config;
  config.user = kFallbackUser;
  config.user_given = true;
  config.group = "daemon";
  config.group_given = true;
  config.mlock = true;
  EXPECT_EQ(Describe(ResolveCredentials(config)),
            Describe({true, false, Nobody().pw_uid, daemon_gid, true}));

  config.group = kMissing;
  EXPECT_EQ(ConfigErrorOf(config),
            std::string("--group: '") + kMissing + "' is not a group");
}

TEST(Privileges, NotStartedAsRootNothingChangesWhateverTheUser) {
  auto check = [] {
    Config config;
    config.user = kMissing;
    config.user_given = true;
    Credentials credentials = ResolveCredentials(config);
    return !credentials.change && ServingUid(credentials) == geteuid() ? 0 : 1;
  };
  if (geteuid() != 0) {
    EXPECT_EQ(check(), 0);
    return;
  }
  int status = RunInChild([&] {
    if (setuid(Nobody().pw_uid) != 0) return 2;
    return check();
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

/// Drops to nobody in a child; what `then` returns there is the exit status
/// (0: all held), 10 when DropPrivileges threw.
int DropInChild(bool keep_memory_lock, int (*then)()) {
  int status = RunInChild([&] {
    Credentials credentials;
    credentials.change = true;
    credentials.uid = Nobody().pw_uid;
    credentials.gid = Nobody().pw_gid;
    credentials.keep_memory_lock = keep_memory_lock;
    // Supplementary groups to shed, root's among them.
    const gid_t groups[] = {0, 1};
    if (setgroups(2, groups) != 0) return 9;
    try {
      DropPrivileges(credentials);
    } catch (...) {
      return 10;
    }
    if (getuid() != Nobody().pw_uid || geteuid() != Nobody().pw_uid) return 1;
    if (getgid() != Nobody().pw_gid || getegid() != Nobody().pw_gid) return 2;
    if (getgroups(0, nullptr) != 0) return 3;
    if (setuid(0) == 0 || errno != EPERM) return 4;
    if (setgid(0) == 0) return 5;
    return then();
  });
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + status;
}

/// The effective capabilities of this thread, the first 32.
std::uint32_t EffectiveCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return ~0u;
  return data[0].effective;
}

TEST(Privileges, DroppedRootCannotBeRegained) {
  SKIP_UNLESS_ROOT();
  EXPECT_EQ(
      DropInChild(false, [] { return EffectiveCapabilities() == 0 ? 0 : 20; }),
      0);
}

TEST(Privileges, MlockKeepsCapIpcLockAlone) {
  SKIP_UNLESS_ROOT();
  EXPECT_EQ(DropInChild(true,
                        [] {
                          return EffectiveCapabilities() == 1u << CAP_IPC_LOCK
                                     ? 0
                                     : 20;
                        }),
            0);
}

TEST(Privileges, NoChangeDropsNothing) {
  uid_t before = getuid();
  DropPrivileges(Credentials{});
  EXPECT_EQ(getuid(), before);
}

}  // namespace
}  // namespace ferry

#include "privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "system_error.h"

namespace ferry {

uid_t ServingUid(const Credentials& credentials) {
  return credentials.change ? credentials.uid : geteuid();
}

Credentials ResolveCredentials(const Config& config) {
  Credentials credentials;
  if (geteuid() != 0 || config.user == "root") return credentials;
  const passwd* user = getpwnam(config.user.c_str());
  if (user == nullptr && !config.user_given) {
    user = getpwnam(kFallbackUser);
    credentials.fallback = true;
  }
  if (user == nullptr) {
    throw ConfigError("--user: '" + config.user + "' is not a user");
  }
  credentials.change = true;
  // --mlock locks the workers' memory, --hot-cache the pages of hot files:
  // a limit that cannot be raised (no CAP_SYS_RESOURCE) must not stop them.
  credentials.keep_memory_lock = config.mlock || HotCacheBytes(config) > 0;
  credentials.uid = user->pw_uid;
  credentials.gid = user->pw_gid;
  const group* group = getgrnam(config.group.c_str());
  if (group != nullptr) {
    credentials.gid = group->gr_gid;
  } else if (config.group_given) {
    throw ConfigError("--group: '" + config.group + "' is not a group");
  }
  return credentials;
}

void DropPrivileges(const Credentials& credentials) {
  if (!credentials.change) return;
  std::string who =
      std::to_string(credentials.uid) + ":" + std::to_string(credentials.gid);
  if (credentials.keep_memory_lock) {
    CheckCall(prctl(PR_SET_KEEPCAPS, 1), "prctl(PR_SET_KEEPCAPS)", who);
  }
  CheckCall(setgroups(0, nullptr), "setgroups", who);
  CheckCall(setgid(credentials.gid), "setgid", who);
  CheckCall(setuid(credentials.uid), "setuid", who);
  if (credentials.keep_memory_lock) {
    // setuid() kept the permitted set (KEEPCAPS) and cleared the effective
    // one: keep CAP_IPC_LOCK alone, effective.
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    data[0].effective = data[0].permitted = 1u << CAP_IPC_LOCK;
    CheckCall(static_cast<int>(syscall(SYS_capset, &header, data)), "capset",
              who);
    prctl(PR_SET_KEEPCAPS, 0);
  }
  if (credentials.uid != 0 && setuid(0) == 0) {
    ThrowSystemError(EPERM, "setuid", "root could be regained");
  }
}

}  // namespace ferry

#include "privileges.h"

#include <grp.h>
#include <pwd.h>
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
  CheckCall(setgroups(0, nullptr), "setgroups", who);
  CheckCall(setgid(credentials.gid), "setgid", who);
  CheckCall(setuid(credentials.uid), "setuid", who);
  if (credentials.uid != 0 && setuid(0) == 0) {
    ThrowSystemError(EPERM, "setuid", "root could be regained");
  }
}

}  // namespace ferry

#pragma once
// Started as root, ferryd binds its sockets and opens its document root,
// then its workers switch to an unprivileged user before serving a byte.

#include <sys/types.h>

#include "config.h"

namespace ferry {

/// Whom the workers serve as.
struct Credentials {
  bool change = false;  ///< false: not started as root, or --user root
  /// The default user does not exist: serving as kFallbackUser instead.
  bool fallback = false;
  uid_t uid = 0;
  gid_t gid = 0;
  /// --mlock or --hot-cache: keep CAP_IPC_LOCK, and only it, across the
  /// change, so that the workers can lock their memory (and pin hot files'
  /// pages, bounded by --hot-cache) whatever RLIMIT_MEMLOCK says.
  bool keep_memory_lock = false;
};

/// The uid the workers serve as: --user's, or ours when nothing changes.
uid_t ServingUid(const Credentials& credentials);

/// Whom the workers serve as when the default --user does not exist.
inline constexpr const char* kFallbackUser = "nobody";

/// Looks up --user and --group (at start-up: NSS may read files). Throws
/// ConfigError naming the flag when one that was given does not exist. The
/// default user missing (a source install) means kFallbackUser (`fallback`
/// set: the caller warns); the default group missing, the user's own group.
Credentials ResolveCredentials(const Config& config);

/// setgroups (none left), setgid, setuid, in that order (keeping only
/// CAP_IPC_LOCK when `keep_memory_lock`), and checks that root cannot be
/// regained. Call before any thread exists: the set*id
/// wrappers change every thread, but a thread racing them would not be.
/// Throws std::system_error.
void DropPrivileges(const Credentials& credentials);

}  // namespace ferry

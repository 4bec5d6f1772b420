#pragma once
// The master process: listeners, the worker processes it forks and
// re-forks, control signals, systemd notifications. It never touches a
// client.

#include "config.h"

namespace ferry {

/// Checks what option parsing cannot: the document root opens as a
/// directory, --user and --group exist. Throws ConfigError naming the flag.
void CheckConfig(const Config& config);

/// Runs the daemon with `config` until SIGTERM/SIGINT and returns the exit
/// status. `argc`/`argv` are kept to re-read the config file on SIGHUP.
/// Throws std::system_error for start-up failures (bind, root, io_setup).
int RunMaster(const Config& config, int argc, const char* const* argv);

}  // namespace ferry

// ferryd: options in, the master out. Everything else lives in lib/.

#include <cstdio>
#include <exception>
#include <system_error>

#include "config.h"
#include "master.h"

namespace {

constexpr int kExitUsage = 64;  // sysexits.h EX_USAGE: bad option or config

}  // namespace

int main(int argc, char** argv) {
  ferry::Invocation invocation;
  try {
    invocation = ferry::ParseCommandLine(argc, argv);
  } catch (const ferry::ConfigError& error) {
    std::fprintf(stderr, "ferryd: %s\n", error.what());
    return kExitUsage;
  }
  const ferry::Config& config = invocation.config;
  try {
    switch (invocation.action) {
      case ferry::Invocation::Action::kHelp:
        std::fputs(ferry::HelpText().c_str(), stdout);
        return 0;
      case ferry::Invocation::Action::kVersion:
        std::printf("ferryd %s\n", FERRY_VERSION);
        return 0;
      case ferry::Invocation::Action::kCheckConfig:
        ferry::CheckConfig(config);
        std::fputs(ferry::DescribeConfig(config).c_str(), stdout);
        return 0;
      case ferry::Invocation::Action::kRun:
        return ferry::RunMaster(config, argc, argv);
    }
  } catch (const ferry::ConfigError& error) {
    std::fprintf(stderr, "ferryd: %s\n", error.what());
    return kExitUsage;
  } catch (const std::exception& error) {  // std::system_error says it all
    std::fprintf(stderr, "ferryd: %s\n", error.what());
    return 1;
  }
  return 1;
}

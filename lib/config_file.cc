#include "config_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include "config.h"

namespace ferry {
namespace {

std::string Trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r") + 1 - begin);
}

// An option that takes one value per line (--listen, --hide, --header...):
// its values are a vector.
bool Repeatable(const boost::program_options::option_description& option) {
  return dynamic_cast<const boost::program_options::typed_value<
             std::vector<std::string>>*>(option.semantic().get()) != nullptr;
}

}  // namespace

std::string ReadConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError("--config: cannot read '" + path +
                      "': " + std::strerror(EISDIR));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError("--config: cannot read '" + path +
                      "': " + std::strerror(errno));
  }
  std::string text{std::istreambuf_iterator<char>(in), {}};
  if (in.bad()) {
    throw ConfigError("--config: cannot read '" + path + "': read error");
  }
  return text;
}

// Boost's own messages carry no line number, hence this first pass.
ConfigFile ScanConfigFile(
    const std::string& path, const std::string& text,
    const boost::program_options::options_description& settings) {
  ConfigFile file{path, {}};
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string where = path + ":" + std::to_string(number) + ": ";
    line = Trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    const auto equals = line.find('=');
    if (line.front() == '[' || equals == std::string::npos) {
      throw ConfigError(where + "expected 'name = value', got '" + line + "'");
    }
    const std::string name = Trim(line.substr(0, equals));
    const std::string value = Trim(line.substr(equals + 1));
    // GOTCHA: Boost matches "" against every option without a short name
    // and throws ambiguous_option, which is no ConfigError.
    if (name.empty()) {
      throw ConfigError(where + "expected 'name = value', got '" + line + "'");
    }
    const auto* option = settings.find_nothrow(name, false);
    if (option == nullptr) {
      throw ConfigError(where + "unknown option '" + name + "'");
    }
    if (value.empty()) throw ConfigError(where + "--" + name + ": no value");
    if (const auto first = file.lines.find(name);
        !Repeatable(*option) && first != file.lines.end()) {
      throw ConfigError(where + "--" + name + ": given twice (first on line " +
                        std::to_string(first->second.first) + ")");
    }
    file.lines.emplace(name, std::pair{number, value});
  }
  return file;
}

}  // namespace ferry

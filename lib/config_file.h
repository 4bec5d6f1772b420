#pragma once
// The config file: read, and checked line by line before Boost parses it,
// so that an error names the file and the line.

#include <boost/program_options.hpp>
#include <map>
#include <string>
#include <utility>

namespace ferry {

/// Where each setting of the config file is, for messages.
struct ConfigFile {
  std::string path;
  std::multimap<std::string, std::pair<int, std::string>> lines;

  /// "FILE:LINE: " for `name` (= `value` when given), "" when absent.
  std::string Where(const std::string& name, const std::string& value) const {
    auto [first, last] = lines.equal_range(name);
    for (auto it = first; it != last; ++it) {
      if (value.empty() || it->second.second == value) {
        return path + ":" + std::to_string(it->second.first) + ": ";
      }
    }
    return first == last ? "" : Where(name, "");
  }
};

/// The file's text. Throws ConfigError naming --config when it cannot be
/// read (missing, a directory, a read error).
std::string ReadConfigFile(const std::string& path);

/// Checks `text` (the file at `path`) as Boost will read it: "name = value"
/// lines of known `settings`, each given once (a repeatable option, whose
/// values are a vector, once a line: --listen, --hide...), "#" comments. Throws
/// ConfigError with "FILE:LINE: ".
ConfigFile ScanConfigFile(
    const std::string& path, const std::string& text,
    const boost::program_options::options_description& settings);

}  // namespace ferry

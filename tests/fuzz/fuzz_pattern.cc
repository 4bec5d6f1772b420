// The globs of --hide, --allow-dot-path (and the rules built on them) and
// --error-page values: PathPattern::Matches against a plain dynamic-
// programming reference, and ParseErrorPage never crashes and only accepts
// what it documents. Input: the pattern, a newline, the path.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "file_lookup.h"
#include "fuzz_check.h"
#include "path_pattern.h"

namespace {

/// matches[i][j]: pattern[i:] matches path[j:].
bool Reference(std::string_view pattern, std::string_view path) {
  const std::size_t m = pattern.size(), n = path.size();
  std::vector<std::vector<char>> matches(m + 1, std::vector<char>(n + 1, 0));
  matches[m][n] = 1;
  for (std::size_t i = m; i-- > 0;) {
    for (std::size_t j = n + 1; j-- > 0;) {
      if (pattern[i] == '*') {
        matches[i][j] = matches[i + 1][j] || (j < n && matches[i][j + 1]);
      } else if (j < n && (pattern[i] == '?' || pattern[i] == path[j])) {
        matches[i][j] = matches[i + 1][j + 1];
      }
    }
  }
  return matches[0][0] != 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t newline = input.find('\n');
  std::string_view pattern = input.substr(0, newline);
  std::string_view path =
      newline == std::string_view::npos ? "" : input.substr(newline + 1);
  if (ferry::PathPattern::Check(pattern).empty()) {
    FUZZ_CHECK(ferry::PathPattern(pattern).Matches(path) ==
               Reference(pattern, path));
  }
  try {
    ferry::SiteRules::ErrorPage page = ferry::ParseErrorPage(input);
    FUZZ_CHECK(!page.statuses.empty());
    FUZZ_CHECK(!page.path.empty() && page.path.front() != '/');
    for (int status : page.statuses) {
      FUZZ_CHECK(status >= 400 && status <= 599);
    }
  } catch (const ferry::ConfigError&) {
  }
  return 0;
}

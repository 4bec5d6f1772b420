#include "path_pattern.h"

namespace ferry {

std::string PathPattern::Check(std::string_view text) {
  if (text.empty()) return "is empty";
  if (text.front() != '/' && text.front() != '*') {
    return "must start with '/' or '*'";
  }
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == ' ') {
      return "holds a space or a control character";
    }
    if (c == '[' || c == ']' || c == '{' || c == '}' || c == '\\') {
      return std::string("holds '") + c + "': only * and ? are wildcards";
    }
  }
  return {};
}

// Iterative glob with one backtrack point (the last '*'): linear in
// practice, never exponential, whatever the pattern.
bool PathPattern::Matches(std::string_view path) const {
  std::string_view pattern = text_;
  std::size_t p = 0, s = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (s < path.size()) {
    // A '*' first: a path may hold a '*' too (from "%2A"), which must not
    // be taken for the literal match of the wildcard.
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = s;
    } else if (p < pattern.size() &&
               (pattern[p] == '?' || pattern[p] == path[s])) {
      ++p;
      ++s;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      s = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace ferry

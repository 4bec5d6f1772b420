#pragma once
// Patterns on request paths, for the rules an operator writes in flags
// (--hide, --allow-dot-path, --header, --cors): shell-like globs matched
// against the whole decoded path with its leading '/'.
//
//   /assets/*       everything under /assets/ (a '*' crosses '/')
//   *.html          every path ending in .html
//   /robots.txt     that path alone
//   /img/?.png      one character, then .png

#include <string>
#include <string_view>

namespace ferry {

class PathPattern {
 public:
  /// Checks and keeps `text`; returns "" or what is wrong with it, for a
  /// message naming the flag: it must start with '/' or '*', and hold no
  /// control character, space or unsupported glob character ([ ] { } \).
  static std::string Check(std::string_view text);

  /// `text` must have passed Check().
  explicit PathPattern(std::string_view text) : text_(text) {}

  /// True when the whole of `path` ("/a/b.html") matches.
  bool Matches(std::string_view path) const;

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

}  // namespace ferry

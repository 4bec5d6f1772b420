#pragma once
// Character classes and comparisons of HTTP/1.1 syntax (RFC 9110 section 5),
// shared by the request, range and response code. Internal to lib/.

#include <array>
#include <cstddef>
#include <string_view>

namespace ferry {

/// A character class: the ASCII digits and letters, and the bytes of
/// `others`.
constexpr std::array<bool, 256> AlnumAnd(std::string_view others) {
  std::array<bool, 256> t{};
  for (std::size_t c = '0'; c <= '9'; ++c) t[c] = true;
  for (std::size_t c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (std::size_t c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : others) t[static_cast<unsigned char>(c)] = true;
  return t;
}

/// True for a tchar: the characters allowed in tokens (methods, field
/// names, connection options).
inline bool IsTchar(unsigned char c) {
  static constexpr std::array<bool, 256> kTable = AlnumAnd("!#$%&'*+-.^_`|~");
  return kTable[c];
}

/// True for optional whitespace: SP or HTAB.
inline bool IsOws(char c) { return c == ' ' || c == '\t'; }

/// ASCII lower case; other bytes unchanged.
inline char ToLowerAscii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// Case-insensitive (ASCII) comparison; `lower` must already be lower case.
inline bool EqualsLower(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (ToLowerAscii(text[i]) != lower[i]) return false;
  }
  return true;
}

/// `text` without leading and trailing SP/HTAB.
inline std::string_view TrimOws(std::string_view text) {
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && IsOws(text[begin])) ++begin;
  while (end > begin && IsOws(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

}  // namespace ferry

// DecodeTargetPath and HasDotSegment against a plain reference: decode
// once, split on '/', resolve "." and ".." on a stack. The input is the
// origin-form path as sent.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "http_request.h"

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = s.find('/', start);
    parts.push_back(s.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

/// The reference: 0 and the path, or 400.
int Reference(std::string_view raw, std::string* path, bool* directory) {
  if (raw.empty() || raw[0] != '/') return 400;
  std::string decoded;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%') {
      if (raw.size() - i < 3 || Hex(raw[i + 1]) < 0 || Hex(raw[i + 2]) < 0) {
        return 400;
      }
      c = static_cast<char>(Hex(raw[i + 1]) * 16 + Hex(raw[i + 2]));
      i += 2;
    }
    if (c == '\0') return 400;
    decoded.push_back(c);
  }
  std::vector<std::string_view> stack;
  const std::vector<std::string_view> parts = Split(decoded);
  for (std::string_view part : parts) {
    if (part == "..") {
      if (stack.empty()) return 400;
      stack.pop_back();
    } else if (!part.empty() && part != ".") {
      stack.push_back(part);
    }
  }
  const std::string_view last = parts.back();
  *directory = last.empty() || last == "." || last == "..";
  path->clear();
  for (std::string_view part : stack) {
    if (!path->empty()) path->push_back('/');
    path->append(part);
  }
  return 0;
}

bool ReferenceHasDot(std::string_view path) {
  for (std::string_view part : Split(path)) {
    if (!part.empty() && part[0] == '.') return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  // Reused across inputs, as a connection reuses Request::path.
  static std::string path;
  bool directory = false;
  const int status = ferry::DecodeTargetPath(raw, &path, &directory);

  std::string expected;
  bool expected_directory = false;
  const int expected_status = Reference(raw, &expected, &expected_directory);
  FUZZ_CHECK(status == 0 || status == 400);
  FUZZ_CHECK(status == expected_status);
  FUZZ_CHECK(ferry::HasDotSegment(raw) == ReferenceHasDot(raw));
  if (status != 0) return 0;

  FUZZ_CHECK(path == expected);
  FUZZ_CHECK(directory == expected_directory);
  // Never an escaping path: relative, no NUL, no "." or ".." segment.
  FUZZ_CHECK(path.find('\0') == std::string::npos);
  FUZZ_CHECK(path.empty() || path.front() != '/');
  for (std::string_view part : Split(path)) {
    FUZZ_CHECK(part != ".." && part != ".");
  }
  FUZZ_CHECK(ferry::HasDotSegment(path) == ReferenceHasDot(path));

  // Normalising is idempotent: the path, re-encoded, decodes to itself.
  std::string again_raw = "/";
  for (char c : path) {
    if (c == '%') {
      again_raw += "%25";
    } else {
      again_raw.push_back(c);
    }
  }
  std::string again;
  bool again_directory = false;
  FUZZ_CHECK(ferry::DecodeTargetPath(again_raw, &again, &again_directory) == 0);
  FUZZ_CHECK(again == path);
  return 0;
}

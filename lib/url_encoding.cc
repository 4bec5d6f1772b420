#include "url_encoding.h"

#include <cstring>

namespace ferry {
namespace {

bool KeptAsIs(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9')) {
    return true;
  }
  return c != '\0' && std::strchr("-._~!$&'()*+,;=:@/", c) != nullptr;
}

}  // namespace

void AppendPercentEncodedPath(std::string_view path, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : path) {
    auto c = static_cast<unsigned char>(ch);
    if (KeptAsIs(c)) {
      *out += ch;
    } else {
      *out += '%';
      *out += kHex[c >> 4];
      *out += kHex[c & 15];
    }
  }
}

}  // namespace ferry

#include "https_redirect.h"

#include <charconv>

namespace ferry {
namespace {

constexpr std::string_view kAcmeChallenge = "/.well-known/acme-challenge/";

// The host without its port: "[::1]:8080" -> "[::1]", "a.example:80" ->
// "a.example". (A valid host has its ']' when it starts with '['.)
std::string_view HostName(std::string_view host) {
  if (!host.empty() && host[0] == '[') {
    return host.substr(0, host.find(']') + 1);
  }
  return host.substr(0, host.find(':'));
}

// Appends `text` (the parser let through no control character, space or
// '#') with what a URI may not hold as it is percent-encoded: non-ASCII
// bytes and the few ASCII ones RFC 3986 leaves out.
void AppendUriText(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  constexpr std::string_view kExcluded = "\"<>\\^`{|}";
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80 && kExcluded.find(ch) == std::string_view::npos) {
      out->push_back(ch);
      continue;
    }
    out->push_back('%');
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 0xf]);
  }
}

}  // namespace

bool IsAcmeChallenge(std::string_view rule_path) {
  return rule_path.starts_with(kAcmeChallenge);
}

bool AppendHttpsLocation(const Request& request, std::uint16_t https_port,
                         std::string* out) {
  const std::string_view host = HostName(request.host);
  if (host.empty()) return false;
  out->append("https://");
  out->append(host);
  if (https_port != 443) {
    char port[8];
    const auto end = std::to_chars(port, port + sizeof port, https_port).ptr;
    out->push_back(':');
    out->append(port, end);
  }
  if (request.raw_path.empty()) {
    out->push_back('/');  // "http://host" or "http://host?q"
  } else {
    AppendUriText(request.raw_path, out);
  }
  // A '?' with nothing after it was sent too: the query's view is then
  // empty but not null.
  if (request.query.data() != nullptr) {
    out->push_back('?');
    AppendUriText(request.query, out);
  }
  return true;
}

int BuildHttpsRedirect(int status, const Request& request,
                       std::uint16_t https_port, std::time_t now,
                       bool keep_alive, std::string* scratch,
                       ResponseLayout* layout) {
  scratch->clear();
  if (!AppendHttpsLocation(request, https_port, scratch)) return 400;
  BuildStatusResponse(status, request.method == Method::kHead, now, keep_alive,
                      *scratch, 0, layout);
  return 0;
}

}  // namespace ferry

#include "forwarded_for.h"

#include <cstddef>

namespace ferry {
namespace {

std::string_view TrimSpaces(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const std::size_t last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

/// ":" 1*5DIGIT up to 65535, without the colon.
bool IsPort(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return false;
  unsigned value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
}

}  // namespace

std::optional<sockaddr_storage> ParseForwardedAddress(std::string_view entry) {
  std::string_view host = TrimSpaces(entry);
  if (!host.empty() && host.front() == '[') {
    // [IPv6] or [IPv6]:PORT
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view after = host.substr(close + 1);
    if (!after.empty() && (after.front() != ':' || !IsPort(after.substr(1)))) {
      return std::nullopt;
    }
    host = host.substr(1, close - 1);
    if (host.find(':') == std::string_view::npos) return std::nullopt;
  } else if (const std::size_t colon = host.find(':');
             colon != std::string_view::npos &&
             host.find(':', colon + 1) == std::string_view::npos) {
    // One colon is no IPv6 literal: IPv4:PORT.
    if (!IsPort(host.substr(colon + 1))) return std::nullopt;
    host = host.substr(0, colon);
  }
  sockaddr_storage address{};
  if (!ParseAddressLiteral(host, &address)) return std::nullopt;
  return address;
}

std::optional<sockaddr_storage> ForwardedClient(std::string_view list,
                                                const AddressList& trusted) {
  std::optional<sockaddr_storage> reached;
  while (!list.empty()) {
    const std::size_t comma = list.rfind(',');
    const std::string_view entry =
        comma == std::string_view::npos ? list : list.substr(comma + 1);
    list = comma == std::string_view::npos ? std::string_view()
                                           : list.substr(0, comma);
    if (TrimSpaces(entry).empty()) continue;
    const std::optional<sockaddr_storage> address =
        ParseForwardedAddress(entry);
    if (!address) break;  // nothing left of junk can be believed
    reached = address;
    if (!trusted.Contains(*address)) break;
  }
  return reached;
}

}  // namespace ferry

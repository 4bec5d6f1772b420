#pragma once
// Who may talk to an endpoint: a list of IPv4 and IPv6 networks, as nginx's
// allow directives name them (--metrics-allow).

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

/// A list of networks ("127.0.0.0/8", "::1", "10.1.2.3"), or "any".
class AddressList {
 public:
  /// Parses a comma-separated list of ADDRESS[/BITS] (IPv4 or IPv6
  /// literals), or "any". Throws std::invalid_argument naming the first bad
  /// entry.
  static AddressList Parse(const std::string& text);

  /// True when `address` (AF_INET or AF_INET6; an IPv4-mapped IPv6 address
  /// counts as IPv4) lies in one of the networks.
  bool Contains(const sockaddr_storage& address) const;

 private:
  struct Network {
    int family = AF_INET;
    std::array<std::uint8_t, 16> bytes{};  ///< network order, 4 used for v4
    unsigned bits = 0;
  };

  bool any_ = false;
  std::vector<Network> networks_;
};

/// `address` (AF_INET or AF_INET6) as the access log shows it
/// ("192.0.2.1", "2001:db8::1"); "unix" for a unix socket's peer. The text
/// stays valid until the thread's next call.
std::string_view AddressText(const sockaddr_storage& address);

/// Parses one plain IPv4 or IPv6 literal ("192.0.2.1", "2001:db8::1"; no
/// brackets, port, zone or spaces) into `address` (port 0). False, leaving
/// `address` unchanged, when `text` is anything else.
bool ParseAddressLiteral(std::string_view text, sockaddr_storage* address);

}  // namespace ferry

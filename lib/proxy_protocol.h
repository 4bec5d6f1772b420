#pragma once
// The PROXY protocol (HAProxy's "The PROXY protocol", versions 1 and 2):
// the header a load balancer sends ahead of a client's bytes, naming the
// client. Version 1 is a text line ("PROXY TCP4 ...\r\n"), version 2 a
// binary block after a 12-byte signature; a listener that expects one
// takes either and refuses a connection that does not start with one.

#include <sys/socket.h>

#include <cstddef>
#include <string_view>

namespace ferry {

/// The most bytes a header may take (v1: 107; v2: 16 + its length, which
/// we cap here): more is refused as kInvalid.
inline constexpr std::size_t kProxyHeaderMax = 16 + 2048;

enum class ProxyStatus { kIncomplete, kDone, kInvalid };

struct ProxyHeader {
  ProxyStatus status = ProxyStatus::kIncomplete;
  /// kDone: how many bytes at the front of the input the header took.
  std::size_t length = 0;
  /// kDone: false when the header names no client address (v1 UNKNOWN, v2
  /// LOCAL, v2 UNSPEC or AF_UNIX addresses): the connection's own address
  /// stands.
  bool has_address = false;
  /// kDone with has_address: the client's address and port (AF_INET as
  /// sockaddr_in, AF_INET6 as sockaddr_in6, network byte order).
  sockaddr_storage source{};
};

/// Parses the PROXY header at the front of `input` (the first bytes a
/// connection received): kIncomplete while `input` is a proper prefix of a
/// header that may still be valid, kInvalid as soon as it cannot be one.
/// Never reads past input.size(); never allocates.
ProxyHeader ParseProxyHeader(std::string_view input);

}  // namespace ferry

#pragma once
// The client a trusted proxy names in a request header (--real-ip-from,
// --real-ip-header), as nginx's realip module with real_ip_recursive on.

#include <sys/socket.h>

#include <optional>
#include <string_view>

#include "address_list.h"

namespace ferry {

/// Which request field names the client (--real-ip-header).
enum class RealIpHeader {
  kXForwardedFor,  ///< a list, each proxy appending the address it saw
  kXRealIp,        ///< one address
};

/// One entry of X-Forwarded-For or the value of X-Real-IP: an IPv4 or IPv6
/// literal, an IPv6 one in brackets, or an IPv4 or [IPv6] with ":PORT"
/// (the port is dropped), with spaces and tabs around it. None for
/// anything else.
std::optional<sockaddr_storage> ParseForwardedAddress(std::string_view entry);

/// Walks an X-Forwarded-For list (every line's, joined) from the right, as
/// a peer in `trusted` sent it: a trusted address moves on to the one left
/// of it, and the first untrusted one is the client; when all are trusted,
/// the leftmost is. An entry that is no address (ParseForwardedAddress)
/// stops the walk at the last trusted address reached. Empty list elements
/// are skipped (RFC 9110 section 5.6.1). None when no address was reached:
/// the peer is the client.
std::optional<sockaddr_storage> ForwardedClient(std::string_view list,
                                                const AddressList& trusted);

}  // namespace ferry

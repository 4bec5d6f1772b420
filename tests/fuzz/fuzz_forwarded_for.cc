// ForwardedClient and ParseForwardedAddress on any bytes: a client is an
// IPv4 or IPv6 address that one entry of the list names, its text parses
// back to it; once the walk stopped (an untrusted client, or junk before
// any address) nothing written left of the list changes it; a list of one
// entry gives that entry's address, as X-Real-IP does.
// Input: an X-Forwarded-For value, every line's joined.

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "address_list.h"
#include "forwarded_for.h"
#include "fuzz_check.h"

namespace {

using Address = std::optional<sockaddr_storage>;

bool Same(const Address& a, const Address& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || std::memcmp(&*a, &*b, sizeof *a) == 0;
}

/// Some entry of `list` is `address`.
bool NamedByAnEntry(std::string_view list, const sockaddr_storage& address) {
  for (;;) {
    const std::size_t comma = list.find(',');
    if (Same(ferry::ParseForwardedAddress(list.substr(0, comma)), address)) {
      return true;
    }
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static const ferry::AddressList kTrusted =
      ferry::AddressList::Parse("10.0.0.0/8,127.0.0.1,2001:db8::/32");
  const std::string_view list(reinterpret_cast<const char*>(data), size);
  const Address client = ferry::ForwardedClient(list, kTrusted);
  if (client) {
    FUZZ_CHECK(client->ss_family == AF_INET || client->ss_family == AF_INET6);
    FUZZ_CHECK(NamedByAnEntry(list, *client));
    sockaddr_storage again{};
    FUZZ_CHECK(ferry::ParseAddressLiteral(ferry::AddressText(*client), &again));
    FUZZ_CHECK(Same(again, client));
  }
  // The walk stopped at an untrusted client, or at junk before any
  // address: what the client wrote further left cannot change it.
  const bool stopped =
      client ? !kTrusted.Contains(*client)
             : list.find_first_not_of(" \t,") != std::string_view::npos;
  if (stopped) {
    for (const char* left : {"203.0.113.1,", "junk, ", "10.0.0.1 ,"}) {
      FUZZ_CHECK(Same(
          ferry::ForwardedClient(left + std::string(list), kTrusted), client));
    }
  }
  // One entry (X-Real-IP's value): its address, trusted or not.
  const Address one = ferry::ParseForwardedAddress(list);
  if (list.find(',') == std::string_view::npos) {
    FUZZ_CHECK(Same(one, client));
  } else {
    FUZZ_CHECK(!one);
  }
  return 0;
}

#include "forwarded_for.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "address_list.h"

namespace ferry {
namespace {

// The proxies of the tests: a private network, one IPv6 host, loopback.
const AddressList kTrusted =
    AddressList::Parse("10.0.0.0/8,2001:db8::10,127.0.0.1");

// The client's text, or "none".
std::string Client(std::string_view list,
                   const AddressList& trusted = kTrusted) {
  const std::optional<sockaddr_storage> client = ForwardedClient(list, trusted);
  return client ? std::string(AddressText(*client)) : "none";
}

std::string Entry(std::string_view entry) {
  const std::optional<sockaddr_storage> address = ParseForwardedAddress(entry);
  return address ? std::string(AddressText(*address)) : "none";
}

TEST(ParseForwardedAddress, PlainBracketedAndWithPorts) {
  for (const auto& [entry, address] :
       std::initializer_list<std::pair<const char*, const char*>>{
           {"203.0.113.7", "203.0.113.7"},
           {"2001:db8::7", "2001:db8::7"},
           {"[2001:db8::7]", "2001:db8::7"},
           {"203.0.113.7:40000", "203.0.113.7"},
           {"[2001:db8::7]:443", "2001:db8::7"},
           {" \t203.0.113.7 \t", "203.0.113.7"},
           {"  [::1]:0 ", "::1"},
           {"::ffff:203.0.113.7", "::ffff:203.0.113.7"},
       }) {
    EXPECT_EQ(Entry(entry), address) << '"' << entry << '"';
  }
}

TEST(ParseForwardedAddress, RefusesWhatIsNoAddress) {
  for (const char* bad : {"",
                          " ",
                          "unknown",
                          "_hidden",
                          "localhost",
                          "example.com:80",
                          "203.0.113.7:",
                          "203.0.113.7:65536",
                          "203.0.113.7:123456",
                          "203.0.113.7:8x",
                          "203.0.113.7 :80",
                          "[203.0.113.7]",
                          "[::1",
                          "[::1]x",
                          "[::1]:",
                          "[::1]:99999",
                          "::1]",
                          "2001:db8::7:80:",
                          "2001:db8::7%eth0",
                          "203.0.113.7, 10.0.0.1",
                          "203.0.113.7/32",
                          "203.0.113.07x",
                          "\"203.0.113.7\""}) {
    EXPECT_EQ(Entry(bad), "none") << bad;
  }
}

TEST(ForwardedClient, WalksTrustedProxiesFromTheRight) {
  struct Case {
    const char* list;
    const char* client;
  };
  for (const Case& c : std::initializer_list<Case>{
           // The rightmost untrusted address is the client; what is left of
           // it was written by the client itself and is not believed.
           {"203.0.113.7", "203.0.113.7"},
           {"203.0.113.7, 10.0.0.2", "203.0.113.7"},
           {"198.51.100.1, 203.0.113.7, 10.0.0.2, 10.0.0.3", "203.0.113.7"},
           {"10.9.9.9, 203.0.113.7", "203.0.113.7"},
           // All trusted: the leftmost.
           {"10.0.0.5, 10.0.0.2, 127.0.0.1", "10.0.0.5"},
           {"10.0.0.5", "10.0.0.5"},
           // Junk stops the walk at the last trusted address reached.
           {"unknown", "none"},
           {"203.0.113.7, unknown", "none"},
           {"203.0.113.7, unknown, 10.0.0.2", "10.0.0.2"},
           {"203.0.113.7, localhost, 10.0.0.3, 10.0.0.2", "10.0.0.3"},
           {"junk, 203.0.113.7, 10.0.0.2", "203.0.113.7"},  // left: no matter
           // IPv6, brackets, ports; an IPv4-mapped proxy is the IPv4 one.
           {"2001:db8::7, 2001:db8::10", "2001:db8::7"},
           {"[2001:db8::7]:51000, [2001:db8::10]:443", "2001:db8::7"},
           {"203.0.113.7:51000,10.0.0.2:80", "203.0.113.7"},
           {"2001:db8::10", "2001:db8::10"},
           {"203.0.113.7, ::ffff:10.0.0.2", "203.0.113.7"},
           // Spaces, tabs and empty elements (RFC 9110 section 5.6.1).
           {" \t203.0.113.7\t,\t10.0.0.2 ", "203.0.113.7"},
           {"203.0.113.7,,10.0.0.2, ,", "203.0.113.7"},
           {"", "none"},
           {" , ,", "none"},
           // Repeated lines, as the parser joins them: the later line is the
           // nearer proxy's; a present-but-empty first line.
           {"198.51.100.1, 203.0.113.7, 10.0.0.2", "203.0.113.7"},
           {", 203.0.113.7", "203.0.113.7"},
       }) {
    EXPECT_EQ(Client(c.list), c.client) << '"' << c.list << '"';
  }
}

TEST(ForwardedClient, NothingTrustedStopsAtTheRightmost) {
  const AddressList none = AddressList::Parse("192.0.2.255");
  EXPECT_EQ(Client("203.0.113.7, 10.0.0.2", none), "10.0.0.2");
  const AddressList any = AddressList::Parse("any");
  EXPECT_EQ(Client("203.0.113.7, 10.0.0.2", any), "203.0.113.7");
}

}  // namespace
}  // namespace ferry

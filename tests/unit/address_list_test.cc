#include "address_list.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace ferry {
namespace {

sockaddr_storage Address(const std::string& text) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr), 1) << text;
    v6->sin6_family = AF_INET6;
  }
  return storage;
}

TEST(AddressList, MatchesNetworksOfEitherFamily) {
  AddressList list = AddressList::Parse("127.0.0.0/8,::1,10.1.2.0/23,fd00::/8");
  EXPECT_TRUE(list.Contains(Address("127.9.9.9")));
  EXPECT_TRUE(list.Contains(Address("::1")));
  EXPECT_TRUE(list.Contains(Address("10.1.3.255")));
  EXPECT_FALSE(list.Contains(Address("10.1.4.0")));
  EXPECT_TRUE(list.Contains(Address("fdab::7")));
  EXPECT_FALSE(list.Contains(Address("fe80::1")));
  EXPECT_FALSE(list.Contains(Address("128.0.0.1")));
  EXPECT_FALSE(list.Contains(Address("::2")));
  // An IPv4 client of a dual-stack socket is matched as IPv4.
  EXPECT_TRUE(list.Contains(Address("::ffff:127.0.0.1")));
}

TEST(AddressList, AnyAndSingleHosts) {
  EXPECT_TRUE(AddressList::Parse("any").Contains(Address("203.0.113.9")));
  AddressList host = AddressList::Parse("192.0.2.7");
  EXPECT_TRUE(host.Contains(Address("192.0.2.7")));
  EXPECT_FALSE(host.Contains(Address("192.0.2.6")));
  EXPECT_TRUE(AddressList::Parse("0.0.0.0/0").Contains(Address("1.2.3.4")));
}

TEST(AddressList, RefusesWhatIsNotANetwork) {
  for (const char* bad :
       {"", "localhost", "127.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/8,",
        "10.0.0.0/x", "any,::1", "1.2.3.4/-1"}) {
    EXPECT_THROW(AddressList::Parse(bad), std::invalid_argument) << bad;
  }
}

TEST(ParseAddressLiteral, TakesOnePlainAddress) {
  sockaddr_storage parsed{};
  ASSERT_TRUE(ParseAddressLiteral("192.0.2.7", &parsed));
  EXPECT_EQ(parsed.ss_family, AF_INET);
  EXPECT_EQ(AddressText(parsed), "192.0.2.7");
  ASSERT_TRUE(ParseAddressLiteral("2001:DB8::1", &parsed));
  EXPECT_EQ(parsed.ss_family, AF_INET6);
  EXPECT_EQ(AddressText(parsed), "2001:db8::1");
  // No port is kept: the address alone.
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6&>(parsed).sin6_port, 0);
  ASSERT_TRUE(ParseAddressLiteral("::ffff:192.0.2.1", &parsed));
  EXPECT_TRUE(AddressList::Parse("192.0.2.0/24").Contains(parsed));
}

TEST(ParseAddressLiteral, RefusesAnythingElse) {
  sockaddr_storage parsed{};
  parsed.ss_family = AF_UNIX;
  for (const std::string& bad : std::vector<std::string>{
           "", " 192.0.2.7", "192.0.2.7 ", "192.0.2.7:80", "[::1]", "::1%lo",
           "localhost", "192.0.2", "10.0.0.0/8", "unknown",
           std::string("::1\0junk", 8),
           "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255x"}) {
    EXPECT_FALSE(ParseAddressLiteral(bad, &parsed)) << bad;
  }
  EXPECT_EQ(parsed.ss_family, AF_UNIX);  // unchanged
}

}  // namespace
}  // namespace ferry

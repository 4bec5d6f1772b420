#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <vector>

#include "allocation_counter.h"

namespace ferry {
namespace {

using S = ProxyStatus;

const std::string kRequest = "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
// The longest IPv6 address text, 39 bytes.
const std::string kFullV6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

// A v2 header: the signature, ver_cmd, family, the length of `rest`, `rest`.
std::string V2(unsigned char ver_cmd, unsigned char family,
               const std::string& rest) {
  std::string header("\r\n\r\n\0\r\nQUIT\n", 12);
  header += static_cast<char>(ver_cmd);
  header += static_cast<char>(family);
  header += static_cast<char>(rest.size() >> 8);
  header += static_cast<char>(rest.size() & 0xff);
  return header + rest;
}

// 2.2's TCP/UDP over IPv4 block: 192.168.0.1:56324 → 192.168.0.11:443.
std::string V4Block() {
  return std::string("\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb", 12);
}

// 2.2's TCP/UDP over IPv6 block: [2001:db8::1]:56324 → [2001:db8::2]:443.
std::string V6Block() {
  std::string block(32, '\0');
  block[0] = '\x20';
  block[1] = '\x01';
  block[2] = '\x0d';
  block[3] = '\xb8';
  block[15] = '\x01';
  block.replace(16, 16, block.substr(0, 16));
  block[31] = '\x02';
  return block + std::string("\xdc\x04\x01\xbb", 4);
}

// The source as "a.b.c.d:port" or "[v6]:port"; "" when there is none.
std::string Source(const ProxyHeader& header) {
  if (!header.has_address) return "";
  char text[INET6_ADDRSTRLEN] = {};
  if (header.source.ss_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, &header.source, sizeof in);
    inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(in.sin_port));
  }
  sockaddr_in6 in6{};
  std::memcpy(&in6, &header.source, sizeof in6);
  inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
  return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6.sin6_port));
}

// `header` followed by a request: kDone, taking exactly the header. Returns
// the source it names ("" for none).
std::string SourceOf(const std::string& header) {
  const ProxyHeader parsed = ParseProxyHeader(header + kRequest);
  EXPECT_EQ(parsed.status, S::kDone) << header;
  EXPECT_EQ(parsed.length, header.size()) << header;
  return Source(parsed);
}

ProxyStatus StatusOf(std::string_view input) {
  return ParseProxyHeader(input).status;
}

// Valid headers, each as a whole (nothing after it).
std::vector<std::string> ValidHeaders() {
  return {
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
      "PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n",
      "PROXY UNKNOWN\r\n",
      "PROXY UNKNOWN 2001:db8::1 2001:db8::2 56324 443\r\n",
      V2(0x20, 0x00, ""),
      V2(0x21, 0x11, V4Block()),
      V2(0x21, 0x21, V6Block()),
      V2(0x21, 0x11, V4Block() + std::string("\x01\x00\x02h2", 5)),
      V2(0x21, 0x00, ""),
      V2(0x21, 0x31, std::string(216, 'u')),
  };
}

TEST(ProxyProtocolTest, V1Tcp4) {
  EXPECT_EQ(SourceOf("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
            "192.168.0.1:56324");
  EXPECT_EQ(SourceOf("PROXY TCP4 0.0.0.0 1.2.3.4 0 65535\r\n"), "0.0.0.0:0");
  // 2.1's longest TCP4 line: 56 bytes.
  EXPECT_EQ(SourceOf("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535"
                     "\r\n"),
            "255.255.255.255:65535");
}

TEST(ProxyProtocolTest, V1Tcp6) {
  EXPECT_EQ(SourceOf("PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n"),
            "[2001:db8::1]:56324");
  EXPECT_EQ(SourceOf("PROXY TCP6 ::ffff:192.168.0.1 ::1 1 2\r\n"),
            "[::ffff:192.168.0.1]:1");
  // 2.1's longest TCP6 line: 104 bytes.
  EXPECT_EQ(
      SourceOf("PROXY TCP6 " + kFullV6 + " " + kFullV6 + " 65535 65535\r\n"),
      "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

TEST(ProxyProtocolTest, V1UnknownIgnoresTheRestOfTheLine) {
  EXPECT_EQ(SourceOf("PROXY UNKNOWN\r\n"), "");
  EXPECT_EQ(SourceOf("PROXY UNKNOWN 1.2.3.4 nonsense\r\n"), "");
  // 2.1's worst case, 107 bytes, is taken; one more is not.
  const std::string worst =
      "PROXY UNKNOWN " + kFullV6 + " " + kFullV6 + " 65535 65535\r\n";
  ASSERT_EQ(worst.size(), 107u);
  EXPECT_EQ(SourceOf(worst), "");
  EXPECT_EQ(StatusOf("PROXY UNKNOWN  " + worst.substr(14)), S::kInvalid);
}

TEST(ProxyProtocolTest, V2Local) {
  EXPECT_EQ(SourceOf(V2(0x20, 0x00, "")), "");
  // LOCAL ignores the family and skips whatever the length covers.
  EXPECT_EQ(SourceOf(V2(0x20, 0x11, V4Block())), "");
  EXPECT_EQ(SourceOf(V2(0x20, 0xff, "")), "");
}

TEST(ProxyProtocolTest, V2ProxyTcpAndUdp) {
  EXPECT_EQ(SourceOf(V2(0x21, 0x11, V4Block())), "192.168.0.1:56324");
  EXPECT_EQ(SourceOf(V2(0x21, 0x21, V6Block())), "[2001:db8::1]:56324");
  EXPECT_EQ(SourceOf(V2(0x21, 0x12, V4Block())), "192.168.0.1:56324");
  EXPECT_EQ(SourceOf(V2(0x21, 0x22, V6Block())), "[2001:db8::1]:56324");
}

TEST(ProxyProtocolTest, V2SkipsTlvs) {
  // PP2_TYPE_ALPN "h2", then a PP2_TYPE_NOOP of 3 bytes.
  const std::string tlvs("\x01\x00\x02h2\x04\x00\x03\x00\x00\x00", 11);
  EXPECT_EQ(SourceOf(V2(0x21, 0x21, V6Block() + tlvs)), "[2001:db8::1]:56324");
  EXPECT_EQ(SourceOf(V2(0x21, 0x11, V4Block() + tlvs)), "192.168.0.1:56324");
}

TEST(ProxyProtocolTest, V2UnspecAndUnixNameNoAddress) {
  EXPECT_EQ(SourceOf(V2(0x21, 0x00, "")), "");
  EXPECT_EQ(SourceOf(V2(0x21, 0x00, V4Block())), "");
  EXPECT_EQ(SourceOf(V2(0x21, 0x31, std::string(216, 'u'))), "");
  EXPECT_EQ(SourceOf(V2(0x21, 0x32, std::string(220, 'u'))), "");
}

TEST(ProxyProtocolTest, EveryPrefixIsIncomplete) {
  EXPECT_EQ(StatusOf(""), S::kIncomplete);
  for (const std::string& header : ValidHeaders()) {
    for (std::size_t k = 0; k < header.size(); ++k) {
      EXPECT_EQ(StatusOf(header.substr(0, k)), S::kIncomplete)
          << k << " bytes of " << header;
    }
    SourceOf(header);
  }
}

TEST(ProxyProtocolTest, V2RefusesBadVersionAndCommandAtOnce) {
  const std::string signature("\r\n\r\n\0\r\nQUIT\n", 12);
  for (char ver_cmd : {'\x11', '\x31', '\x01', '\x22', '\x2f', '\x02'}) {
    EXPECT_EQ(StatusOf(signature + ver_cmd), S::kInvalid) << int{ver_cmd};
  }
  EXPECT_EQ(StatusOf(V2(0x10, 0x11, V4Block())), S::kInvalid);
}

TEST(ProxyProtocolTest, V2RefusesUnknownFamilies) {
  const std::string start = V2(0x21, 0x00, "").substr(0, 13);
  for (char family : {'\x01', '\x10', '\x13', '\x23', '\x30', '\x41', '\xff'}) {
    EXPECT_EQ(StatusOf(start + family), S::kInvalid) << int{family};
  }
}

TEST(ProxyProtocolTest, V2RefusesALengthShortOfTheAddresses) {
  EXPECT_EQ(StatusOf(V2(0x21, 0x11, V4Block().substr(0, 11))), S::kInvalid);
  EXPECT_EQ(StatusOf(V2(0x21, 0x21, V6Block().substr(0, 35))), S::kInvalid);
  EXPECT_EQ(StatusOf(V2(0x21, 0x31, std::string(215, 'u'))), S::kInvalid);
  // Known from the first 16 bytes, before the block arrives.
  EXPECT_EQ(StatusOf(V2(0x21, 0x11, "").substr(0, 16)), S::kInvalid);
}

TEST(ProxyProtocolTest, V2LengthIsCapped) {
  const std::string largest = V2(0x21, 0x11, std::string(2048, 'x'));
  ASSERT_EQ(largest.size(), kProxyHeaderMax);
  EXPECT_EQ(StatusOf(largest.substr(0, 16)), S::kIncomplete);
  EXPECT_EQ(ParseProxyHeader(largest).length, kProxyHeaderMax);
  const std::string over = V2(0x21, 0x11, std::string(2049, 'x'));
  EXPECT_EQ(StatusOf(over.substr(0, 16)), S::kInvalid);
  EXPECT_EQ(StatusOf(V2(0x20, 0x00, std::string(0xffff, 'x'))), S::kInvalid);
}

TEST(ProxyProtocolTest, V1RefusesALongLine) {
  EXPECT_EQ(StatusOf("PROXY UNKNOWN " + std::string(91, 'x') + "\r\n"),
            S::kDone);  // 107 bytes
  EXPECT_EQ(StatusOf("PROXY UNKNOWN " + std::string(92, 'x') + "\r\n"),
            S::kInvalid);
  // Without a CRLF: refused as soon as it can no longer fit.
  EXPECT_EQ(StatusOf("PROXY UNKNOWN " + std::string(91, 'x')), S::kIncomplete);
  EXPECT_EQ(StatusOf("PROXY UNKNOWN " + std::string(91, 'x') + "\r"),
            S::kIncomplete);
  EXPECT_EQ(StatusOf("PROXY UNKNOWN " + std::string(92, 'x')), S::kInvalid);
  EXPECT_EQ(StatusOf("PROXY UNKNOWN " + std::string(200, 'x')), S::kInvalid);
}

TEST(ProxyProtocolTest, V1EndsOnlyAtCrlf) {
  for (const char* bad :
       {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nGET", "PROXY UNKNOWN\n\r\n",
        "PROXY UNKNOWN\r \r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
        "PROXY UNKNOWN\rX", "PROXY TCP4\n"}) {
    EXPECT_EQ(StatusOf(bad), S::kInvalid) << bad;
  }
}

TEST(ProxyProtocolTest, V1RefusesMalformedFields) {
  for (const char* bad : {
           "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 0443 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
           "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
           "PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
           "PROXY TCP6 192.168.0.1 ::1 1 2\r\n",
           "PROXY TCP6 ::1 192.168.0.1 1 2\r\n",
           "PROXY TCP6 ::1 ::g 1 2\r\n",
           "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
           "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY TCP4\r\n",
           "PROXY \r\n",
           "PROXY\r\n",
           "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY unknown\r\n",
       }) {
    EXPECT_EQ(StatusOf(bad), S::kInvalid) << bad;
  }
}

TEST(ProxyProtocolTest, V1RefusesAnAddressWithANul) {
  // inet_pton would stop at the NUL and take "1.2.3.4".
  const std::string v4("PROXY TCP4 1.2.3.4\0.9 5.6.7.8 1 2\r\n", 35);
  EXPECT_EQ(StatusOf(v4), S::kInvalid);
  const std::string v6("PROXY TCP6 ::1\0zz ::2 1 2\r\n", 27);
  EXPECT_EQ(StatusOf(v6), S::kInvalid);
  EXPECT_EQ(StatusOf(v6.substr(0, 15)), S::kInvalid);  // before the CRLF
}

TEST(ProxyProtocolTest, RefusesAsSoonAsItCannotBeAHeader) {
  const std::string_view refused[] = {
      "GET / HTTP/1.1\r\n",
      "G",  // differs from both starts already
      "PROXZ",
      "p",
      std::string_view("\r\n\r\n\0\r\nQUIX", 11),
      "\r\n\r\n\r",
      "PROXY TCP5",
      "PROXY X",
      "PROXY TCP4 1.2.3.x",
      "PROXY TCP4 1.2.3.4  ",
      "PROXY TCP4 1.2.3.4 5.6.7.8 65536",
      "PROXY TCP4 1.2.3.4 5.6.7.8 01",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r",  // the LF would end it too soon
  };
  for (std::string_view bad : refused) {
    EXPECT_EQ(StatusOf(bad), S::kInvalid) << bad;
  }
  for (const char* waiting :
       {"PROXY T", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", "PROXY UNKNOWN whatever"}) {
    EXPECT_EQ(StatusOf(waiting), S::kIncomplete) << waiting;
  }
}

TEST(ProxyProtocolTest, MakesNoAllocation) {
  std::vector<std::string> inputs = ValidHeaders();
  inputs.push_back("PROXY TCP6 ::1 ::2 1 2\r");
  inputs.push_back("GET / HTTP/1.1\r\n");
  const AllocationCounter counter;
  for (const std::string& input : inputs) ParseProxyHeader(input);
  EXPECT_EQ(counter.count(), 0);
}

}  // namespace
}  // namespace ferry

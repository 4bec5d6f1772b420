#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace ferry {
namespace {

// "2.2. Binary header format (version 2)": the constant 12-byte block (a NUL
// at the 5th byte: not a C string).
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr std::size_t kV2Fixed = 16;  // signature, ver_cmd, fam, len
// "2.1. Human-readable header format (Version 1)": "PROXY" and exactly one
// space, and the longest line a receiver must take, CRLF included.
constexpr std::string_view kV1Start = "PROXY ";
constexpr std::size_t kV1Max = 107;

ProxyHeader Invalid() { return {.status = ProxyStatus::kInvalid}; }
ProxyHeader Incomplete() { return {}; }
ProxyHeader Done(std::size_t length) {
  return {.status = ProxyStatus::kDone, .length = length};
}

// True when `input` starts with `start`, or is a prefix of it.
bool StartsLike(std::string_view input, std::string_view start) {
  return input.size() < start.size() ? start.starts_with(input)
                                     : input.starts_with(start);
}

// The client's address as a socket would give it: `address` (4 or 16 bytes
// by family) and `port`, both in network byte order.
sockaddr_storage SourceAddress(int family, const void* address,
                               const void* port) {
  sockaddr_storage storage{};
  if (family == AF_INET) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    std::memcpy(&in.sin_addr, address, sizeof in.sin_addr);
    std::memcpy(&in.sin_port, port, sizeof in.sin_port);
    std::memcpy(&storage, &in, sizeof in);
  } else {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    std::memcpy(&in6.sin6_addr, address, sizeof in6.sin6_addr);
    std::memcpy(&in6.sin6_port, port, sizeof in6.sin6_port);
    std::memcpy(&storage, &in6, sizeof in6);
  }
  return storage;
}

// An address field of a v1 line into `out` (room for an in6_addr); `whole`
// when the field has ended, else only what is there is judged: its bytes
// and its length.
bool ParseV1Address(std::string_view text, int family, bool whole, void* out) {
  char buffer[INET6_ADDRSTRLEN];
  const std::size_t most =
      (family == AF_INET ? INET_ADDRSTRLEN : INET6_ADDRSTRLEN) - 1;
  if (text.size() > most) return false;
  // GOTCHA: inet_pton reads a C string: a NUL inside would end it early and
  // let what follows through. Dotted decimal for TCP4; hex digits, ':' and
  // '.' (the "::ffff:a.b.c.d" form) for TCP6.
  for (char c : text) {
    const bool digit = c >= '0' && c <= '9';
    const bool hex = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!digit && c != '.' && (family == AF_INET || (!hex && c != ':'))) {
      return false;
    }
  }
  if (!whole) return true;
  text.copy(buffer, text.size());
  buffer[text.size()] = '\0';
  // glibc's inet_pton refuses heading zeroes in IPv4, as 2.1 asks.
  return inet_pton(family, buffer, out) == 1;
}

// A port field of a v1 line into `out` (network byte order); `whole` as for
// ParseV1Address. 2.1: decimal in [0..65535], no heading zeroes.
bool ParseV1Port(std::string_view text, bool whole, std::uint16_t* out) {
  if (text.empty()) return !whole;
  if (text.size() > 5 || (text[0] == '0' && text.size() > 1)) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 0xffff) return false;
  *out = htons(static_cast<std::uint16_t>(value));
  return true;
}

// The fields of a TCP4/TCP6 line after its protocol and space, 2.1's
// "src-addr SP dst-addr SP src-port SP dst-port" with exactly one space
// between; `whole` when `text` ends at the CRLF, else it may be a prefix.
// The source goes to `out`.
bool ParseV1Fields(std::string_view text, int family, bool whole,
                   sockaddr_storage* out) {
  std::array<std::string_view, 4> fields;
  std::size_t count = 0;
  for (;;) {
    if (count == fields.size()) return false;  // a fifth field
    const std::size_t space = text.find(' ');
    fields[count++] = text.substr(0, space);
    if (space == std::string_view::npos) break;
    text.remove_prefix(space + 1);
  }
  if (whole && count < fields.size()) return false;
  in6_addr source{};
  in6_addr destination{};
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const bool ended = whole || i + 1 < count;
    const bool ok = i == 0 ? ParseV1Address(fields[i], family, ended, &source)
                    : i == 1
                        ? ParseV1Address(fields[i], family, ended, &destination)
                    : i == 2 ? ParseV1Port(fields[i], ended, &source_port)
                             : ParseV1Port(fields[i], ended, &destination_port);
    if (!ok) return false;
  }
  if (whole) *out = SourceAddress(family, &source, &source_port);
  return true;
}

// "PROXY" SP and the rest of a line without its CRLF; `whole` when the CRLF
// follows, else it is a prefix of the line.
ProxyHeader ParseV1Line(std::string_view line, bool whole) {
  if (!line.starts_with(kV1Start)) {
    return whole ? Invalid() : Incomplete();
  }
  const std::string_view rest = line.substr(kV1Start.size());
  // 2.1: for "UNKNOWN" the receiver must ignore anything before the CRLF.
  if (rest.starts_with("UNKNOWN")) return whole ? Done(0) : Incomplete();
  constexpr std::size_t kProtocol = 5;  // "TCP4 " or "TCP6 "
  const int family = rest.starts_with("TCP4 ")   ? AF_INET
                     : rest.starts_with("TCP6 ") ? AF_INET6
                                                 : AF_UNSPEC;
  if (family == AF_UNSPEC) {
    const bool may_grow = std::string_view("TCP4 ").starts_with(rest) ||
                          std::string_view("TCP6 ").starts_with(rest) ||
                          std::string_view("UNKNOWN").starts_with(rest);
    return !whole && may_grow ? Incomplete() : Invalid();
  }
  ProxyHeader header = Done(0);
  if (!ParseV1Fields(rest.substr(kProtocol), family, whole, &header.source)) {
    return Invalid();
  }
  if (!whole) return Incomplete();
  header.has_address = true;
  return header;
}

// 2.1. Human-readable header format (Version 1): `input` starts with
// "PROXY " or is a prefix of it.
ProxyHeader ParseV1(std::string_view input) {
  const std::string_view window = input.substr(0, kV1Max);
  const std::size_t crlf = window.find("\r\n");
  if (crlf != std::string_view::npos) {
    // 2.1: "The receiver must not tolerate a single CR or LF character to
    // end the line": one before the CRLF makes the line invalid.
    const std::string_view line = window.substr(0, crlf);
    if (line.find_first_of("\r\n") != std::string_view::npos) return Invalid();
    ProxyHeader header = ParseV1Line(line, true);
    if (header.status == ProxyStatus::kDone) header.length = crlf + 2;
    return header;
  }
  // No CRLF yet: a CR at the end may be its first half, and then the line
  // is all there but for the LF.
  const bool cr_last = !window.empty() && window.back() == '\r';
  const std::string_view line =
      window.substr(0, window.size() - (cr_last ? 1 : 0));
  if (line.size() + 2 > kV1Max) return Invalid();  // CRLF not in 107 bytes
  if (line.find_first_of("\r\n") != std::string_view::npos) return Invalid();
  const ProxyHeader header = ParseV1Line(line, cr_last);
  return header.status == ProxyStatus::kInvalid ? header : Incomplete();
}

// 2.2. Binary header format (version 2): `input` starts with the signature.
ProxyHeader ParseV2(std::string_view input) {
  const auto byte = [input](std::size_t i) {
    return static_cast<unsigned char>(input[i]);
  };
  // The 13th byte: version 2 ("the receiver must only accept this value")
  // and command LOCAL (0) or PROXY (1) ("Receivers must drop connections
  // presenting unexpected values here").
  if (input.size() <= 12) return Incomplete();
  const unsigned version = byte(12) >> 4;
  const unsigned command = byte(12) & 0xf;
  if (version != 2 || command > 1) return Invalid();
  // The 14th byte: family and protocol, one of the combinations 2.2 lists
  // ("In practice, the following protocol bytes are expected"), each with
  // the size of its address block. LOCAL ignores it.
  if (input.size() <= 13) return Incomplete();
  const unsigned family = command == 0 ? 0x00 : byte(13);
  std::size_t block = 0;
  switch (family) {
    case 0x00:  // UNSPEC: the receiver should ignore address information
      break;
    case 0x11:  // TCP over IPv4: 2 * 4 + 2 * 2 bytes
    case 0x12:  // UDP over IPv4
      block = 12;
      break;
    case 0x21:  // TCP over IPv6: 2 * 16 + 2 * 2 bytes
    case 0x22:  // UDP over IPv6
      block = 36;
      break;
    case 0x31:  // UNIX stream: 2 * 108 bytes
    case 0x32:  // UNIX datagram
      block = 216;
      break;
    default:  // "must be rejected as invalid by receivers"
      return Invalid();
  }
  // The 15th and 16th bytes: the length of what follows, "the length of the
  // protocol header in bytes is always exactly 16 + this value".
  if (input.size() < kV2Fixed) return Incomplete();
  const std::size_t length = kV2Fixed + (std::size_t{byte(14)} << 8 | byte(15));
  if (length > kProxyHeaderMax || length - kV2Fixed < block) return Invalid();
  if (input.size() < length) return Incomplete();
  // Addresses: source, destination, source port, destination port; TLVs
  // after the block are skipped.
  ProxyHeader header = Done(length);
  const unsigned address_family = family >> 4;
  if (address_family == 1 || address_family == 2) {
    const std::size_t size = address_family == 1 ? 4 : 16;
    header.has_address = true;
    header.source = SourceAddress(address_family == 1 ? AF_INET : AF_INET6,
                                  input.data() + kV2Fixed,
                                  input.data() + kV2Fixed + 2 * size);
  }
  return header;
}

}  // namespace

ProxyHeader ParseProxyHeader(std::string_view input) {
  // "Identifying the protocol version" (2.2): the v2 signature or "PROXY";
  // anything else is not covered by the spec and the connection is dropped.
  if (StartsLike(input, kV2Signature)) return ParseV2(input);
  if (StartsLike(input, kV1Start)) return ParseV1(input);
  return Invalid();
}

}  // namespace ferry

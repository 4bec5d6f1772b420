#include "address_list.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <stdexcept>

namespace ferry {
namespace {

/// The first `bits` bits of `a` and `b` are equal.
bool PrefixMatches(const std::uint8_t* a, const std::uint8_t* b,
                   unsigned bits) {
  unsigned whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

AddressList AddressList::Parse(const std::string& text) {
  AddressList list;
  if (text == "any") {
    list.any_ = true;
    return list;
  }
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = text.find(',', start);
    std::string entry = text.substr(start, comma - start);
    std::size_t slash = entry.find('/');
    sockaddr_storage host{};
    if (!ParseAddressLiteral(std::string_view(entry).substr(0, slash), &host)) {
      throw std::invalid_argument(entry);
    }
    Network network;
    network.family = host.ss_family;
    unsigned max_bits = 32;
    if (host.ss_family == AF_INET) {
      std::memcpy(network.bytes.data(),
                  &reinterpret_cast<const sockaddr_in&>(host).sin_addr, 4);
    } else {
      std::memcpy(network.bytes.data(),
                  &reinterpret_cast<const sockaddr_in6&>(host).sin6_addr, 16);
      max_bits = 128;
    }
    network.bits = max_bits;
    if (slash != std::string::npos) {
      const std::string bits = entry.substr(slash + 1);
      if (bits.empty() || bits.size() > 3 ||
          bits.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(bits) > max_bits) {
        throw std::invalid_argument(entry);
      }
      network.bits = static_cast<unsigned>(std::stoul(bits));
    }
    list.networks_.push_back(network);
    if (comma == std::string::npos) return list;
    start = comma + 1;
  }
}

bool AddressList::Contains(const sockaddr_storage& address) const {
  if (any_) return true;
  int family = address.ss_family;
  const std::uint8_t* bytes = nullptr;
  if (family == AF_INET) {
    bytes = reinterpret_cast<const std::uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr);
  } else if (family == AF_INET6) {
    const in6_addr& v6 =
        reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr;
    bytes = v6.s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      family = AF_INET;
      bytes += 12;
    }
  } else {
    return false;
  }
  for (const Network& network : networks_) {
    if (network.family == family &&
        PrefixMatches(network.bytes.data(), bytes, network.bits)) {
      return true;
    }
  }
  return false;
}

std::string_view AddressText(const sockaddr_storage& address) {
  thread_local char text[INET6_ADDRSTRLEN];
  const void* bytes = nullptr;
  if (address.ss_family == AF_INET) {
    bytes = &reinterpret_cast<const sockaddr_in&>(address).sin_addr;
  } else if (address.ss_family == AF_INET6) {
    bytes = &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr;
  } else {
    return "unix";
  }
  return inet_ntop(address.ss_family, bytes, text, sizeof text) ? text : "-";
}

bool ParseAddressLiteral(std::string_view text, sockaddr_storage* address) {
  // inet_pton wants a terminated string, and would stop at a NUL inside.
  char copy[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof copy ||
      text.find('\0') != std::string_view::npos) {
    return false;
  }
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  sockaddr_storage parsed{};
  if (inet_pton(AF_INET, copy,
                &reinterpret_cast<sockaddr_in&>(parsed).sin_addr) == 1) {
    parsed.ss_family = AF_INET;
  } else if (inet_pton(AF_INET6, copy,
                       &reinterpret_cast<sockaddr_in6&>(parsed).sin6_addr) ==
             1) {
    parsed.ss_family = AF_INET6;
  } else {
    return false;
  }
  *address = parsed;
  return true;
}

}  // namespace ferry

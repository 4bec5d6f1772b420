// ParseProxyHeader on any bytes: the length stays within the input and the
// cap; a header is the same parsed alone as with what follows it; a verdict
// (kDone or kInvalid) on a prefix is not changed by more bytes; an address
// is IPv4 or IPv6.
// Input: the bytes a connection received first.

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "fuzz_check.h"
#include "proxy_protocol.h"

namespace {

using ferry::ProxyHeader;
using ferry::ProxyStatus;

bool Same(const ProxyHeader& a, const ProxyHeader& b) {
  return a.status == b.status && a.length == b.length &&
         a.has_address == b.has_address &&
         std::memcmp(&a.source, &b.source, sizeof a.source) == 0;
}

bool IsZero(const sockaddr_storage& storage) {
  static const sockaddr_storage kZero{};
  return std::memcmp(&storage, &kZero, sizeof storage) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const ProxyHeader header = ferry::ParseProxyHeader(input);
  FUZZ_CHECK(header.length <= input.size());
  FUZZ_CHECK(header.length <= ferry::kProxyHeaderMax);
  if (header.status == ProxyStatus::kDone) {
    // 2.2: a v2 header is at least 16 bytes, a v1 line at least 8.
    FUZZ_CHECK(header.length >= (input[0] == 'P' ? 8u : 16u));
    FUZZ_CHECK(
        Same(ferry::ParseProxyHeader(input.substr(0, header.length)), header));
  } else {
    FUZZ_CHECK(header.length == 0 && !header.has_address);
  }
  if (header.status == ProxyStatus::kIncomplete) {
    FUZZ_CHECK(input.size() < ferry::kProxyHeaderMax);
  }
  if (header.has_address) {
    FUZZ_CHECK(header.source.ss_family == AF_INET ||
               header.source.ss_family == AF_INET6);
  } else {
    FUZZ_CHECK(IsZero(header.source));
  }
  // A verdict on a prefix stands whatever follows it.
  if (size > 0) {
    for (const std::size_t k : {size - 1, size / 2, data[0] % size}) {
      const ProxyHeader prefix = ferry::ParseProxyHeader(input.substr(0, k));
      if (prefix.status != ProxyStatus::kIncomplete) {
        FUZZ_CHECK(Same(prefix, header));
      }
    }
  }
  return 0;
}

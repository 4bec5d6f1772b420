// The syntax of option values: sizes, durations and listening addresses,
// parsed and printed.

#include <arpa/inet.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <utility>

#include "config.h"

namespace ferry {
namespace {

constexpr const char* kListenForms =
    "HOST:PORT, [IPV6]:PORT, :PORT, PORT or unix:PATH";

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return text;
}

/// Splits "123abc" into 123 and "abc"; throws when there are no digits or
/// the number overflows.
std::pair<std::uint64_t, std::string> SplitNumber(const std::string& text) {
  std::uint64_t value = 0;
  std::size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const unsigned digit = text[i] - '0';
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      throw std::invalid_argument("number too large: " + text);
    }
    value = value * 10 + digit;
  }
  if (i == 0) throw std::invalid_argument("not a number: " + text);
  return {value, Lower(text.substr(i))};
}

std::uint64_t Scale(std::uint64_t value, std::uint64_t unit,
                    const std::string& text) {
  if (value > std::numeric_limits<std::uint64_t>::max() / unit) {
    throw std::invalid_argument("too large: " + text);
  }
  return value * unit;
}

}  // namespace

std::string FormatByteSize(std::uint64_t bytes) {
  for (auto [unit, suffix] : {std::pair{kGiB, "G"}, {kMiB, "M"}, {kKiB, "K"}}) {
    if (bytes != 0 && bytes % unit == 0) {
      return std::to_string(bytes / unit) + suffix;
    }
  }
  return std::to_string(bytes);
}

unsigned WorkerCount(const Config& config) {
  if (config.workers != 0) return config.workers;
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<unsigned>(online) : 1;
}

std::uint64_t HotCacheBytes(const Config& config) {
  if (config.hot_cache != Config::kHotCacheAuto) return config.hot_cache;
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<std::uint64_t>(pages) *
         static_cast<std::uint64_t>(page_size) / 8;
}

std::string FormatDuration(Milliseconds time) {
  const auto ms = time.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

const ListenAddress* HttpsRedirectTarget(const Config& config) {
  for (const ListenAddress& address : config.ssl) {
    if (address.kind == ListenAddress::Kind::kInet) return &address;
  }
  return nullptr;
}

ListenAddress ParseListenAddress(const std::string& text) {
  ListenAddress address;
  address.text = text;
  auto fail = [&](const std::string& problem) {
    throw ConfigError("--listen: '" + text + "' " + problem);
  };
  if (text.rfind("unix:", 0) == 0) {
    address.kind = ListenAddress::Kind::kUnix;
    address.path = text.substr(5);
    if (address.path.empty()) fail("has no socket path after 'unix:'");
    if (address.path.size() >= sizeof(sockaddr_un::sun_path)) {
      fail("has a socket path longer than " +
           std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    }
    return address;
  }
  std::string port = text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string::npos) fail(std::string("is not ") + kListenForms);
    address.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr v6;
    if (inet_pton(AF_INET6, address.host.c_str(), &v6) != 1) {
      fail("has no IPv6 address in brackets (names are not resolved)");
    }
  } else if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    address.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    in_addr v4;
    if (address.host.find(':') != std::string::npos) {
      fail("needs brackets around an IPv6 address, as in [::1]:8080");
    }
    if (!address.host.empty() &&
        inet_pton(AF_INET, address.host.c_str(), &v4) != 1) {
      fail("has no IPv4 address before the port (names are not resolved)");
    }
  }
  const bool digits = !port.empty() && port.size() <= 5 &&
                      std::all_of(port.begin(), port.end(),
                                  [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoul(port) > 65535) {
    fail("has no port from 0 to 65535 (forms: " + std::string(kListenForms) +
         ")");
  }
  address.port = static_cast<std::uint16_t>(std::stoul(port));
  return address;
}

std::uint64_t ParseCount(const std::string& text) {
  auto [value, rest] = SplitNumber(text);
  if (!rest.empty()) throw std::invalid_argument("not a number: " + text);
  return value;
}

std::uint64_t ParseByteSize(const std::string& text) {
  auto [value, unit] = SplitNumber(text);
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  if (unit.empty()) return value;
  if (unit == "k") return Scale(value, kKiB, text);
  if (unit == "m") return Scale(value, kMiB, text);
  if (unit == "g") return Scale(value, kGiB, text);
  throw std::invalid_argument("not a size: " + text);
}

Milliseconds ParseDuration(const std::string& text) {
  auto [value, unit] = SplitNumber(text);
  std::uint64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit.empty() || unit == "s") {
    scale = 1'000;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    throw std::invalid_argument("not a duration: " + text);
  }
  const std::uint64_t ms = Scale(value, scale, text);
  // Deadlines are "now + duration" in milliseconds: a bound far below the
  // type's keeps that sum from overflowing (it once wrapped to 0.43 s).
  if (ms > static_cast<std::uint64_t>(kMaxDuration.count())) {
    throw std::invalid_argument("too long: " + text);
  }
  return Milliseconds(static_cast<Milliseconds::rep>(ms));
}

}  // namespace ferry

#include "http_boundary.h"

#include <sys/auxv.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace ferry {
namespace {

std::uint64_t Rotate(std::uint64_t v, int bits) {
  return (v << bits) | (v >> (64 - bits));
}

void SipRound(std::uint64_t* v) {
  v[0] += v[1];
  v[1] = Rotate(v[1], 13) ^ v[0];
  v[0] = Rotate(v[0], 32);
  v[2] += v[3];
  v[3] = Rotate(v[3], 16) ^ v[2];
  v[0] += v[3];
  v[3] = Rotate(v[3], 21) ^ v[0];
  v[2] += v[1];
  v[1] = Rotate(v[1], 17) ^ v[2];
  v[2] = Rotate(v[2], 32);
}

// SipHash-2-4 of the 8-byte little-endian message `m` under key (k0, k1).
std::uint64_t SipHash(std::uint64_t k0, std::uint64_t k1, std::uint64_t m) {
  std::uint64_t v[4] = {k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                        k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
  const std::uint64_t last = std::uint64_t{8} << 56;  // the length byte
  for (std::uint64_t word : {m, last}) {
    v[3] ^= word;
    SipRound(v);
    SipRound(v);
    v[0] ^= word;
  }
  v[2] ^= 0xff;
  for (int i = 0; i < 4; ++i) SipRound(v);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

struct BoundaryKey {
  std::uint64_t k[2] = {};
  std::uint64_t counter = 0;
  bool ready = false;
};

// GOTCHA: getrandom(GRND_NONBLOCK) fails with EAGAIN until the kernel's
// pool is initialised (early boot; getrandom(2)). The AT_RANDOM bytes the
// kernel gives every process at exec are random then too; the clock, the
// pid and the key's (per-thread) address keep threads and workers apart.
void Seed(BoundaryKey* key) {
  if (getrandom(key->k, sizeof key->k, GRND_NONBLOCK) !=
      static_cast<ssize_t>(sizeof key->k)) {
    // getauxval() hands the address over as an integer.
    const auto* at_random = reinterpret_cast<const unsigned char*>(  // NOLINT
        getauxval(AT_RANDOM));
    if (at_random != nullptr) std::memcpy(key->k, at_random, sizeof key->k);
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    key->k[0] ^= static_cast<std::uint64_t>(now.tv_nsec) ^
                 reinterpret_cast<std::uintptr_t>(key);
    key->k[1] ^= static_cast<std::uint64_t>(now.tv_sec) ^
                 static_cast<std::uint64_t>(getpid());
  }
  key->ready = true;
}

}  // namespace

std::string_view MakeBoundary(char* out) {
  // Per thread, seeded lazily: a worker forked from the master draws its
  // own key, and threads never share a counter.
  thread_local BoundaryKey key;
  if (!key.ready) Seed(&key);
  const std::uint64_t n = key.counter++;
  const std::uint64_t high = SipHash(key.k[0], key.k[1], 2 * n);
  const std::uint64_t low = SipHash(key.k[0], key.k[1], 2 * n + 1);
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < 16; ++i) {
    out[i] = kHex[(high >> (60 - 4 * i)) & 0xf];
  }
  for (std::size_t i = 16; i < kBoundaryLength; ++i) {
    out[i] = kHex[(low >> (4 * (i - 16))) & 0xf];
  }
  out[kBoundaryLength] = '\0';
  return std::string_view(out, kBoundaryLength);
}

}  // namespace ferry

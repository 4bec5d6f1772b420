#pragma once
// Accept-Encoding (RFC 9110 section 12.5.3) and the precompressed variants
// it selects: which of the operator's codings (--precompressed) to try for
// a request, in which order.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ferry {

/// A content coding ferryd can serve from a file beside the original.
enum class ContentCoding : std::uint8_t { kIdentity, kBrotli, kZstd, kGzip };

/// "br", "zstd", "gzip" (the Content-Encoding value); "" for kIdentity.
std::string_view CodingName(ContentCoding coding);
/// ".br", ".zst", ".gz": what the variant's file name adds to the
/// original's; "" for kIdentity.
std::string_view CodingSuffix(ContentCoding coding);
/// "br", "zstd" or "gzip" (lower case, as --precompressed takes them), or
/// nothing.
std::optional<ContentCoding> CodingNamed(std::string_view name);

/// Up to one of each coding, in order.
struct CodingList {
  std::array<ContentCoding, 3> codings{};
  std::size_t size = 0;

  void Add(ContentCoding coding) { codings[size++] = coding; }
  bool empty() const { return size == 0; }
  const ContentCoding* begin() const { return codings.data(); }
  const ContentCoding* end() const { return codings.data() + size; }
  ContentCoding operator[](std::size_t i) const { return codings[i]; }
  /// The codings as a set: bit 1 << coding for each.
  std::uint8_t mask() const {
    std::uint8_t bits = 0;
    for (ContentCoding coding : *this) bits |= CodingBit(coding);
    return bits;
  }
  static std::uint8_t CodingBit(ContentCoding coding) {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(coding));
  }
};

/// What a client's Accept-Encoding says, as weights in thousandths
/// (q=0.5 is 500), or kUnnamed for a coding it does not name.
struct AcceptEncoding {
  static constexpr int kUnnamed = -1;
  int brotli = kUnnamed;
  int zstd = kUnnamed;
  int gzip = kUnnamed;  ///< also "x-gzip" (RFC 9110 section 8.4.1.3)
  int identity = kUnnamed;
  int any = kUnnamed;  ///< "*"

  /// The weight of `coding`: its own if named, else that of "*", else 0
  /// (not acceptable). For kIdentity, its own or kUnnamed.
  int WeightOf(ContentCoding coding) const;
};

/// Parses an Accept-Encoding value: members "coding[;q=W]" separated by
/// commas, names case-insensitive. A malformed member (not a token or "*",
/// a parameter other than a valid q) is ignored; a coding named twice keeps
/// its lowest weight (a refusal anywhere refuses). Never fails.
AcceptEncoding ParseAcceptEncoding(std::string_view value);

/// The codings of `offered` (the operator's order) worth trying for a
/// request with `accept_encoding` (empty when absent or empty: none): those
/// of weight > 0, highest weight first, ties in `offered`'s order, and none
/// of lower weight than an explicitly named "identity".
CodingList ChooseCodings(std::string_view accept_encoding,
                         const CodingList& offered);

}  // namespace ferry

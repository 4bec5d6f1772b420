// ParseAcceptEncoding and ChooseCodings on any bytes: weights stay in
// range, the choice is a subset of what is offered, ordered by weight with
// the offer's order for ties, above an explicit identity's weight, and the
// same whatever the case of the letters.
// Input: the first byte picks the offer (order and subset), the rest is
// the field's value.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "accept_encoding.h"
#include "fuzz_check.h"

namespace {

using ferry::AcceptEncoding;
using ferry::CodingList;
using ferry::ContentCoding;

CodingList Offer(std::uint8_t pick) {
  static constexpr ContentCoding kAll[3] = {
      ContentCoding::kBrotli, ContentCoding::kZstd, ContentCoding::kGzip};
  static constexpr int kOrders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                        {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  CodingList offer;
  const int* order = kOrders[pick % 6];
  const std::size_t count = (pick / 6) % 4;  // 0 to 3 codings
  for (std::size_t i = 0; i < count; ++i) offer.Add(kAll[order[i]]);
  return offer;
}

bool InRange(int weight) {
  return weight == AcceptEncoding::kUnnamed || (weight >= 0 && weight <= 1000);
}

std::size_t Position(const CodingList& list, ContentCoding coding) {
  for (std::size_t i = 0; i < list.size; ++i) {
    if (list[i] == coding) return i;
  }
  return list.size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0) return 0;
  const CodingList offer = Offer(data[0]);
  const std::string_view value(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  const AcceptEncoding accept = ferry::ParseAcceptEncoding(value);
  FUZZ_CHECK(InRange(accept.brotli) && InRange(accept.zstd) &&
             InRange(accept.gzip) && InRange(accept.identity) &&
             InRange(accept.any));

  const CodingList chosen = ferry::ChooseCodings(value, offer);
  FUZZ_CHECK(chosen.size <= offer.size);
  for (std::size_t i = 0; i < chosen.size; ++i) {
    const ContentCoding coding = chosen[i];
    FUZZ_CHECK(Position(offer, coding) < offer.size);  // offered
    FUZZ_CHECK(Position(chosen, coding) == i);         // once
    const int weight = accept.WeightOf(coding);
    FUZZ_CHECK(weight > 0 && weight >= accept.identity);
    if (i > 0) {
      const int before = accept.WeightOf(chosen[i - 1]);
      FUZZ_CHECK(before >= weight);
      if (before == weight) {
        FUZZ_CHECK(Position(offer, chosen[i - 1]) < Position(offer, coding));
      }
    }
  }
  // Every acceptable offered coding is chosen.
  for (ContentCoding coding : offer) {
    const int weight = accept.WeightOf(coding);
    if (!value.empty() && weight > 0 && weight >= accept.identity) {
      FUZZ_CHECK(Position(chosen, coding) < chosen.size);
    }
  }
  // Names and "q" are case-insensitive: upper case changes nothing.
  std::string upper(value);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  const CodingList same = ferry::ChooseCodings(upper, offer);
  FUZZ_CHECK(same.size == chosen.size);
  for (std::size_t i = 0; i < same.size; ++i) FUZZ_CHECK(same[i] == chosen[i]);
  return 0;
}

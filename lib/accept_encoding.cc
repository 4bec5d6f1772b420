#include "accept_encoding.h"

#include <algorithm>

#include "http_syntax.h"

namespace ferry {
namespace {

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in
// thousandths; -1 when malformed.
int ParseQvalue(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return -1;
  int value = text[0] == '1' ? 1000 : 0;
  if (text.size() == 1) return value;
  if (text[1] != '.' || text.size() > 5) return -1;
  int scale = 100;
  for (char c : text.substr(2)) {
    if (c < '0' || c > '9') return -1;
    value += (c - '0') * scale;
    scale /= 10;
  }
  return value <= 1000 ? value : -1;
}

// One member "coding *( OWS ; OWS param )": its name and weight, or false
// when malformed.
bool ParseMember(std::string_view member, std::string_view* name, int* weight) {
  std::size_t semi = member.find(';');
  *name = TrimOws(member.substr(0, semi));
  if (name->empty()) return false;
  for (char c : *name) {
    if (!IsTchar(static_cast<unsigned char>(c))) return false;
  }
  *weight = 1000;
  while (semi != std::string_view::npos) {
    member.remove_prefix(semi + 1);
    semi = member.find(';');
    std::string_view param = TrimOws(member.substr(0, semi));
    if (param.size() < 2 || ToLowerAscii(param[0]) != 'q' || param[1] != '=') {
      return false;  // weight is the only parameter RFC 9110 defines here
    }
    *weight = ParseQvalue(param.substr(2));
    if (*weight < 0) return false;
  }
  return true;
}

void Keep(int weight, int* slot) {
  *slot = *slot == AcceptEncoding::kUnnamed ? weight : std::min(*slot, weight);
}

}  // namespace

std::string_view CodingName(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kBrotli:
      return "br";
    case ContentCoding::kZstd:
      return "zstd";
    case ContentCoding::kGzip:
      return "gzip";
    case ContentCoding::kIdentity:
      break;
  }
  return "";
}

std::string_view CodingSuffix(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kBrotli:
      return ".br";
    case ContentCoding::kZstd:
      return ".zst";
    case ContentCoding::kGzip:
      return ".gz";
    case ContentCoding::kIdentity:
      break;
  }
  return "";
}

std::optional<ContentCoding> CodingNamed(std::string_view name) {
  for (ContentCoding coding :
       {ContentCoding::kBrotli, ContentCoding::kZstd, ContentCoding::kGzip}) {
    if (name == CodingName(coding)) return coding;
  }
  return std::nullopt;
}

int AcceptEncoding::WeightOf(ContentCoding coding) const {
  int own = kUnnamed;
  switch (coding) {
    case ContentCoding::kBrotli:
      own = brotli;
      break;
    case ContentCoding::kZstd:
      own = zstd;
      break;
    case ContentCoding::kGzip:
      own = gzip;
      break;
    case ContentCoding::kIdentity:
      return identity;
  }
  if (own != kUnnamed) return own;
  return any != kUnnamed ? any : 0;
}

AcceptEncoding ParseAcceptEncoding(std::string_view value) {
  AcceptEncoding accept;
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view member = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view()
                                            : value.substr(comma + 1);
    std::string_view name;
    int weight = 0;
    if (!ParseMember(member, &name, &weight)) continue;
    if (EqualsLower(name, "br")) {
      Keep(weight, &accept.brotli);
    } else if (EqualsLower(name, "zstd")) {
      Keep(weight, &accept.zstd);
    } else if (EqualsLower(name, "gzip") || EqualsLower(name, "x-gzip")) {
      Keep(weight, &accept.gzip);
    } else if (EqualsLower(name, "identity")) {
      Keep(weight, &accept.identity);
    } else if (name == "*") {
      Keep(weight, &accept.any);
    }
  }
  return accept;
}

CodingList ChooseCodings(std::string_view accept_encoding,
                         const CodingList& offered) {
  CodingList chosen;
  if (offered.empty() || accept_encoding.empty()) return chosen;
  const AcceptEncoding accept = ParseAcceptEncoding(accept_encoding);
  std::array<int, 3> weights{};
  for (ContentCoding coding : offered) {
    const int weight = accept.WeightOf(coding);
    // An identity the client prefers outright beats a variant; one of equal
    // weight does not (the variant is the smaller transfer).
    if (weight > 0 && weight >= accept.identity) {
      weights[chosen.size] = weight;
      chosen.Add(coding);
    }
  }
  // A stable insertion sort on three entries: highest weight first.
  for (std::size_t i = 1; i < chosen.size; ++i) {
    for (std::size_t j = i; j > 0 && weights[j] > weights[j - 1]; --j) {
      std::swap(weights[j], weights[j - 1]);
      std::swap(chosen.codings[j], chosen.codings[j - 1]);
    }
  }
  return chosen;
}

}  // namespace ferry

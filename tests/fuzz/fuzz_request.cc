// ParseRequest with limits taken from the input: bytes 0..2 set
// max_request_line (32 * b0), max_header_bytes (64 * b1) and max_headers
// (b2); the rest is what the client sent ("~~~" is 4032/8064/126).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "http_request.h"

namespace {

using ferry::ParseRequest;
using ferry::ParseResult;
using ferry::Request;
using ferry::RequestLimits;
using Kind = ParseResult::Kind;

bool Inside(std::string_view view, std::string_view text) {
  return view.data() >= text.data() &&
         view.data() + view.size() <= text.data() + text.size();
}

/// A view the parser returned either lies inside the input, or in `joined`
/// (a list field of several lines), or is the parser's "invalid"
/// placeholder for a repeated field.
bool InsideOrInvalid(std::string_view view, std::string_view input,
                     std::string_view joined = {}) {
  if (view.data() == nullptr) return view.empty();
  if (view == "invalid") return true;
  return Inside(view, input) || (!joined.empty() && Inside(view, joined));
}

/// RFC 3986 uri-host [":" port], checked differently from the parser: no
/// byte outside the URI characters a host may use, brackets only around an
/// IP-literal at the start, digits only after the last ':' outside them.
bool LooksLikeHost(std::string_view host) {
  if (host.empty()) return false;
  if (host.find_first_of(" \t/?#@\"<>\\^`{|}") != std::string_view::npos) {
    return false;
  }
  std::string_view rest = host;
  if (host[0] == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    rest = host.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return false;
  } else if (host.find_first_of("[]") != std::string_view::npos) {
    return false;
  }
  const std::size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return host[0] != '[' || rest.empty();
  if (colon == 0 && host[0] != '[') return false;  // no name before it
  return rest.substr(colon + 1).find_first_not_of("0123456789") ==
         std::string_view::npos;
}

bool HasLineBreak(std::string_view view) {
  return view.find_first_of("\r\n") != std::string_view::npos;
}

void CheckPath(std::string_view path) {
  FUZZ_CHECK(path.find('\0') == std::string_view::npos);
  FUZZ_CHECK(path.empty() || (path.front() != '/' && path.back() != '/'));
  FUZZ_CHECK(path.find("//") == std::string_view::npos);
  std::size_t start = 0;
  while (start <= path.size() && !path.empty()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    FUZZ_CHECK(segment != ".." && segment != ".");
    start = end + 1;
  }
}

void CheckDone(std::string_view input, const RequestLimits& limits,
               const ParseResult& result, const Request& r) {
  FUZZ_CHECK(result.consumed > 0 && result.consumed <= input.size());
  FUZZ_CHECK(result.consumed <= limits.max_header_bytes);
  FUZZ_CHECK(r.version_minor == 0 || r.version_minor == 1);
  CheckPath(r.path);
  const std::string_view head = input.substr(0, result.consumed);
  for (std::string_view view :
       {r.raw_path, r.query, r.host, r.range, r.if_modified_since,
        r.if_unmodified_since, r.if_range}) {
    FUZZ_CHECK(InsideOrInvalid(view, head));
    FUZZ_CHECK(!HasLineBreak(view));
  }
  FUZZ_CHECK(InsideOrInvalid(r.origin, head));
  FUZZ_CHECK(InsideOrInvalid(r.access_control_request_method, head));
  FUZZ_CHECK(InsideOrInvalid(r.access_control_request_headers, head,
                             r.joined_access_control_request_headers));
  FUZZ_CHECK(!HasLineBreak(r.origin) &&
             !HasLineBreak(r.access_control_request_headers));
  // "*" is OPTIONS's alone, and names no path.
  FUZZ_CHECK(!r.asterisk_form ||
             (r.method == ferry::Method::kOptions && r.path.empty()));
  FUZZ_CHECK(InsideOrInvalid(r.if_match, head, r.joined_if_match));
  FUZZ_CHECK(InsideOrInvalid(r.if_none_match, head, r.joined_if_none_match));
  FUZZ_CHECK(!HasLineBreak(r.if_match) && !HasLineBreak(r.if_none_match));
  // A host served is a valid one; HTTP/1.1 always has one.
  FUZZ_CHECK(r.host.empty() ? r.version_minor == 0 : LooksLikeHost(r.host));
  FUZZ_CHECK(r.host.empty() || ferry::IsValidHost(r.host));
  FUZZ_CHECK(r.raw_path.find_first_of(" ?#") == std::string_view::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size < 3) return 0;
  RequestLimits limits;
  limits.max_request_line = 32u * data[0];
  limits.max_header_bytes = 64u * data[1];
  limits.max_headers = data[2];
  const std::string_view input(reinterpret_cast<const char*>(data) + 3,
                               size - 3);

  Request request;
  const ParseResult result = ParseRequest(input, limits, &request);
  switch (result.kind) {
    case Kind::kIncomplete:
      FUZZ_CHECK(result.consumed == 0);
      // The connection waits for more only while the head may still fit.
      FUZZ_CHECK(input.size() < limits.max_header_bytes);
      break;
    case Kind::kError:
      FUZZ_CHECK(result.status == 400 || result.status == 405 ||
                 result.status == 414 || result.status == 431 ||
                 result.status == 501 || result.status == 505);
      // 405 comes only after the whole head, framing judged.
      if (result.status == 405) {
        FUZZ_CHECK(input.find("\n\r\n") != std::string_view::npos ||
                   input.find("\n\n") != std::string_view::npos);
      }
      break;
    case Kind::kDone: {
      CheckDone(input, limits, result, request);
      // The connection re-parses its buffer as bytes arrive: every proper
      // prefix of a complete head must be incomplete, and the head alone
      // must parse the same. `again` is reused, as a connection does.
      Request again;
      const std::size_t n = result.consumed;
      const ParseResult whole =
          ParseRequest(input.substr(0, n), limits, &again);
      FUZZ_CHECK(whole.kind == Kind::kDone && whole.consumed == n);
      FUZZ_CHECK(again.path == request.path);
      for (std::size_t k : {n - 1, n / 2, n * 7 / 8}) {
        const ParseResult part =
            ParseRequest(input.substr(0, k), limits, &again);
        FUZZ_CHECK(part.kind == Kind::kIncomplete);
      }
      break;
    }
  }
  return 0;
}

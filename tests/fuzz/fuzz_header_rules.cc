// ParseHeaderRule and ParseCorsRule on any text, then the rules they make
// composed for a path and a request: a rule either throws ConfigError or
// yields fields that cannot split a response (every field one line of
// "Name: value", no CR, LF or NUL inside).
//
// Input: a first byte choosing the parser, then "RULE\nPATH\nORIGIN".

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "header_rules.h"

namespace {

std::string_view Line(std::string_view* rest) {
  const std::size_t lf = rest->find('\n');
  const std::string_view line = rest->substr(0, lf);
  *rest =
      lf == std::string_view::npos ? std::string_view() : rest->substr(lf + 1);
  return line;
}

// Every line of `fields` is "token: value" ending in CRLF, with no other
// CR, LF or NUL.
void CheckFields(std::string_view fields) {
  while (!fields.empty()) {
    const std::size_t end = fields.find("\r\n");
    FUZZ_CHECK(end != std::string_view::npos);
    const std::string_view line = fields.substr(0, end);
    FUZZ_CHECK(line.find_first_of(std::string_view("\r\n\0", 3)) ==
               std::string_view::npos);
    const std::size_t colon = line.find(": ");
    FUZZ_CHECK(colon != std::string_view::npos && colon > 0);
    fields.remove_prefix(end + 2);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size < 1) return 0;
  const bool cors = data[0] & 1;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string_view rule = Line(&rest);
  const std::string_view path = Line(&rest);
  const std::string_view origin = Line(&rest);

  ferry::Config config;
  try {
    if (cors) {
      const ferry::CorsRule parsed = ferry::ParseCorsRule(rule);
      FUZZ_CHECK(parsed.any_origin != !parsed.origins.empty());
      for (const std::string& allowed : parsed.origins) {
        FUZZ_CHECK(ferry::CheckFieldValue(allowed).empty());
        FUZZ_CHECK(allowed.find("://") != std::string::npos);
      }
      config.cors.emplace_back(rule);
    } else {
      const ferry::HeaderRule parsed = ferry::ParseHeaderRule(rule);
      FUZZ_CHECK(ferry::IsTokenList(parsed.name));
      FUZZ_CHECK(parsed.name.find(',') == std::string::npos);
      FUZZ_CHECK(ferry::CheckFieldValue(parsed.value).empty());
      config.headers.emplace_back(rule);
    }
  } catch (const ferry::ConfigError& e) {
    const std::string_view message = e.what();
    FUZZ_CHECK(message.rfind(cors ? "--cors: " : "--header: ", 0) == 0);
    return 0;
  }
  const ferry::HeaderRules rules = ferry::HeaderRules::From(config);
  std::string fields;
  rules.AppendHeaders(path, /*tls=*/true, &fields);
  // Over plain HTTP the same rules less Strict-Transport-Security.
  std::string plain;
  rules.AppendHeaders(path, /*tls=*/false, &plain);
  FUZZ_CHECK(plain.size() <= fields.size());
  // The request's own views only come from a parsed head: no line breaks.
  if (origin.find_first_of("\r\n") == std::string_view::npos) {
    rules.AppendCors(path, origin, &fields);
    ferry::Request request;
    request.method = ferry::Method::kOptions;
    request.origin = origin;
    request.access_control_request_method = "GET";
    request.access_control_request_headers = origin;
    rules.AppendOptions(path, request, &fields);
  }
  CheckFields(fields);
  return 0;
}

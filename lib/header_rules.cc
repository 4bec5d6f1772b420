#include "header_rules.h"

#include "http_syntax.h"

namespace ferry {
namespace {

constexpr std::string_view kCrlf = "\r\n";
/// What range-reading JavaScript needs to see of a response.
constexpr std::string_view kExposed =
    "Access-Control-Expose-Headers: Content-Range, Accept-Ranges, "
    "Content-Length, ETag\r\n";
constexpr std::string_view kAllow = "Allow: GET, HEAD, OPTIONS\r\n";
/// A day: browsers cap it (Chromium at 2 hours, Firefox at 24).
constexpr std::string_view kMaxAge = "Access-Control-Max-Age: 86400\r\n";

/// The fields ferryd writes itself, and what to say instead.
struct Reserved {
  std::string_view name;  // lower case
  std::string_view why;
};
constexpr Reserved kReserved[] = {
    {"content-length", "is set by ferryd for each response"},
    {"content-range", "is set by ferryd for each response"},
    {"transfer-encoding", "is set by ferryd for each response"},
    {"connection", "is set by ferryd for each response"},
    {"date", "is set by ferryd for each response"},
    {"content-type", "is set by ferryd from the file name: use --mime-types"},
    {"etag", "is set by ferryd from the file"},
    {"last-modified", "is set by ferryd from the file"},
    {"accept-ranges", "is set by ferryd from the file"},
    {"content-encoding", "is set by ferryd for the file it sends"},
    {"vary", "is set by ferryd (Vary: Origin comes with --cors)"},
    {"location", "is set by ferryd on its redirects"},
    {"allow", "is set by ferryd (GET, HEAD, OPTIONS)"},
    {"server", "is set with --server-header"},
};

std::string Quoted(std::string_view text) {
  return "'" + PrintableText(text) + "'";
}

[[noreturn]] void Fail(const char* flag, std::string_view text,
                       const std::string& problem) {
  throw ConfigError(std::string(flag) + ": " + Quoted(text) + " " + problem);
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
  }
  return true;
}

bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsTchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// "GLOB rest": the glob, checked, and the rest without leading spaces.
std::string_view SplitGlob(const char* flag, std::string_view text,
                           std::string_view form, PathPattern* pattern) {
  const std::size_t space = text.find_first_of(" \t");
  if (space == std::string_view::npos) {
    Fail(flag, text, "is not " + std::string(form));
  }
  const std::string_view glob = text.substr(0, space);
  if (std::string problem = PathPattern::Check(glob); !problem.empty()) {
    Fail(flag, text, "has a glob that " + problem);
  }
  *pattern = PathPattern(glob);
  std::string_view rest = TrimOws(text.substr(space));
  if (rest.empty()) Fail(flag, text, "is not " + std::string(form));
  return rest;
}

// scheme "://" host [":" port], as a browser serialises an origin: lower
// case, no path, no default port. Returns "" or the problem.
std::string CheckOrigin(std::string_view origin) {
  const std::size_t sep = origin.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return "is not scheme://host[:port] or *";
  }
  const std::string_view scheme = origin.substr(0, sep);
  for (char c : scheme) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
          c == '-' || c == '.')) {
      return "has a scheme that is not lower-case letters";
    }
  }
  const std::string_view authority = origin.substr(sep + 3);
  if (authority.find_first_of("/?#") != std::string_view::npos) {
    return "has a path: an origin is scheme://host[:port] alone";
  }
  if (authority.find('@') != std::string_view::npos ||
      !IsValidHost(authority) || authority.front() == ':') {
    return "has no valid host[:port]";
  }
  for (char c : authority) {
    if (c >= 'A' && c <= 'Z') {
      return "is not lower case, as browsers send it";
    }
  }
  if (authority.back() == ':' ||
      (scheme == "http" && authority.ends_with(":80")) ||
      (scheme == "https" && authority.ends_with(":443"))) {
    return "names the default port, which browsers leave out";
  }
  return {};
}

void AppendField(std::string* fields, std::string_view name,
                 std::string_view value) {
  fields->append(name);
  fields->append(": ");
  fields->append(value);
  fields->append(kCrlf);
}

}  // namespace

std::string PrintableText(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

std::string CheckFieldValue(std::string_view value) {
  if (value.empty()) return "is empty";
  if (IsOws(value.front()) || IsOws(value.back())) {
    return "starts or ends with whitespace";
  }
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return "holds a control character (CR, LF, NUL...): not allowed in a "
             "field value";
    }
  }
  return {};
}

bool IsTokenList(std::string_view list) {
  if (TrimOws(list).empty()) return false;
  while (true) {
    const std::size_t comma = list.find(',');
    if (!IsToken(TrimOws(list.substr(0, comma)))) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

HeaderRule ParseHeaderRule(std::string_view text) {
  constexpr const char* kFlag = "--header";
  constexpr std::string_view kForm = "GLOB Name: value";
  HeaderRule rule;
  const std::string_view field = SplitGlob(kFlag, text, kForm, &rule.pattern);
  const std::size_t colon = field.find(':');
  if (colon == std::string_view::npos) {
    Fail(kFlag, text, "is not " + std::string(kForm));
  }
  const std::string_view name = field.substr(0, colon);
  if (!IsToken(name)) {
    Fail(
        kFlag, text,
        "has a field name that is no token (letters, digits, !#$%&'*+-.^_`|~)");
  }
  if (name.size() > 15 &&
      EqualsIgnoringCase(name.substr(0, 15), "access-control-")) {
    Fail(kFlag, text, "sets " + std::string(name) + ": use --cors");
  }
  for (const Reserved& reserved : kReserved) {
    if (EqualsIgnoringCase(name, reserved.name)) {
      Fail(
          kFlag, text,
          "sets " + std::string(name) + ", which " + std::string(reserved.why));
    }
  }
  const std::string_view value = TrimOws(field.substr(colon + 1));
  if (value.empty()) Fail(kFlag, text, "has no value after the ':'");
  if (std::string problem = CheckFieldValue(value); !problem.empty()) {
    Fail(kFlag, text, "has a value that " + problem);
  }
  rule.name = name;
  rule.value = value;
  rule.tls_only = EqualsIgnoringCase(name, "Strict-Transport-Security");
  return rule;
}

CorsRule ParseCorsRule(std::string_view text) {
  constexpr const char* kFlag = "--cors";
  CorsRule rule;
  std::string_view list =
      SplitGlob(kFlag, text, "GLOB ORIGIN[,ORIGIN...]", &rule.pattern);
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view origin = TrimOws(list.substr(0, comma));
    if (origin == "*") {
      rule.any_origin = true;
    } else if (std::string problem = CheckOrigin(origin); !problem.empty()) {
      Fail(kFlag, text, "has an origin " + Quoted(origin) + " that " + problem);
    } else {
      rule.origins.emplace_back(origin);
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (rule.any_origin && !rule.origins.empty()) {
    Fail(kFlag, text, "lists origins beside '*', which allows every origin");
  }
  return rule;
}

HeaderRules HeaderRules::From(const Config& config) {
  HeaderRules rules;
  for (const std::string& text : config.headers) {
    rules.headers_.push_back(ParseHeaderRule(text));
  }
  for (std::size_t i = 0; i < rules.headers_.size(); ++i) {
    for (std::size_t j = i + 1; j < rules.headers_.size(); ++j) {
      if (EqualsIgnoringCase(rules.headers_[i].name, rules.headers_[j].name)) {
        rules.headers_[i].replaced_by.push_back(j);
      }
    }
  }
  for (const std::string& text : config.cors) {
    rules.cors_.push_back(ParseCorsRule(text));
  }
  return rules;
}

void HeaderRules::AppendHeaders(std::string_view path, bool tls,
                                std::string* fields) const {
  for (const HeaderRule& rule : headers_) {
    if ((rule.tls_only && !tls) || !rule.pattern.Matches(path)) continue;
    bool replaced = false;
    for (std::size_t later : rule.replaced_by) {
      if (headers_[later].pattern.Matches(path)) {
        replaced = true;
        break;
      }
    }
    if (!replaced) AppendField(fields, rule.name, rule.value);
  }
}

const CorsRule* HeaderRules::CorsFor(std::string_view path) const {
  for (auto it = cors_.rbegin(); it != cors_.rend(); ++it) {
    if (it->pattern.Matches(path)) return &*it;
  }
  return nullptr;
}

namespace {

// The origin to allow for `origin` under `rule`: "*", the origin itself,
// or empty when it is not allowed.
std::string_view AllowedOrigin(const CorsRule& rule, std::string_view origin) {
  if (rule.any_origin) return "*";
  for (const std::string& allowed : rule.origins) {
    if (EqualsIgnoringCase(origin, allowed)) return origin;
  }
  return {};
}

}  // namespace

void HeaderRules::AppendCors(std::string_view path, std::string_view origin,
                             std::string* fields) const {
  const CorsRule* rule = CorsFor(path);
  if (rule == nullptr) return;
  if (!rule->any_origin) fields->append("Vary: Origin\r\n");
  const std::string_view allowed = AllowedOrigin(*rule, origin);
  if (allowed.empty()) return;
  AppendField(fields, "Access-Control-Allow-Origin", allowed);
  fields->append(kExposed);
}

void HeaderRules::AppendOptions(std::string_view path, const Request& request,
                                std::string* fields) const {
  fields->append(kAllow);
  if (request.asterisk_form) return;  // about the server, not a path
  const CorsRule* rule = CorsFor(path);
  if (rule == nullptr) return;
  // The answer depends on both (what is allowed, what is echoed).
  fields->append(rule->any_origin
                     ? "Vary: Access-Control-Request-Headers\r\n"
                     : "Vary: Origin, Access-Control-Request-Headers\r\n");
  if (request.origin.empty() || request.access_control_request_method.empty()) {
    return;  // not a preflight: Allow says it all
  }
  const std::string_view allowed = AllowedOrigin(*rule, request.origin);
  if (allowed.empty()) return;
  AppendField(fields, "Access-Control-Allow-Origin", allowed);
  fields->append("Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n");
  if (IsTokenList(request.access_control_request_headers)) {
    AppendField(fields, "Access-Control-Allow-Headers",
                TrimOws(request.access_control_request_headers));
  }
  fields->append(kMaxAge);
}

}  // namespace ferry

#include "http_request.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>

#include "http_syntax.h"

namespace ferry {
namespace {

using Kind = ParseResult::Kind;

ParseResult Error(int status) { return {Kind::kError, 0, status}; }
ParseResult Incomplete() { return {Kind::kIncomplete, 0, 0}; }

/// What the fields say beyond the views stored in Request, gathered while
/// the head is read and judged once it has ended.
struct HeadState {
  bool absolute_form = false;
  std::string_view target_host;
  int host_fields = 0;
  /// A method other than GET/HEAD/OPTIONS: 405, once the framing is judged.
  bool other_method = false;
  bool content_length = false;
  bool transfer_encoding = false;
  bool close = false;
  bool keep_alive = false;
};

// Stands for a field value that may appear once but came repeated (or, for
// If-Range, empty): it is no valid date or entity-tag, so a date condition
// is ignored and If-Range fails (Range is ignored, never served
// unconditionally).
constexpr std::string_view kInvalid = "invalid";

bool IsCtlInValue(unsigned char c) {
  return (c < 0x20 && c != '\t') || c == 0x7f;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "HTTP/1.1" -> minor 1. 0 when well formed and supported, else 400 or 505.
// A higher minor version of HTTP/1 is read as 1.1, the highest one ferryd
// conforms to (RFC 9110 section 2.5); another major version is 505.
int ParseVersion(std::string_view v, int* minor) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' ||
      v[5] > '9' || v[7] < '0' || v[7] > '9') {
    return 400;
  }
  if (v[5] != '1') return 505;
  *minor = v[7] == '0' ? 0 : 1;
  return 0;
}

// RFC 3986 unreserved / sub-delims, the characters of a reg-name besides
// pct-encoded.
bool IsRegNameChar(unsigned char c) {
  static constexpr std::array<bool, 256> kTable = AlnumAnd("-._~!$&'()*+,;=");
  return kTable[c];
}

// reg-name = *( unreserved / pct-encoded / sub-delims ), not empty.
bool IsRegName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%') {
      if (i + 2 >= name.size() || HexValue(name[i + 1]) < 0 ||
          HexValue(name[i + 2]) < 0) {
        return false;
      }
      i += 2;
    } else if (!IsRegNameChar(static_cast<unsigned char>(name[i]))) {
      return false;
    }
  }
  return true;
}

// What is between the brackets of an IP-literal: an IPv6address, or
// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ).
bool IsIpLiteralBody(std::string_view body) {
  if (!body.empty() && (body[0] == 'v' || body[0] == 'V')) {
    const std::size_t dot = body.find('.');
    if (dot == std::string_view::npos || dot < 2 || dot + 1 == body.size()) {
      return false;
    }
    for (std::size_t i = 1; i < dot; ++i) {
      if (HexValue(body[i]) < 0) return false;
    }
    for (char c : body.substr(dot + 1)) {
      if (c != ':' &&
          (c == '%' || !IsRegNameChar(static_cast<unsigned char>(c)))) {
        return false;
      }
    }
    return true;
  }
  char text[INET6_ADDRSTRLEN];
  if (body.empty() || body.size() >= sizeof text) return false;
  // GOTCHA: inet_pton reads a C string: a NUL inside would end it early and
  // let what follows through. An IPv6 address is hex digits, ':' and '.'.
  for (char c : body) {
    if (HexValue(c) < 0 && c != ':' && c != '.') return false;
  }
  body.copy(text, body.size());
  text[body.size()] = '\0';
  in6_addr address{};
  return inet_pton(AF_INET6, text, &address) == 1;
}

// Splits the request-target into host (absolute-form only), path and query,
// and decodes the path. Returns 0 or 400.
int ParseTarget(std::string_view target, Request* out, HeadState* state) {
  for (char ch : target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f || c == '#') return 400;
  }
  std::string_view rest;
  if (target[0] == '/') {
    rest = target;
  } else {
    std::size_t scheme_end = 0;
    if (target.size() > 7 && EqualsLower(target.substr(0, 7), "http://")) {
      scheme_end = 7;
    } else if (target.size() > 8 &&
               EqualsLower(target.substr(0, 8), "https://")) {
      scheme_end = 8;
    } else {
      return 400;  // "*", authority-form, other schemes, relative paths
    }
    target.remove_prefix(scheme_end);
    const std::size_t end = target.find_first_of("/?");
    const std::string_view authority = target.substr(0, end);
    if (!IsValidHost(authority)) return 400;  // also refuses userinfo@
    state->absolute_form = true;
    state->target_host = authority;
    rest =
        end == std::string_view::npos ? std::string_view() : target.substr(end);
  }
  const std::size_t q = rest.find('?');
  out->raw_path = rest.substr(0, q);
  out->query =
      q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  if (out->raw_path.empty()) {  // "http://host" or "http://host?q"
    out->path.clear();
    out->directory_form = true;
    return 0;
  }
  return DecodeTargetPath(out->raw_path, &out->path, &out->directory_form);
}

// method SP request-target SP HTTP-version. Returns 0 or the error status.
int ParseRequestLine(std::string_view line, Request* out, HeadState* state) {
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return 400;
  const std::string_view method = line.substr(0, sp1);
  for (char c : method) {
    if (!IsTchar(static_cast<unsigned char>(c))) return 400;
  }
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return 400;
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (int status = ParseVersion(line.substr(sp2 + 1), &out->version_minor)) {
    return status;
  }
  if (method == "GET") {
    out->method = Method::kGet;
  } else if (method == "HEAD") {
    out->method = Method::kHead;
  } else if (method == "OPTIONS") {
    out->method = Method::kOptions;
    if (target == "*") {
      out->asterisk_form = true;  // path "", no query
      return 0;
    }
  } else {
    // 405 waits for the fields: bad framing is still 400 or 501, and a bad
    // target 400, so that every method is judged alike before the
    // connection closes. (Its target, split, is what --ssl-redirect's 308
    // names.)
    state->other_method = true;
  }
  return ParseTarget(target, out, state);
}

void ParseConnection(std::string_view value, HeadState* state) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view option = TrimOws(value.substr(0, comma));
    if (EqualsLower(option, "close")) state->close = true;
    if (EqualsLower(option, "keep-alive")) state->keep_alive = true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

void SetOnce(std::string_view value, std::string_view* field) {
  *field = field->data() == nullptr ? value : kInvalid;
}

// A list field (RFC 9110 section 5.3): repeated lines mean their values
// joined with commas. The first line stays a view into the input; from the
// second on, the list is copied into `joined` and `*field` views that.
void AddListLine(std::string_view value, std::string_view* field,
                 std::string* joined) {
  if (field->data() == nullptr) {
    *field = value;
    return;
  }
  if (joined->empty()) joined->assign(*field);
  joined->append(", ");
  joined->append(value);
  *field = *joined;
}

// Content-Length = 1*DIGIT; `*body` is whether it is other than zero
// ("00" is zero). Returns 0 or 400.
int ParseContentLength(std::string_view value, bool* body) {
  if (value.empty()) return 400;
  for (char c : value) {
    if (c < '0' || c > '9') return 400;
  }
  *body = value.find_first_not_of('0') != std::string_view::npos;
  return 0;
}

// field-name ":" OWS field-value OWS. Returns 0 or the error status.
int ParseField(std::string_view line, Request* out, HeadState* state) {
  const std::size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) return 400;
  const std::string_view name = line.substr(0, colon);
  // Also refuses obs-fold and whitespace before the colon.
  for (char c : name) {
    if (!IsTchar(static_cast<unsigned char>(c))) return 400;
  }
  const std::string_view value = TrimOws(line.substr(colon + 1));
  for (char c : value) {
    if (IsCtlInValue(static_cast<unsigned char>(c))) return 400;
  }
  // A present-but-empty value must still count as present: give it a
  // non-null pointer into the line.
  const std::string_view present =
      value.empty() ? line.substr(line.size()) : value;
  switch (name.size()) {
    case 4:
      if (EqualsLower(name, "host")) {
        if (++state->host_fields > 1 || !IsValidHost(value)) return 400;
        out->host = value;
      }
      break;
    case 5:
      if (EqualsLower(name, "range")) SetOnce(present, &out->range);
      break;
    case 6:
      if (EqualsLower(name, "origin")) {
        SetOnce(present, &out->origin);
      } else if (EqualsLower(name, "accept")) {
        out->accept = value;
      }
      break;
    case 7:
      if (EqualsLower(name, "referer")) out->referer = value;
      break;
    case 8:
      if (EqualsLower(name, "if-match")) {
        AddListLine(present, &out->if_match, &out->joined_if_match);
      } else if (EqualsLower(name, "if-range")) {
        SetOnce(value.empty() ? kInvalid : value, &out->if_range);
      }
      break;
    case 9:
      if (EqualsLower(name, "x-real-ip")) SetOnce(present, &out->x_real_ip);
      break;
    case 10:
      if (EqualsLower(name, "connection")) {
        ParseConnection(value, state);
      } else if (EqualsLower(name, "user-agent")) {
        out->user_agent = value;
      }
      break;
    case 13:
      if (EqualsLower(name, "if-none-match")) {
        AddListLine(present, &out->if_none_match, &out->joined_if_none_match);
      }
      break;
    case 14:
      if (EqualsLower(name, "content-length")) {
        bool body = false;
        if (state->content_length) return 400;
        if (int status = ParseContentLength(value, &body)) return status;
        // ferryd reads no body of GET, HEAD or OPTIONS; another method's
        // body is framed
        // well enough to be answered 405.
        if (body && !state->other_method) return 400;
        state->content_length = true;
      }
      break;
    case 15:
      if (EqualsLower(name, "accept-encoding")) {
        AddListLine(present, &out->accept_encoding,
                    &out->joined_accept_encoding);
      } else if (EqualsLower(name, "x-forwarded-for")) {
        AddListLine(present, &out->x_forwarded_for,
                    &out->joined_x_forwarded_for);
      }
      break;
    case 17:
      if (EqualsLower(name, "transfer-encoding")) {
        state->transfer_encoding = true;
      } else if (EqualsLower(name, "if-modified-since")) {
        SetOnce(present, &out->if_modified_since);
      }
      break;
    case 19:
      if (EqualsLower(name, "if-unmodified-since")) {
        SetOnce(present, &out->if_unmodified_since);
      }
      break;
    case 29:
      if (EqualsLower(name, "access-control-request-method")) {
        out->access_control_request_method = present;
      }
      break;
    case 30:
      if (EqualsLower(name, "access-control-request-headers")) {
        AddListLine(present, &out->access_control_request_headers,
                    &out->joined_access_control_request_headers);
      }
      break;
    default:
      break;
  }
  return 0;
}

// Judges what can only be judged once every field has been seen.
int FinishHead(const HeadState& state, Request* out) {
  if (state.host_fields == 0 && out->version_minor == 1) return 400;
  if (state.transfer_encoding) return state.content_length ? 400 : 501;
  if (state.absolute_form) out->host = state.target_host;
  if (state.other_method) return 405;
  out->keep_alive =
      out->version_minor == 1 ? !state.close : state.keep_alive && !state.close;
  return 0;
}

// The unfinished last line of the input: a CR followed by anything is a
// bare CR already (400); otherwise more input may still complete the head,
// unless it would be too large (431).
ParseResult JudgePartialLine(std::string_view input, std::size_t line_start,
                             const RequestLimits& limits) {
  const std::string_view partial = input.substr(line_start);
  const std::size_t cr = partial.find('\r');
  if (cr != std::string_view::npos && cr + 1 < partial.size())
    return Error(400);
  // The head needs at least one more byte to end.
  if (input.size() >= limits.max_header_bytes) return Error(431);
  return Incomplete();
}

// The line starting at `start`, without its CRLF or LF; `*next` is where
// the following line starts. False when no LF has arrived yet.
bool NextLine(std::string_view input, std::size_t start, std::string_view* line,
              std::size_t* next) {
  if (start >= input.size()) return false;  // memchr wants a real pointer
  const void* lf =
      std::memchr(input.data() + start, '\n', input.size() - start);
  if (lf == nullptr) return false;
  const auto end =
      static_cast<std::size_t>(static_cast<const char*>(lf) - input.data());
  *next = end + 1;
  *line = input.substr(start, end - start);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  return true;
}

}  // namespace

ParseResult ParseRequest(std::string_view input, const RequestLimits& limits,
                         Request* out) {
  // The owned strings keep their capacity across requests.
  std::string path = std::move(out->path);
  std::string joined_if_match = std::move(out->joined_if_match);
  std::string joined_if_none_match = std::move(out->joined_if_none_match);
  std::string joined_request_headers =
      std::move(out->joined_access_control_request_headers);
  std::string joined_accept_encoding = std::move(out->joined_accept_encoding);
  std::string joined_x_forwarded_for = std::move(out->joined_x_forwarded_for);
  *out = Request{};
  out->path = std::move(path);
  out->path.clear();
  out->joined_if_match = std::move(joined_if_match);
  out->joined_if_match.clear();
  out->joined_if_none_match = std::move(joined_if_none_match);
  out->joined_if_none_match.clear();
  out->joined_access_control_request_headers =
      std::move(joined_request_headers);
  out->joined_access_control_request_headers.clear();
  out->joined_accept_encoding = std::move(joined_accept_encoding);
  out->joined_accept_encoding.clear();
  out->joined_x_forwarded_for = std::move(joined_x_forwarded_for);
  out->joined_x_forwarded_for.clear();

  // RFC 9112 section 2.2: ignore empty lines before the request line.
  std::size_t pos = 0;
  std::string_view line;
  std::size_t next = 0;
  while (true) {
    if (!NextLine(input, pos, &line, &next)) {
      std::size_t length = input.size() - pos;
      if (length > 0 && input.back() == '\r') --length;
      if (length > limits.max_request_line) return Error(414);
      return JudgePartialLine(input, pos, limits);
    }
    if (line.size() > limits.max_request_line) return Error(414);
    if (next > limits.max_header_bytes) return Error(431);
    pos = next;
    if (!line.empty()) break;
  }

  HeadState state;
  out->request_line = line;  // set first: an error response logs it too
  if (int status = ParseRequestLine(line, out, &state)) return Error(status);

  std::size_t fields = 0;
  while (true) {
    if (!NextLine(input, pos, &line, &next)) {
      return JudgePartialLine(input, pos, limits);
    }
    if (next > limits.max_header_bytes) return Error(431);
    pos = next;
    if (line.empty()) break;
    if (++fields > limits.max_headers) return Error(431);
    if (int status = ParseField(line, out, &state)) return Error(status);
  }
  if (int status = FinishHead(state, out)) return Error(status);
  return {Kind::kDone, pos, 0};
}

int DecodeTargetPath(std::string_view raw_path, std::string* out,
                     bool* directory_form) {
  out->clear();
  if (raw_path.empty() || raw_path[0] != '/') return 400;
  if (out->capacity() < raw_path.size()) out->reserve(raw_path.size());

  // Decode once. A decoded '/' (%2F) separates segments like any other:
  // the kernel will read it so.
  for (std::size_t i = 0; i < raw_path.size(); ++i) {
    char c = raw_path[i];
    if (c == '%') {
      if (i + 2 >= raw_path.size()) return 400;
      const int hi = HexValue(raw_path[i + 1]);
      const int lo = HexValue(raw_path[i + 2]);
      if (hi < 0 || lo < 0) return 400;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return 400;
    out->push_back(c);
  }

  // Normalise in place: the write position never passes the read position,
  // because every segment written was preceded by at least one '/' read.
  char* s = out->data();
  const std::size_t n = out->size();
  std::size_t r = 0;
  std::size_t w = 0;
  bool directory = false;
  while (r < n) {
    if (s[r] == '/') {
      ++r;
      directory = true;
      continue;
    }
    const char* slash =
        static_cast<const char*>(std::memchr(s + r, '/', n - r));
    const std::size_t end =
        slash == nullptr ? n : static_cast<std::size_t>(slash - s);
    const std::string_view segment(s + r, end - r);
    if (segment == "..") {
      if (w == 0) return 400;  // above the root
      while (w > 0 && s[w - 1] != '/') --w;
      if (w > 0) --w;  // drop the separator too
      directory = true;
    } else if (segment == ".") {
      directory = true;
    } else {
      if (w > 0) s[w++] = '/';
      std::memmove(s + w, s + r, segment.size());
      w += segment.size();
      directory = false;
    }
    r = end;
  }
  out->resize(w);
  *directory_form = directory;
  return 0;
}

bool IsValidHost(std::string_view host) {
  if (!host.empty() && host[0] == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos ||
        !IsIpLiteralBody(host.substr(1, close - 1))) {
      return false;
    }
    host.remove_prefix(close + 1);
  } else {
    const std::string_view name = host.substr(0, host.find(':'));
    if (!IsRegName(name)) return false;
    host.remove_prefix(name.size());
  }
  // What is left is empty or ":" port, port = *DIGIT.
  if (host.empty()) return true;
  if (host[0] != ':') return false;
  for (char c : host.substr(1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool HasDotSegment(std::string_view path) {
  return (!path.empty() && path[0] == '.') ||
         path.find("/.") != std::string_view::npos;
}

}  // namespace ferry

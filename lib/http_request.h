#pragma once
// HTTP/1.1 request parsing: the request line, the header fields ferryd acts
// on, and the request-target turned into a path below the document root.

#include <cstddef>
#include <string>
#include <string_view>

namespace ferry {

enum class Method { kGet, kHead, kOptions };

/// Limits a request must stay within; each is a command-line flag.
struct RequestLimits {
  std::size_t max_request_line = 8192;   ///< longer: 414
  std::size_t max_header_bytes = 16384;  ///< request line + fields; more: 431
  std::size_t max_headers = 100;         ///< more header fields: 431
};

/// One parsed request. The string_views point into the caller's input
/// buffer and stay valid until that buffer is changed, except that
/// `if_match`, `if_none_match`, `accept_encoding`,
/// `access_control_request_headers` and `x_forwarded_for`, when the field
/// came in several lines, view the joined list in this Request's own storage
/// (so use them through the Request they were parsed into, never a copy).
/// `path` and that storage are owned (their capacity is reused across requests
/// on one connection).
struct Request {
  Method method = Method::kGet;
  /// HTTP/1.<minor>: 0 or 1; a higher 1.x is read as 1 (RFC 9110 section 2.5).
  int version_minor = 1;
  /// Percent-decoded once, normalised ("." and ".." resolved lexically,
  /// repeated '/' merged), no leading '/': "" is the root directory.
  std::string path;
  bool directory_form = false;  ///< the target's path ended in '/' (or was "/")
  /// OPTIONS * (RFC 9112 section 3.2.4): about the server, not a path
  /// (`path` is then "").
  bool asterisk_form = false;
  bool keep_alive = true;     ///< from the version and Connection
  std::string_view raw_path;  ///< the target's path as sent (for Location)
  std::string_view query;     ///< after '?', without it; empty if none
  std::string_view host;      ///< a valid uri-host [":" port], or empty on 1.0
  /// The request line without its line end; set even when the request is
  /// refused later (for the access log).
  std::string_view request_line;
  std::string_view referer;        ///< for the access log
  std::string_view user_agent;     ///< for the access log
  std::string_view range;          ///< empty when absent
  std::string_view if_match;       ///< every line's list, joined
  std::string_view if_none_match;  ///< every line's list, joined
  std::string_view if_modified_since;
  std::string_view if_unmodified_since;
  std::string_view if_range;
  /// CORS: the requesting page's origin ("invalid" when repeated).
  std::string_view origin;
  std::string_view access_control_request_method;   ///< a CORS preflight's
  std::string_view access_control_request_headers;  ///< a CORS preflight's
  std::string_view accept_encoding;  ///< every line's list, joined
  std::string_view accept;  ///< the last Accept line (--autoindex's format)
  /// --real-ip-header: the addresses proxies appended, every line's list
  /// joined in order (forwarded_for.h walks it).
  std::string_view x_forwarded_for;
  /// --real-ip-header X-Real-IP: one address ("invalid" when repeated).
  std::string_view x_real_ip;
  /// Where a list field that came in several lines is joined (", ").
  std::string joined_if_match;
  std::string joined_if_none_match;
  std::string joined_access_control_request_headers;
  std::string joined_accept_encoding;
  std::string joined_x_forwarded_for;
};

struct ParseResult {
  enum class Kind { kIncomplete, kDone, kError };
  Kind kind = Kind::kIncomplete;
  /// kDone: bytes of input the request used (the next pipelined request
  /// starts there).
  std::size_t consumed = 0;
  /// kError: the status to answer with, after which the connection closes:
  /// 400 malformed (bare CR, obs-fold, space before ':', bad token, control
  /// characters, bad percent-encoding, %00, a path escaping the root, missing
  /// Host on HTTP/1.1, duplicate Host or Content-Length, a Host or an
  /// absolute-form authority that is no uri-host [":" port], Content-Length
  /// not 1*DIGIT, or other than 0 on GET/HEAD/OPTIONS, Content-Length
  /// together with Transfer-Encoding, the asterisk-form target "*" with a
  /// method other than OPTIONS), 405 a method other than GET/HEAD/OPTIONS
  /// (only once its head is complete and none of the errors above applies:
  /// `out` then holds its target and host as for GET), 414
  /// request line over the limit, 431 header block or count over the limit,
  /// 501 any Transfer-Encoding, 505 a major version other than HTTP/1.
  int status = 0;
};

/// Parses one request from the start of `input`. Lines may end in CRLF or a
/// bare LF. Returns kIncomplete while the header block has not ended and no
/// limit is exceeded yet. Never reads past `input`.
ParseResult ParseRequest(std::string_view input, const RequestLimits& limits,
                         Request* out);

/// Decodes an origin-form path (the part of the target before '?') into
/// `out` as described for Request::path. Returns 0, or 400.
int DecodeTargetPath(std::string_view raw_path, std::string* out,
                     bool* directory_form);

/// True when `host` is a valid Host field value or absolute-form authority
/// (RFC 9110 section 7.2): uri-host [":" port], where uri-host is a
/// non-empty reg-name (unreserved, pct-encoded, sub-delims), or an
/// IP-literal in brackets (IPv6address or IPvFuture), and port is *DIGIT.
bool IsValidHost(std::string_view host);

/// True when a segment of `path` starts with '.' (a dotfile or dot
/// directory).
bool HasDotSegment(std::string_view path);

}  // namespace ferry

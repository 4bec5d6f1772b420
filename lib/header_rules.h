#pragma once
// The operator's response header rules, by request path: --header fields
// (Cache-Control, CSP, HSTS...) and --cors (which origins may read what a
// path answers), compiled once per worker from the Config. Each response
// has its fields composed into ResponseLayout::fields before it is built.
//
//   --header '/assets/* Cache-Control: public, max-age=31536000, immutable'
//   --header '*.html Cache-Control: no-cache'
//   --cors '/data/* https://app.example.com'
//
// Paths are the decoded request path with its leading '/' (a directory's
// URL keeps its trailing '/'). Rules apply in order: every matching rule
// adds its field, and a later matching rule for the same field name
// replaces the earlier one's value. Of the --cors rules, the last that
// matches decides.

#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "http_request.h"
#include "path_pattern.h"

namespace ferry {

/// One --header value, "GLOB Name: value".
struct HeaderRule {
  PathPattern pattern{"/"};
  std::string name;   ///< as written (a token)
  std::string value;  ///< without surrounding whitespace
  /// Strict-Transport-Security: sent over TLS only (RFC 6797 section 7.2:
  /// an HSTS host must not send it over plain HTTP).
  bool tls_only = false;
  /// Later rules with the same name (case-insensitive): when one of them
  /// matches too, this rule's field is not sent.
  std::vector<std::size_t> replaced_by;
};

/// One --cors value, "GLOB ORIGIN[,ORIGIN...]".
struct CorsRule {
  PathPattern pattern{"/"};
  bool any_origin = false;           ///< "*": Access-Control-Allow-Origin: *
  std::vector<std::string> origins;  ///< scheme://host[:port], lower case
};

/// Parses a --header value. Throws ConfigError naming --header: a bad
/// glob, a field name that is no token or that ferryd sets itself (the
/// message says which flag sets it), a value with a control character
/// other than HTAB (CR, LF, NUL: no response splitting through the
/// config), or no value.
HeaderRule ParseHeaderRule(std::string_view text);

/// Parses a --cors value. Throws ConfigError naming --cors: a bad glob, an
/// origin that is neither "*" nor scheme://host[:port] (no path, no
/// default port, "*" alone).
CorsRule ParseCorsRule(std::string_view text);

/// "" when `value` may be sent as a field value (visible ASCII, SP, HTAB
/// or obs-text; not empty, no leading or trailing whitespace), else what
/// is wrong with it.
std::string CheckFieldValue(std::string_view value);

class HeaderRules {
 public:
  /// Throws ConfigError naming the flag of a bad rule.
  static HeaderRules From(const Config& config);

  /// Appends the --header fields for a response to `path` ("/a/b.html")
  /// to `fields`; a Strict-Transport-Security field only when `tls` (the
  /// client came to an --ssl listener). Allocates nothing once `fields`
  /// has grown to fit.
  void AppendHeaders(std::string_view path, bool tls,
                     std::string* fields) const;

  /// Appends the CORS fields of an actual (non-preflight) response to a
  /// request for `path`: with an allowed "*", Access-Control-Allow-Origin:
  /// * whether or not the request has an Origin (a cache may serve the
  /// response to any origin); with listed origins, Vary: Origin always and
  /// Access-Control-Allow-Origin: <origin> when `origin` is one of them.
  /// Access-Control-Expose-Headers goes with Access-Control-Allow-Origin.
  void AppendCors(std::string_view path, std::string_view origin,
                  std::string* fields) const;

  /// Appends the fields of the 204 that answers OPTIONS for `path`: Allow;
  /// and, for a CORS preflight (an Origin and an
  /// Access-Control-Request-Method) from an allowed origin, the
  /// Access-Control-Allow-* fields and Access-Control-Max-Age. A preflight
  /// from an origin not allowed gets no Access-Control-* field, which the
  /// browser takes as a refusal.
  void AppendOptions(std::string_view path, const Request& request,
                     std::string* fields) const;

  bool empty() const { return headers_.empty() && cors_.empty(); }

 private:
  /// The --cors rule that decides for `path`, or nullptr.
  const CorsRule* CorsFor(std::string_view path) const;

  std::vector<HeaderRule> headers_;
  std::vector<CorsRule> cors_;
};

/// `text` for a one-line message: CR, LF and other control characters
/// written as \r, \n, \xNN.
std::string PrintableText(std::string_view text);

/// True when `list` is a comma-separated list of tokens (with optional
/// whitespace), as Access-Control-Request-Headers must be; empty is not.
bool IsTokenList(std::string_view list);

}  // namespace ferry

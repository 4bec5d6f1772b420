#pragma once
// --ssl-redirect: what a plain listener answers instead of serving, the
// same URL on the HTTPS listener, and the one path it still serves.

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "http_request.h"
#include "http_response.h"

namespace ferry {

/// True when `rule_path` ("/" + a request's normalised path, a directory's
/// with its '/') lies under /.well-known/acme-challenge/: an ACME HTTP-01
/// validation (certbot --webroot), which must reach the file over plain
/// HTTP, before there is any certificate to redirect to.
bool IsAcmeChallenge(std::string_view rule_path);

/// Appends to `out` the URL `request` names, on HTTPS at `https_port`:
/// "https://" HOST [":" PORT] TARGET. HOST is the request's host (Host, or
/// an absolute-form target's authority, both valid uri-hosts: no CR, LF or
/// space) without its port; ":" PORT is left out for 443; TARGET is the
/// path and query as sent ("/" for none), percent-encoding kept, bytes a
/// URI may not hold percent-encoded. Returns false, `out` unchanged, when
/// the request names no host (HTTP/1.0 without Host).
bool AppendHttpsLocation(const Request& request, std::uint16_t https_port,
                         std::string* out);

/// Builds the redirect to AppendHttpsLocation's URL: `status` is 301 for
/// GET and HEAD, 308 for any other method (which keeps it), with a short
/// HTML body (none for HEAD). `scratch` holds the Location while it is
/// built. Returns 0, or 400 when the request names no host (nothing built).
int BuildHttpsRedirect(int status, const Request& request,
                       std::uint16_t https_port, std::time_t now,
                       bool keep_alive, std::string* scratch,
                       ResponseLayout* layout);

}  // namespace ferry

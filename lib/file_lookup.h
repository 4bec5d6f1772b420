#pragma once
// What answers a request, decided one open at a time: the path itself, a
// directory's index names in turn, the SPA fallback for a path that does
// not exist, and the error page of a refusal; with the rules of what may
// be served (dot paths, hidden paths). It opens nothing itself: the
// connection opens each path it names (RESOLVE_CACHED, or a helper) and
// reports the outcome, so no step can block the loop.
//
//   GET /docs/       -> open docs/index.html -> ENOENT -> open docs/index.htm
//                    -> ENOENT -> open docs (a directory?) -> 403 -> open
//                    the 403 page -> serve it with status 403
//   GET /app/route   -> open app/route -> ENOENT -> open the fallback
//                    -> serve it with status 200
//   GET /app.js      -> open app.js (kept open) -> open app.js.br -> ENOENT
//   (Accept-Encoding:   -> open app.js.gz -> serve it, "gzip" (or, were
//    br, gzip)             none fit, app.js itself)

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "accept_encoding.h"
#include "config.h"
#include "document_root.h"
#include "http_request.h"
#include "path_pattern.h"

namespace ferry {

/// The operator's rules for what is served, compiled from the Config once
/// per worker.
struct SiteRules {
  /// An --error-page: the statuses it answers, and the page.
  struct ErrorPage {
    std::vector<int> statuses;    ///< 404, or 500 for "5xx" (a class: x00)
    bool status_class = false;    ///< "4xx"/"5xx": statuses hold 400 / 500
    std::string path;             ///< below the root, without the leading '/'
    mutable bool warned = false;  ///< a missing page is logged once
  };

  std::vector<std::string> index;  ///< names tried in order for a directory
  std::vector<PathPattern> hide;   ///< answered 404, whatever exists
  /// Dot paths served all the same (RFC 8615's /.well-known/ always).
  std::vector<PathPattern> dot_allowed;
  bool allow_dotfiles = false;  ///< every dot path is served
  std::string fallback;         ///< "" none; else served for a path not found
  std::vector<ErrorPage> error_pages;
  /// --precompressed: the codings whose variants are served, preferred
  /// first; empty when off.
  CodingList precompressed;

  /// --autoindex: a directory without an index is listed (not 403).
  bool autoindex = false;

  /// Throws ConfigError naming the flag for a bad pattern or page.
  static SiteRules From(const Config& config);
  /// Whether `visible` ("/" + a path, a directory's with its '/') may be
  /// served: not --hide, and DotPathAllowed().
  bool Visible(std::string_view visible) const;
  /// No dot segment in `visible`, or --allow-dotfiles, or an allowed dot
  /// path (--allow-dot-path, /.well-known/).
  bool DotPathAllowed(std::string_view visible) const;
  /// The error page configured for `status`, or nullptr.
  const ErrorPage* ErrorPageFor(int status) const;
};

/// Parses an --error-page value "CODES PATH" ("404 /404.html",
/// "500 502 503 504 /50x.html", "5xx /error.html"). Throws ConfigError.
SiteRules::ErrorPage ParseErrorPage(std::string_view text);

class FileLookup {
 public:
  /// What the connection does next.
  enum class Step {
    kOpen,      ///< open path(), then call OnOpened()
    kServe,     ///< serve the file it just opened, with status()
    kRedirect,  ///< a directory asked for without its '/': 301
    kRespond,   ///< a built-in response with status()
    kList,      ///< --autoindex: list the directory TakeServed() holds
  };

  /// Starts on `request` (kept by reference until the lookup ends).
  Step Start(const Request& request, const SiteRules& rules);
  /// The open of path() came back with `opened` (from the cache: no
  /// descriptor, the entry's status). `no_variants`: codings (CodingList
  /// bits) the cache knows to have no usable variant beside this path;
  /// when they are all this request's codings, none is tried.
  Step OnOpened(OpenedFile opened, std::uint8_t no_variants = 0);
  /// kServe: the file to serve, taken once: the one opened last, or the
  /// original whose variants did not fit. kList: the directory.
  OpenedFile TakeServed() { return std::move(served_); }
  /// Closes what the lookup still holds (an original kept for its
  /// variants), when the connection drops the request.
  void Release();

  /// The path to open (kOpen), relative to the root; then the path served.
  const std::string& path() const { return path_; }
  /// kServe / kRespond: the status to answer with.
  int status() const { return status_; }
  /// path() is an error page: served as the body of status(), without
  /// ranges or validators.
  bool error_page() const { return stage_ == Stage::kErrorPage; }
  /// kServe: the content coding of what is served (kIdentity, or the
  /// variant's).
  ContentCoding coding() const { return coding_; }
  /// The codings tried for this request (CodingList bits).
  std::uint8_t codings_tried() const { return codings_.mask(); }
  /// kServe of an original: the codings whose variants were tried and did
  /// not fit (missing, stale, no regular file, hidden), for the cache to
  /// remember; 0 otherwise.
  std::uint8_t variants_unusable() const { return variants_unusable_; }
  /// path() without a variant's suffix: the name that says Content-Type.
  std::string_view type_path() const {
    return std::string_view(path_).substr(
        0, path_.size() - CodingSuffix(coding_).size());
  }
  /// A regular file at path() will be followed by its variants' opens:
  /// open it for its descriptor (the original is served if none fits),
  /// not from the cache.
  bool tries_variants() const {
    return !codings_.empty() &&
           (stage_ == Stage::kTarget || stage_ == Stage::kIndex ||
            stage_ == Stage::kFallback);
  }

 private:
  enum class Stage {
    kTarget,
    kIndex,
    kDirectory,
    kFallback,
    kVariant,
    kErrorPage
  };

  Step Refuse(int status);
  Step Open(Stage stage, std::string_view path);
  Step Serve(int status);
  Step ServeOrTryVariants(std::uint8_t no_variants);
  Step NextVariant();

  const Request* request_ = nullptr;
  const SiteRules* rules_ = nullptr;
  Stage stage_ = Stage::kTarget;
  std::size_t index_ = 0;  ///< kIndex: which name
  std::string path_;
  std::string visible_;  ///< "/" + the request's path, for the patterns
  /// The precompressed codings to try for this request, in order.
  CodingList codings_;
  std::size_t variant_ = 0;          ///< kVariant: codings_ tried so far
  std::size_t original_length_ = 0;  ///< kVariant: path_ of the original
  ContentCoding coding_ = ContentCoding::kIdentity;
  std::uint8_t variants_unusable_ = 0;
  OpenedFile original_;  ///< kVariant: the original, served if none fits
  OpenedFile served_;    ///< the last opened; kServe: what to serve
  int status_ = 200;
};

}  // namespace ferry

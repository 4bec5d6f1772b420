#include "file_lookup.h"

#include <cerrno>
#include <cstring>

#include "http_response.h"
#include "log.h"
#include "url_encoding.h"

namespace ferry {

SiteRules::ErrorPage ParseErrorPage(std::string_view text) {
  SiteRules::ErrorPage page;
  std::size_t space = text.rfind(' ');
  if (space == std::string_view::npos || space + 1 >= text.size() ||
      text[space + 1] != '/') {
    throw ConfigError("--error-page: '" + std::string(text) +
                      "' is not CODES /PATH (e.g. '404 /404.html')");
  }
  std::string_view path = text.substr(space + 2);
  if (path.empty() || path.front() == '/' || HasDotSegment(path) ||
      path.find("//") != path.npos || path.back() == '/') {
    throw ConfigError("--error-page: '" + std::string(text) +
                      "' does not name a file below the root");
  }
  page.path = path;
  std::string_view codes = text.substr(0, space);
  while (!codes.empty()) {
    std::size_t end = codes.find(' ');
    std::string_view code = codes.substr(0, end);
    codes = end == codes.npos ? std::string_view() : codes.substr(end + 1);
    if (code.empty()) continue;
    bool is_class = code.size() == 3 && (code[0] == '4' || code[0] == '5') &&
                    code.substr(1) == "xx";
    int value = 0;
    bool digits = code.size() == 3;
    for (char c : code) digits = digits && c >= '0' && c <= '9';
    if (digits) value = std::stoi(std::string(code));
    if (is_class) {
      page.status_class = true;
      page.statuses.push_back((code[0] - '0') * 100);
    } else if (digits && value >= 400 && value <= 599) {
      page.statuses.push_back(value);
    } else {
      throw ConfigError("--error-page: '" + std::string(text) + "': '" +
                        std::string(code) +
                        "' is not a status from 400 to 599, 4xx or 5xx");
    }
  }
  if (page.statuses.empty()) {
    throw ConfigError("--error-page: '" + std::string(text) +
                      "' names no status");
  }
  return page;
}

SiteRules SiteRules::From(const Config& config) {
  SiteRules rules;
  rules.index = config.index;
  rules.allow_dotfiles = config.allow_dotfiles;
  rules.autoindex = config.autoindex;
  auto compile = [](const std::vector<std::string>& texts, const char* flag,
                    std::vector<PathPattern>* out) {
    for (const std::string& text : texts) {
      std::string problem = PathPattern::Check(text);
      if (!problem.empty()) {
        throw ConfigError(std::string(flag) + ": '" + text + "' " + problem);
      }
      out->emplace_back(text);
    }
  };
  compile(config.hide, "--hide", &rules.hide);
  rules.dot_allowed.emplace_back("/.well-known/*");
  compile(config.allow_dot_paths, "--allow-dot-path", &rules.dot_allowed);
  if (!config.fallback.empty()) rules.fallback = config.fallback.substr(1);
  for (const std::string& text : config.error_pages) {
    rules.error_pages.push_back(ParseErrorPage(text));
  }
  for (const std::string& name : config.precompressed) {
    std::optional<ContentCoding> coding = CodingNamed(name);
    if (!coding) {
      throw ConfigError("--precompressed: '" + name +
                        "' is not br, zstd or gzip");
    }
    rules.precompressed.Add(*coding);
  }
  return rules;
}

bool SiteRules::Visible(std::string_view visible) const {
  for (const PathPattern& hidden : hide) {
    if (hidden.Matches(visible)) return false;
  }
  return DotPathAllowed(visible);
}

bool SiteRules::DotPathAllowed(std::string_view visible) const {
  if (allow_dotfiles || !HasDotSegment(visible)) return true;
  for (const PathPattern& pattern : dot_allowed) {
    if (pattern.Matches(visible)) return true;
  }
  return false;
}

const SiteRules::ErrorPage* SiteRules::ErrorPageFor(int status) const {
  // The last page naming the status itself wins over a class ("5xx").
  const ErrorPage* found = nullptr;
  for (const ErrorPage& page : error_pages) {
    for (int named : page.statuses) {
      if (page.status_class ? named == status / 100 * 100 : named == status) {
        if (found == nullptr || !page.status_class || found->status_class) {
          found = &page;
        }
      }
    }
  }
  return found;
}

FileLookup::Step FileLookup::Start(const Request& request,
                                   const SiteRules& rules) {
  request_ = &request;
  rules_ = &rules;
  stage_ = Stage::kTarget;
  status_ = 200;
  index_ = 0;
  coding_ = ContentCoding::kIdentity;
  variants_unusable_ = 0;
  Release();
  codings_ = ChooseCodings(request.accept_encoding, rules.precompressed);
  visible_.assign(1, '/');
  visible_ += request.path;
  if (request.directory_form && !request.path.empty()) visible_ += '/';
  for (const PathPattern& hidden : rules.hide) {
    if (hidden.Matches(visible_)) return Refuse(404);
  }
  if (!rules.DotPathAllowed(visible_)) return Refuse(403);
  if (request.directory_form) {
    path_ = request.path;
    if (!path_.empty()) path_ += '/';
    path_ += rules.index.front();
    stage_ = Stage::kIndex;
    return Step::kOpen;
  }
  return Open(Stage::kTarget, request.path);
}

FileLookup::Step FileLookup::Open(Stage stage, std::string_view path) {
  stage_ = stage;
  path_.assign(path);
  return Step::kOpen;
}

FileLookup::Step FileLookup::Serve(int status) {
  status_ = status;
  return Step::kServe;
}

void FileLookup::Release() {
  original_ = OpenedFile();
  served_ = OpenedFile();
}

// A regular file found for a 200: served, or kept while its variants are
// tried. Only an original that exists and may be served gets this far, so
// a variant never stands in for a missing or refused file.
FileLookup::Step FileLookup::ServeOrTryVariants(std::uint8_t no_variants) {
  if (!tries_variants()) return Serve(200);
  if ((codings_.mask() & no_variants) == codings_.mask()) {
    // The cache knows none of them fits: the original, with no open.
    variants_unusable_ = codings_.mask();
    return Serve(200);
  }
  original_ = std::move(served_);
  original_length_ = path_.size();
  variant_ = 0;
  stage_ = Stage::kVariant;
  return NextVariant();
}

FileLookup::Step FileLookup::NextVariant() {
  while (variant_ < codings_.size) {
    path_.resize(original_length_);
    path_ += CodingSuffix(codings_[variant_++]);
    // A hidden name stays hidden, as a variant too.
    bool hidden = false;
    if (!rules_->hide.empty()) {
      std::string visible = "/" + path_;
      for (const PathPattern& pattern : rules_->hide) {
        hidden = hidden || pattern.Matches(visible);
      }
    }
    if (!hidden) return Step::kOpen;
  }
  path_.resize(original_length_);
  coding_ = ContentCoding::kIdentity;
  variants_unusable_ = codings_.mask();
  served_ = std::move(original_);
  return Serve(200);
}

// A refusal: its error page if one is configured, else the built-in one.
FileLookup::Step FileLookup::Refuse(int status) {
  status_ = status;
  const SiteRules::ErrorPage* page = rules_->ErrorPageFor(status);
  if (page == nullptr || stage_ == Stage::kErrorPage) {
    return Step::kRespond;
  }
  return Open(Stage::kErrorPage, page->path);
}

FileLookup::Step FileLookup::OnOpened(OpenedFile file,
                                      std::uint8_t no_variants) {
  using Type = FileStatus::Type;
  served_ = std::move(file);
  const OpenedFile& opened = served_;
  const bool found = opened.error == 0;
  const bool regular = found && opened.status.type == Type::kRegular;
  switch (stage_) {
    case Stage::kTarget:
      if (regular) return ServeOrTryVariants(no_variants);
      if (found) {
        return opened.status.type == Type::kDirectory ? Step::kRedirect
                                                      : Refuse(403);
      }
      break;
    case Stage::kIndex:
      if (regular) return ServeOrTryVariants(no_variants);
      if (found) return Refuse(403);  // an index that is no regular file
      if (opened.error == -ENOENT) {
        if (++index_ < rules_->index.size()) {
          path_.resize(path_.size() - rules_->index[index_ - 1].size());
          path_ += rules_->index[index_];
          return Step::kOpen;
        }
        // No index: 403 for a directory (nginx's answer), 404 otherwise.
        return Open(Stage::kDirectory, request_->path);
      }
      break;
    case Stage::kDirectory:
      if (found && opened.status.type == Type::kDirectory) {
        return rules_->autoindex ? Step::kList : Refuse(403);
      }
      break;
    case Stage::kFallback:
      if (regular) return ServeOrTryVariants(no_variants);
      return Refuse(404);
    case Stage::kVariant: {
      // Skipped: what is no regular file, the original itself (a hard
      // link: not encoded), and a variant older than its original (a stale
      // build artifact: the fresher original is the right content).
      const FileStatus& variant = opened.status;
      const FileStatus& original = original_.status;
      const bool same_file =
          variant.inode == original.inode && variant.device == original.device;
      const bool older = variant.mtime_sec < original.mtime_sec ||
                         (variant.mtime_sec == original.mtime_sec &&
                          variant.mtime_nsec < original.mtime_nsec);
      if (!regular || same_file || older) return NextVariant();
      coding_ = codings_[variant_ - 1];
      original_ = OpenedFile();
      return Serve(200);
    }
    case Stage::kErrorPage: {
      if (regular) return Serve(status_);
      const SiteRules::ErrorPage* page = rules_->ErrorPageFor(status_);
      if (page != nullptr && !page->warned) {
        page->warned = true;
        Log(LogLevel::kWarning,
            "--error-page /%s for %d: %s; answering with the built-in page",
            page->path.c_str(), status_,
            found ? "not a regular file" : std::strerror(-opened.error));
      }
      return Step::kRespond;
    }
  }
  int status = found ? 403 : StatusForOpenError(opened.error);
  if (status >= 500) {
    // Percent-encoded: a decoded "%0a" in a log line would forge the next.
    std::string shown(1, '/');
    AppendPercentEncodedPath(path_, &shown);
    Log(LogLevel::kError, "open %s: %s", shown.c_str(),
        std::strerror(-opened.error));
  }
  if (status == 404 && !rules_->fallback.empty() &&
      stage_ != Stage::kFallback) {
    return Open(Stage::kFallback, rules_->fallback);
  }
  return Refuse(status);
}

}  // namespace ferry

#include "directory_listing.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <functional>

#include "document_root.h"
#include "file_lookup.h"
#include "http_date.h"
#include "url_encoding.h"

namespace ferry {
namespace {

// ---- The request ------------------------------------------------------------

// Whether the Accept field prefers JSON: application/json listed with a
// quality above 0 and before any text/html (a browser's Accept names
// text/html first; a program's, application/json).
bool AcceptsJsonFirst(std::string_view accept) {
  std::size_t json = std::string_view::npos;
  std::size_t html = std::string_view::npos;
  std::size_t start = 0;
  while (start <= accept.size()) {
    std::size_t end = accept.find(',', start);
    if (end == std::string_view::npos) end = accept.size();
    std::string_view item = accept.substr(start, end - start);
    std::size_t params = item.find(';');
    std::string_view type = item.substr(0, params);
    while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) {
      type.remove_prefix(1);
    }
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) {
      type.remove_suffix(1);
    }
    bool refused = params != std::string_view::npos &&
                   (item.find("q=0", params) != std::string_view::npos &&
                    item.find("q=0.", params) == std::string_view::npos);
    if (!refused && type == "application/json" &&
        json == std::string_view::npos) {
      json = start;
    }
    if (!refused && type == "text/html" && html == std::string_view::npos) {
      html = start;
    }
    start = end + 1;
  }
  return json != std::string_view::npos &&
         (html == std::string_view::npos || json < html);
}

// ---- Reading ---------------------------------------------------------------

struct LinuxDirent64 {
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

bool ValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = c < 0x80         ? 1
                         : (c >> 5) == 6  ? 2
                         : (c >> 4) == 14 ? 3
                         : (c >> 3) == 30 ? 4
                                          : 0;
    if (length == 0 || i + length > text.size()) return false;
    std::uint32_t code = length == 1 ? c : c & (0x7F >> length);
    for (std::size_t k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    static constexpr std::uint32_t kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kLeast[length] || code > 0x10FFFF ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

void FromStatx(const struct statx& sx, ListingEntry* entry) {
  entry->directory = S_ISDIR(sx.stx_mode);
  entry->size = entry->directory ? 0 : sx.stx_size;
  entry->mtime_sec = sx.stx_mtime.tv_sec;
  entry->mtime_nsec = sx.stx_mtime.tv_nsec;
}

// ---- Rendering --------------------------------------------------------------

void AppendHtmlEscaped(std::string_view text, std::string* out) {
  for (char c : text) {
    switch (c) {
      case '&':
        out->append("&amp;");
        break;
      case '<':
        out->append("&lt;");
        break;
      case '>':
        out->append("&gt;");
        break;
      case '"':
        out->append("&quot;");
        break;
      case '\'':
        out->append("&#39;");
        break;
      default:
        out->push_back(c);
    }
  }
}

void AppendJsonEscaped(std::string_view text, std::string* out) {
  for (char c : text) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);  // no control characters: ListableName
  }
}

// "./name" (or "./name/"), percent-encoded and then HTML-escaped: the "./"
// keeps a name such as "javascript:x" from reading as a scheme.
void AppendHref(const ListingEntry& entry, std::string* out) {
  std::string href = "./";
  AppendPercentEncodedPath(entry.name, &href);
  if (entry.directory) href += '/';
  AppendHtmlEscaped(href, out);
}

void AppendReadableSize(std::uint64_t size, std::string* out) {
  static constexpr const char* kUnits[] = {"B",   "KiB", "MiB",
                                           "GiB", "TiB", "PiB"};
  char text[32];
  if (size < 1024) {
    std::snprintf(text, sizeof text, "%" PRIu64 " B", size);
  } else {
    double value = static_cast<double>(size);
    std::size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(kUnits)) {
      value /= 1024;
      ++unit;
    }
    std::snprintf(text, sizeof text, value < 10 ? "%.1f %s" : "%.0f %s", value,
                  kUnits[unit]);
  }
  out->append(text);
}

void AppendTime(std::int64_t seconds, std::string* out) {
  std::time_t t = seconds;
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M", &utc);
  out->append(text);
}

const char* SortName(ListingQuery::Sort sort) {
  switch (sort) {
    case ListingQuery::Sort::kSize:
      return "size";
    case ListingQuery::Sort::kTime:
      return "time";
    case ListingQuery::Sort::kName:
      break;
  }
  return "name";
}

// A column heading that sorts by it: ascending, or the other way round when
// the page is sorted by it already.
void AppendSortLink(const ListingQuery& query, ListingQuery::Sort sort,
                    const char* label, std::string* out) {
  bool current = query.sort == sort;
  bool descending = current && !query.descending;
  out->append("<a href=\"?sort=").append(SortName(sort));
  out->append(descending ? "&amp;order=desc\"" : "&amp;order=asc\"");
  if (current) {
    out->append(query.descending ? " aria-sort=\"descending\""
                                 : " aria-sort=\"ascending\"");
  }
  out->append(">").append(label);
  if (current) out->append(query.descending ? " ↓" : " ↑");
  out->append("</a>");
}

void AppendPageLink(const ListingQuery& query, std::uint32_t page,
                    const char* label, std::string* out) {
  out->append("<a href=\"?sort=").append(SortName(query.sort));
  out->append(query.descending ? "&amp;order=desc" : "&amp;order=asc");
  out->append("&amp;page=").append(std::to_string(page)).append("\">");
  out->append(label).append("</a>");
}

constexpr std::string_view kStyle =
    "<style>\n"
    ":root{color-scheme:light dark;--line:#8884}\n"
    "body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:"
    "60rem;padding:0 1rem}\n"
    "h1{font-size:1.3rem;font-weight:600;word-break:break-all}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "th,td{padding:.3rem .6rem;border-bottom:1px solid var(--line)}\n"
    "th{text-align:left;font-weight:600}\n"
    "td.size,th.size{text-align:right;white-space:nowrap}\n"
    "td.time{white-space:nowrap;font-variant-numeric:tabular-nums}\n"
    "td.name{word-break:break-all}\n"
    "a{text-decoration:none}a:hover{text-decoration:underline}\n"
    "th a{color:inherit}\n"
    "footer{margin-top:1rem;opacity:.7;font-size:.9rem}\n"
    "</style>\n";

void RenderHtml(const std::vector<ListingEntry>& entries, std::size_t first,
                std::size_t last, const ListingQuery& query,
                const std::string& path, std::uint32_t pages,
                std::string* out) {
  std::string title = "/" + path + (path.empty() ? "" : "/");
  out->reserve(1024 + (last - first) * 256);
  out->append(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
      "<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, "
      "initial-scale=1\">\n<title>Index of ");
  AppendHtmlEscaped(title, out);
  out->append("</title>\n")
      .append(kStyle)
      .append("</head>\n<body>\n<h1>Index of ");
  AppendHtmlEscaped(title, out);
  out->append("</h1>\n<table>\n<thead><tr><th>");
  AppendSortLink(query, ListingQuery::Sort::kName, "Name", out);
  out->append("</th><th class=\"size\">");
  AppendSortLink(query, ListingQuery::Sort::kSize, "Size", out);
  out->append("</th><th>");
  AppendSortLink(query, ListingQuery::Sort::kTime, "Modified (UTC)", out);
  out->append("</th></tr></thead>\n<tbody>\n");
  if (!path.empty()) {
    out->append(
        "<tr><td class=\"name\"><a href=\"../\">../</a></td>"
        "<td class=\"size\"></td><td class=\"time\"></td></tr>\n");
  }
  for (std::size_t i = first; i < last; ++i) {
    const ListingEntry& entry = entries[i];
    out->append("<tr><td class=\"name\"><a href=\"");
    AppendHref(entry, out);
    out->append("\">");
    AppendHtmlEscaped(entry.name, out);
    if (entry.directory) out->push_back('/');
    out->append("</a></td><td class=\"size\"");
    if (entry.directory) {
      out->append(">—");
    } else {
      out->append(" title=\"").append(std::to_string(entry.size));
      out->append(" bytes\">");
      AppendReadableSize(entry.size, out);
    }
    out->append("</td><td class=\"time\">");
    AppendTime(entry.mtime_sec, out);
    out->append("</td></tr>\n");
  }
  out->append("</tbody>\n</table>\n<footer>");
  out->append(std::to_string(entries.size()));
  out->append(entries.size() == 1 ? " entry" : " entries");
  if (pages > 1) {
    out->append(" · page ").append(std::to_string(query.page));
    out->append(" of ").append(std::to_string(pages));
    if (query.page > 1) {
      out->append(" · ");
      AppendPageLink(query, query.page - 1, "previous", out);
    }
    if (query.page < pages) {
      out->append(" · ");
      AppendPageLink(query, query.page + 1, "next", out);
    }
  }
  out->append("</footer>\n</body>\n</html>\n");
}

// nginx's autoindex_format json: an array of {"name", "type", "mtime"
// (an HTTP date), "size" (files only)}.
void RenderJson(const std::vector<ListingEntry>& entries, std::size_t first,
                std::size_t last, std::string* out) {
  out->reserve(16 + (last - first) * 128);
  out->append("[");
  char date[kHttpDateLength];
  for (std::size_t i = first; i < last; ++i) {
    const ListingEntry& entry = entries[i];
    out->append(i == first ? "\n" : ",\n");
    out->append("{\"name\":\"");
    AppendJsonEscaped(entry.name, out);
    out->append(entry.directory ? "\",\"type\":\"directory\""
                                : "\",\"type\":\"file\"");
    out->append(",\"mtime\":\"");
    out->append(FormatHttpDate(entry.mtime_sec, date));
    out->append("\"");
    if (!entry.directory) {
      out->append(",\"size\":").append(std::to_string(entry.size));
    }
    out->append("}");
  }
  out->append("\n]\n");
}

}  // namespace

ListingQuery ListingQuery::Parse(std::string_view query,
                                 std::string_view accept) {
  ListingQuery result;
  result.json = AcceptsJsonFirst(accept);
  std::size_t start = 0;
  while (start < query.size()) {
    std::size_t end = query.find_first_of("&;", start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    std::size_t equals = pair.find('=');
    std::string_view key = pair.substr(0, equals);
    std::string_view value =
        equals == std::string_view::npos ? "" : pair.substr(equals + 1);
    if (key == "sort") {
      if (value == "size") result.sort = Sort::kSize;
      if (value == "time") result.sort = Sort::kTime;
      if (value == "name") result.sort = Sort::kName;
    } else if (key == "order") {
      result.descending = value == "desc";
    } else if (key == "format") {
      if (value == "json") result.json = true;
      if (value == "html") result.json = false;
    } else if (key == "page") {
      std::uint32_t page = 0;
      auto [end_ptr, error] =
          std::from_chars(value.data(), value.data() + value.size(), page);
      if (error == std::errc() && end_ptr == value.data() + value.size() &&
          page > 0) {
        result.page = page;
      }
    }
    start = end + 1;
  }
  return result;
}

bool ListableName(std::string_view name) {
  for (char c : name) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return false;
  }
  return !name.empty() && ValidUtf8(name);
}

int ReadDirectory(int dir_fd, const DocumentRoot& root, const std::string& path,
                  const SiteRules& rules, std::vector<ListingEntry>* entries) {
  entries->clear();
  const std::string prefix = path.empty() ? "" : path + "/";
  std::string visible;
  alignas(LinuxDirent64) char buffer[64 * 1024];
  for (;;) {
    long n = syscall(SYS_getdents64, dir_fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return 0;
    for (long offset = 0; offset < n;) {
      const auto* dirent =
          reinterpret_cast<const LinuxDirent64*>(buffer + offset);
      offset += dirent->d_reclen;
      std::string_view name(dirent->d_name);
      if (name == "." || name == ".." || !ListableName(name)) continue;
      if (entries->size() >= kMaxEntries) return 0;
      ListingEntry entry;
      entry.name.assign(name);
      struct statx sx {};
      if (statx(dir_fd, entry.name.c_str(), AT_SYMLINK_NOFOLLOW,
                STATX_TYPE | STATX_SIZE | STATX_MTIME, &sx) != 0) {
        continue;  // gone meanwhile
      }
      if (S_ISLNK(sx.stx_mode)) {
        // Listed as its target, and only when that is beneath the root.
        FileStatus target;
        if (root.StatBeneath(prefix + entry.name, &target) != 0 ||
            target.type == FileStatus::Type::kOther) {
          continue;
        }
        entry.directory = target.type == FileStatus::Type::kDirectory;
        entry.size = entry.directory ? 0 : target.size;
        entry.mtime_sec = target.mtime_sec;
        entry.mtime_nsec = target.mtime_nsec;
      } else if (S_ISREG(sx.stx_mode) || S_ISDIR(sx.stx_mode)) {
        FromStatx(sx, &entry);
      } else {
        continue;  // devices, FIFOs, sockets: never served
      }
      visible.assign(1, '/');
      visible += prefix;
      visible += entry.name;
      if (entry.directory) visible += '/';
      if (!rules.Visible(visible)) continue;
      entries->push_back(std::move(entry));
    }
  }
}

Listing RenderListing(std::vector<ListingEntry>& entries,
                      const ListingQuery& query, const std::string& path,
                      std::int64_t directory_mtime_sec,
                      std::uint32_t directory_mtime_nsec) {
  auto key_less = [&](const ListingEntry& a, const ListingEntry& b) {
    switch (query.sort) {
      case ListingQuery::Sort::kSize:
        if (a.size != b.size) return a.size < b.size;
        break;
      case ListingQuery::Sort::kTime:
        if (a.mtime_sec != b.mtime_sec) return a.mtime_sec < b.mtime_sec;
        if (a.mtime_nsec != b.mtime_nsec) return a.mtime_nsec < b.mtime_nsec;
        break;
      case ListingQuery::Sort::kName:
        break;
    }
    return a.name < b.name;
  };
  std::sort(entries.begin(), entries.end(),
            [&](const ListingEntry& a, const ListingEntry& b) {
              if (a.directory != b.directory) return a.directory;
              return query.descending ? key_less(b, a) : key_less(a, b);
            });
  Listing listing;
  listing.json = query.json;
  const auto pages = static_cast<std::uint32_t>(std::max<std::size_t>(
      1, (entries.size() + kPageEntries - 1) / kPageEntries));
  if (query.page > pages) {
    listing.found = false;
    return listing;
  }
  const std::size_t first = (query.page - 1) * kPageEntries;
  const std::size_t last = std::min(entries.size(), first + kPageEntries);
  listing.mtime_sec = directory_mtime_sec;
  listing.mtime_nsec = directory_mtime_nsec;
  for (std::size_t i = first; i < last; ++i) {
    const ListingEntry& entry = entries[i];
    if (entry.mtime_sec > listing.mtime_sec ||
        (entry.mtime_sec == listing.mtime_sec &&
         entry.mtime_nsec > listing.mtime_nsec)) {
      listing.mtime_sec = entry.mtime_sec;
      listing.mtime_nsec = entry.mtime_nsec;
    }
  }
  if (query.json) {
    RenderJson(entries, first, last, &listing.body);
  } else {
    RenderHtml(entries, first, last, query, path, pages, &listing.body);
  }
  listing.hash = std::hash<std::string>{}(listing.body);
  return listing;
}

}  // namespace ferry

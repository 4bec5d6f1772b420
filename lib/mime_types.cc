#include "mime_types.h"

#include <fstream>
#include <sstream>

#include "http_syntax.h"

namespace ferry {
namespace {

struct BuiltinType {
  std::string_view extension;
  std::string_view type;
};

constexpr BuiltinType kBuiltinTypes[] = {
    {"html", "text/html"},
    {"htm", "text/html"},
    {"css", "text/css"},
    {"js", "text/javascript"},
    {"mjs", "text/javascript"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain"},
    {"md", "text/markdown"},
    {"csv", "text/csv"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"},
    {"bmp", "image/bmp"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tgz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"xz", "application/x-xz"},
    {"bz2", "application/x-bzip2"},
    {"zst", "application/zstd"},
    {"wasm", "application/wasm"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"ogv", "video/ogg"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"flac", "audio/flac"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"iso", "application/octet-stream"},
    {"deb", "application/vnd.debian.binary-package"},
};

constexpr std::string_view kDefaultType = "application/octet-stream";
constexpr std::string_view kCharset = "; charset=utf-8";

// Extensions longer than this are not looked up (none in mime.types is).
constexpr std::size_t kMaxExtension = 32;

bool IsTextType(std::string_view type) {
  return type.substr(0, 5) == "text/" || type == "application/javascript" ||
         type == "application/json" || type == "image/svg+xml";
}

}  // namespace

MimeTypes::MimeTypes() {
  by_extension_.reserve(std::size(kBuiltinTypes));
  for (const BuiltinType& entry : kBuiltinTypes) {
    Set(entry.extension, entry.type);
  }
}

void MimeTypes::Set(std::string_view extension, std::string_view type) {
  std::string value(type);
  if (IsTextType(type)) value.append(kCharset);
  std::string key(extension);
  for (char& c : key) c = ToLowerAscii(c);
  by_extension_.insert_or_assign(std::move(key), std::move(value));
}

bool MimeTypes::LoadFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return false;
  std::string line;
  while (std::getline(file, line)) {
    const std::size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::string type;
    if (!(fields >> type) || type.find('/') == std::string::npos) continue;
    std::string extension;
    while (fields >> extension) {
      if (extension.size() <= kMaxExtension) Set(extension, type);
    }
  }
  return !file.bad();
}

std::string_view MimeTypes::Lookup(std::string_view path) const {
  const std::size_t slash = path.rfind('/');
  const std::string_view name =
      slash == std::string_view::npos ? path : path.substr(slash + 1);
  const std::size_t dot = name.rfind('.');
  // "name." has no extension; neither has a dotfile such as ".profile".
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) {
    return kDefaultType;
  }
  const std::string_view extension = name.substr(dot + 1);
  if (extension.size() > kMaxExtension) return kDefaultType;
  char lower[kMaxExtension];
  for (std::size_t i = 0; i < extension.size(); ++i) {
    lower[i] = ToLowerAscii(extension[i]);
  }
  const auto it = by_extension_.find(std::string_view(lower, extension.size()));
  return it == by_extension_.end() ? kDefaultType
                                   : std::string_view(it->second);
}

}  // namespace ferry

#pragma once
// Content-Type by file extension.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ferry {

/// Maps lower-cased file extensions to media types. Built at start-up, read
/// only afterwards (lookups do not allocate).
class MimeTypes {
 public:
  /// The built-in table only (html, css, js, json, txt, png, jpg, gif, svg,
  /// webp, ico, pdf, zip, gz, tar, xml, wasm, mp4, webm, mp3, woff2, ...).
  MimeTypes();

  /// Adds the entries of a mime.types file (lines "type ext1 ext2 ...",
  /// '#' comments), overriding built-in ones. Returns false when the file
  /// cannot be read (the built-in table stays).
  bool LoadFile(const std::string& path);

  /// The type for `path`'s extension (case-insensitive), or
  /// "application/octet-stream". Text types get "; charset=utf-8" added.
  std::string_view Lookup(std::string_view path) const;

 private:
  /// Lets Lookup find a std::string key from a std::string_view (no
  /// temporary string, so no allocation).
  struct ExtensionHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>{}(s);
    }
  };

  /// Adds or replaces one lower-cased extension's type, adding the charset
  /// parameter to text types.
  void Set(std::string_view extension, std::string_view type);

  std::unordered_map<std::string, std::string, ExtensionHash, std::equal_to<>>
      by_extension_;
};

}  // namespace ferry

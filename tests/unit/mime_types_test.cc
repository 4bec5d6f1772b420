#include "mime_types.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "allocation_counter.h"
namespace ferry {
namespace {

// A mime.types file in a fresh temporary directory, removed afterwards.
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    char dir[] = "/tmp/ferry_mime_XXXXXX";
    dir_ = mkdtemp(dir);
    path_ = dir_ + "/mime.types";
    std::ofstream(path_) << contents;
  }
  ~TempFile() {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  const std::string& Path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

TEST(MimeTypes, BuiltIn) {
  const MimeTypes types;
  EXPECT_EQ(types.Lookup("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(types.Lookup("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(types.Lookup("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(types.Lookup("data.json"), "application/json; charset=utf-8");
  EXPECT_EQ(types.Lookup("notes.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(types.Lookup("logo.svg"), "image/svg+xml; charset=utf-8");
  EXPECT_EQ(types.Lookup("a.png"), "image/png");
  EXPECT_EQ(types.Lookup("a.jpg"), "image/jpeg");
  EXPECT_EQ(types.Lookup("a.jpeg"), "image/jpeg");
  EXPECT_EQ(types.Lookup("a.gif"), "image/gif");
  EXPECT_EQ(types.Lookup("a.webp"), "image/webp");
  EXPECT_EQ(types.Lookup("a.pdf"), "application/pdf");
  EXPECT_EQ(types.Lookup("a.wasm"), "application/wasm");
  EXPECT_EQ(types.Lookup("a.woff2"), "font/woff2");
  EXPECT_EQ(types.Lookup("a.mp4"), "video/mp4");
  EXPECT_EQ(types.Lookup("a.tar.gz"), "application/gzip");
}

TEST(MimeTypes, CaseInsensitive) {
  const MimeTypes types;
  EXPECT_EQ(types.Lookup("INDEX.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(types.Lookup("photo.JpG"), "image/jpeg");
}

TEST(MimeTypes, UsesLastSegmentOnly) {
  const MimeTypes types;
  EXPECT_EQ(types.Lookup("dir.html/file"), "application/octet-stream");
  EXPECT_EQ(types.Lookup("a.d/b/c.css"), "text/css; charset=utf-8");
}

TEST(MimeTypes, Unknown) {
  const MimeTypes types;
  EXPECT_EQ(types.Lookup(""), "application/octet-stream");
  EXPECT_EQ(types.Lookup("README"), "application/octet-stream");
  EXPECT_EQ(types.Lookup("file."), "application/octet-stream");
  EXPECT_EQ(types.Lookup(".html"), "application/octet-stream");  // dotfile
  EXPECT_EQ(types.Lookup("a.nosuchext"), "application/octet-stream");
  EXPECT_EQ(types.Lookup("a." + std::string(100, 'x')),
            "application/octet-stream");
}

TEST(MimeTypes, LoadFileAddsAndOverrides) {
  const TempFile file(
      "# comment line\n"
      "\n"
      "application/x-ferry\tfry FRY2   ferry\n"
      "image/x-custom png # trailing comment\n"
      "text/x-thing\t\tthing\n"
      "application/no-extensions\n"
      "notatype foo\n");
  MimeTypes types;
  EXPECT_TRUE(types.LoadFile(file.Path()));
  EXPECT_EQ(types.Lookup("a.fry"), "application/x-ferry");
  EXPECT_EQ(types.Lookup("a.fry2"), "application/x-ferry");
  EXPECT_EQ(types.Lookup("a.ferry"), "application/x-ferry");
  EXPECT_EQ(types.Lookup("a.png"), "image/x-custom");
  EXPECT_EQ(types.Lookup("a.thing"), "text/x-thing; charset=utf-8");
  EXPECT_EQ(types.Lookup("a.foo"), "application/octet-stream");
  EXPECT_EQ(types.Lookup("a.comment"), "application/octet-stream");
  EXPECT_EQ(types.Lookup("a.html"), "text/html; charset=utf-8");  // kept
}

TEST(MimeTypes, MissingFileKeepsBuiltIn) {
  MimeTypes types;
  EXPECT_FALSE(types.LoadFile("/nonexistent/ferry/mime.types"));
  EXPECT_EQ(types.Lookup("a.css"), "text/css; charset=utf-8");
}

TEST(MimeTypes, SystemFile) {
  MimeTypes types;
  if (!types.LoadFile("/etc/mime.types")) {
    GTEST_SKIP() << "/etc/mime.types is not installed here";
  }
  EXPECT_EQ(types.Lookup("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(types.Lookup("a.json"), "application/json; charset=utf-8");
  EXPECT_EQ(types.Lookup("a.svg"), "image/svg+xml; charset=utf-8");
}

TEST(MimeTypes, LookupAllocatesNothing) {
  const MimeTypes types;
  const AllocationCounter counter;
  types.Lookup("some/dir/Picture.JPEG");
  types.Lookup("a/b/c.a-rather-long-extension-name");
  types.Lookup("README");
  EXPECT_EQ(counter.count(), 0);
}

}  // namespace
}  // namespace ferry

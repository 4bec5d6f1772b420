#include "config_file.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "test_files.h"

namespace ferry {
namespace {

namespace po = boost::program_options;

using testing::TempDir;

po::options_description Settings() {
  po::options_description settings;
  settings.add_options()("root", po::value<std::string>())(
      "workers", po::value<unsigned>())("listen",
                                        po::value<std::vector<std::string>>())(
      "hide", po::value<std::vector<std::string>>());
  return settings;
}

/// The ConfigError ScanConfigFile throws for `text` in "ferryd.conf".
std::string ScanError(const std::string& text) {
  try {
    ScanConfigFile("ferryd.conf", text, Settings());
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(ConfigFile, RecordsTheLineAndValueOfEachSetting) {
  ConfigFile file = ScanConfigFile("/etc/ferryd.conf",
                                   "# ferryd\n"
                                   "\n"
                                   "  root = /srv/www  # the root\r\n"
                                   "workers=4\n"
                                   "listen = :80\n"
                                   "listen = unix:/run/f.sock\n",
                                   Settings());
  EXPECT_EQ(file.path, "/etc/ferryd.conf");
  ASSERT_EQ(file.lines.size(), 4u);
  EXPECT_EQ(file.lines.find("root")->second,
            (std::pair<int, std::string>{3, "/srv/www"}));
  EXPECT_EQ(file.lines.find("workers")->second,
            (std::pair<int, std::string>{4, "4"}));
  EXPECT_EQ(file.lines.count("listen"), 2u);

  EXPECT_EQ(file.Where("root", ""), "/etc/ferryd.conf:3: ");
  EXPECT_EQ(file.Where("workers", "4"), "/etc/ferryd.conf:4: ");
  // A repeated setting: the line with that value.
  EXPECT_EQ(file.Where("listen", "unix:/run/f.sock"), "/etc/ferryd.conf:6: ");
  EXPECT_EQ(file.Where("listen", ":80"), "/etc/ferryd.conf:5: ");
  // No line with that value (a value the command line gave): the first.
  EXPECT_EQ(file.Where("listen", ":9000"), "/etc/ferryd.conf:5: ");
  // Not in the file: nothing to name.
  EXPECT_EQ(file.Where("bogus", ""), "");
  EXPECT_EQ(file.Where("bogus", "1"), "");
}

// Every repeatable option (a vector of values) takes one value a line, as
// the shipped config shows for --hide and --error-page.
TEST(ConfigFile, EveryRepeatableOptionMayRepeat) {
  ConfigFile file =
      ScanConfigFile("f", "hide = /.git/*\nhide = *.bak\n", Settings());
  EXPECT_EQ(file.lines.count("hide"), 2u);
  EXPECT_EQ(file.Where("hide", "*.bak"), "f:2: ");
}

TEST(ConfigFile, AnEmptyFileHasNoSettings) {
  ConfigFile file =
      ScanConfigFile("f", "# only a comment\n\n   \n", Settings());
  EXPECT_TRUE(file.lines.empty());
  EXPECT_EQ(file.Where("root", ""), "");
}

TEST(ConfigFile, EachErrorNamesFileAndLine) {
  EXPECT_EQ(ScanError("root = /a\n\nbogus = 1\n"),
            "ferryd.conf:3: unknown option 'bogus'");
  EXPECT_EQ(ScanError("workers = 1\nworkers = 2\n"),
            "ferryd.conf:2: --workers: given twice (first on line 1)");
  EXPECT_EQ(ScanError("\n\nroot\n"),
            "ferryd.conf:3: expected 'name = value', got 'root'");
  EXPECT_EQ(ScanError("[main]\n"),
            "ferryd.conf:1: expected 'name = value', got '[main]'");
  EXPECT_EQ(ScanError(" = x\n"),
            "ferryd.conf:1: expected 'name = value', got '= x'");
  EXPECT_EQ(ScanError("root = # nothing\n"), "ferryd.conf:1: --root: no value");
  // Options are matched whole: no abbreviations.
  EXPECT_EQ(ScanError("work = 2\n"), "ferryd.conf:1: unknown option 'work'");
  EXPECT_EQ(ScanError("listen = :1\nlisten = :2\n"), "");
}

TEST(ConfigFile, ReadConfigFileReadsOrNamesConfig) {
  TempDir dir;
  std::string text = "root = /srv\nworkers = 2\n";
  EXPECT_EQ(ReadConfigFile(dir.Write("ferryd.conf", text)), text);
  std::string missing = dir.path() + "/missing.conf";
  for (const auto& [path, reason] :
       {std::pair{missing, std::strerror(ENOENT)},
        std::pair{dir.path(), std::strerror(EISDIR)}}) {
    try {
      ReadConfigFile(path);
      ADD_FAILURE() << path << " was read";
    } catch (const ConfigError& error) {
      EXPECT_EQ(std::string(error.what()),
                "--config: cannot read '" + path + "': " + reason);
    }
  }
}

}  // namespace
}  // namespace ferry

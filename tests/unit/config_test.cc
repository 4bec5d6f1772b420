#include "config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace ferry {
namespace {

using Args = std::vector<std::string>;

Invocation Parse(const Args& args) {
  std::vector<const char*> argv = {"ferryd"};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
}

/// The ConfigError message for `args`, or "" when they parse.
std::string ErrorOf(const Args& args) {
  try {
    Parse(args);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

/// A temporary file, removed when destroyed.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/ferry_config_testXXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    if (fd >= 0) ::close(fd);
    path_ = name;
    Write(text);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void Write(const std::string& text) const {
    std::ofstream(path_, std::ios::trunc) << text;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void ExpectSameListen(const std::vector<ListenAddress>& a,
                      const std::vector<ListenAddress>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].kind, b[i].kind) << i;
    EXPECT_EQ(a[i].host, b[i].host) << i;
    EXPECT_EQ(a[i].port, b[i].port) << i;
    EXPECT_EQ(a[i].path, b[i].path) << i;
    EXPECT_EQ(a[i].text, b[i].text) << i;
  }
}

/// Every field but config_file.
void ExpectSameConfig(const Config& a, const Config& b) {
  EXPECT_EQ(a.root, b.root);
  ExpectSameListen(a.listen, b.listen);
  EXPECT_EQ(a.listen_given, b.listen_given);
  EXPECT_EQ(a.workers, b.workers);
  EXPECT_EQ(a.helper_threads, b.helper_threads);
  EXPECT_EQ(a.block_size, b.block_size);
  EXPECT_EQ(a.read_ahead, b.read_ahead);
  EXPECT_EQ(a.queue_depth, b.queue_depth);
  EXPECT_EQ(a.buffer_memory, b.buffer_memory);
  EXPECT_EQ(a.max_connections, b.max_connections);
  EXPECT_EQ(a.header_timeout, b.header_timeout);
  EXPECT_EQ(a.idle_timeout, b.idle_timeout);
  EXPECT_EQ(a.send_timeout, b.send_timeout);
  EXPECT_EQ(a.shutdown_timeout, b.shutdown_timeout);
  EXPECT_EQ(a.max_request_line, b.max_request_line);
  EXPECT_EQ(a.max_header_bytes, b.max_header_bytes);
  EXPECT_EQ(a.max_headers, b.max_headers);
  EXPECT_EQ(a.max_ranges, b.max_ranges);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.allow_dotfiles, b.allow_dotfiles);
  EXPECT_EQ(a.precompressed, b.precompressed);
  EXPECT_EQ(a.mlock, b.mlock);
  EXPECT_EQ(a.ssl_redirect, b.ssl_redirect);
  EXPECT_EQ(a.log_level, b.log_level);
  EXPECT_EQ(a.mime_types, b.mime_types);
}

TEST(ConfigTest, DefaultsAreTheDocumentedOnes) {
  const Invocation invocation = Parse({});
  EXPECT_EQ(invocation.action, Invocation::Action::kRun);
  const Config& c = invocation.config;
  Config expected;
  expected.root = c.root;
  expected.listen = {ParseListenAddress("127.0.0.1:8080")};
  ExpectSameConfig(c, expected);
  EXPECT_FALSE(c.root.empty());
  EXPECT_FALSE(c.listen_given);
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.listen[0].port, 8080);
  EXPECT_EQ(c.config_file, "");
  EXPECT_EQ(c.block_size, 1024u * 1024);
  EXPECT_EQ(c.read_ahead, 2u);
  EXPECT_EQ(c.buffer_memory, 64u << 20);
  EXPECT_EQ(c.idle_timeout, Milliseconds(60'000));
}

TEST(ConfigTest, Actions) {
  EXPECT_EQ(Parse({"--help"}).action, Invocation::Action::kHelp);
  EXPECT_EQ(Parse({"-h"}).action, Invocation::Action::kHelp);
  EXPECT_EQ(Parse({"--version"}).action, Invocation::Action::kVersion);
  EXPECT_EQ(Parse({"-V"}).action, Invocation::Action::kVersion);
  EXPECT_EQ(Parse({"--check-config"}).action, Invocation::Action::kCheckConfig);
  // --help does not need the rest to be valid.
  EXPECT_EQ(Parse({"--help", "--block-size", "3K"}).action,
            Invocation::Action::kHelp);
}

TEST(ConfigTest, ByteSizeSuffixes) {
  EXPECT_EQ(ParseByteSize("0"), 0u);
  EXPECT_EQ(ParseByteSize("512"), 512u);
  EXPECT_EQ(ParseByteSize("512B"), 512u);
  EXPECT_EQ(ParseByteSize("4k"), 4096u);
  EXPECT_EQ(ParseByteSize("4K"), 4096u);
  EXPECT_EQ(ParseByteSize("4KB"), 4096u);
  EXPECT_EQ(ParseByteSize("4kb"), 4096u);
  EXPECT_EQ(ParseByteSize("2M"), 2u << 20);
  EXPECT_EQ(ParseByteSize("2mB"), 2u << 20);
  EXPECT_EQ(ParseByteSize("1G"), 1ull << 30);
  EXPECT_EQ(ParseByteSize("3g"), 3ull << 30);
  for (const char* bad :
       {"", "K", "B", "4X", "4KK", "4BB", "-1", "+1", "1.5M", " 4K", "4K ",
        "4 K", "99999999999999999999", "17179869184G"}) {
    EXPECT_THROW(ParseByteSize(bad), std::invalid_argument) << bad;
  }
}

TEST(ConfigTest, DurationSuffixes) {
  EXPECT_EQ(ParseDuration("250ms"), Milliseconds(250));
  EXPECT_EQ(ParseDuration("10s"), Milliseconds(10'000));
  EXPECT_EQ(ParseDuration("5m"), Milliseconds(300'000));
  EXPECT_EQ(ParseDuration("1h"), Milliseconds(3'600'000));
  EXPECT_EQ(ParseDuration("30"), Milliseconds(30'000));
  EXPECT_EQ(ParseDuration("0"), Milliseconds(0));
  EXPECT_EQ(ParseDuration("2S"), Milliseconds(2'000));
  for (const char* bad : {"", "s", "ms", "10x", "10sec", "1.5s", "-1", "10 s",
                          "99999999999999999999h", "9999999999999999h"}) {
    EXPECT_THROW(ParseDuration(bad), std::invalid_argument) << bad;
  }
}

// "now + timeout" once wrapped: --idle-timeout 9223372036854775807ms
// closed connections after 0.43 s.
TEST(ConfigTest, DurationsAreAtMostAWeek) {
  EXPECT_EQ(ParseDuration("168h"), kMaxDuration);
  EXPECT_THROW(ParseDuration("169h"), std::invalid_argument);
  std::string message = ErrorOf({"--idle-timeout", "9223372036854775807ms"});
  EXPECT_EQ(message.rfind("--idle-timeout: '9223372036854775807ms' ", 0), 0u)
      << message;
  EXPECT_NE(message.find("at most"), std::string::npos) << message;
  EXPECT_EQ(ErrorOf({"--send-timeout", "168h"}), "");
}

TEST(ConfigTest, CommandLineValues) {
  const Config c = Parse({"--root=/srv/www",
                          "--listen",
                          "[::1]:0",
                          "--listen",
                          "unix:/run/f.sock",
                          "--workers",
                          "3",
                          "--helper-threads",
                          "64",
                          "--block-size",
                          "1m",
                          "--read-ahead",
                          "8",
                          "--queue-depth",
                          "65536",
                          "--buffer-memory",
                          "1G",
                          "--max-connections",
                          "1000000",
                          "--header-timeout",
                          "500ms",
                          "--idle-timeout",
                          "2m",
                          "--send-timeout",
                          "1h",
                          "--shutdown-timeout",
                          "0",
                          "--max-request-line",
                          "256",
                          "--max-header-bytes",
                          "1MB",
                          "--max-headers",
                          "10000",
                          "--max-ranges",
                          "1",
                          "--index",
                          "default.htm",
                          "--allow-dotfiles",
                          "--log-level",
                          "debug",
                          "--mime-types",
                          "/tmp/mime"})
                       .config;
  EXPECT_EQ(c.root, "/srv/www");
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_TRUE(c.listen_given);
  EXPECT_EQ(c.listen[0].host, "::1");
  EXPECT_EQ(c.listen[1].path, "/run/f.sock");
  EXPECT_EQ(c.workers, 3u);
  EXPECT_EQ(c.helper_threads, 64u);
  EXPECT_EQ(c.block_size, 1u << 20);
  EXPECT_EQ(c.read_ahead, 8u);
  EXPECT_EQ(c.queue_depth, 65536u);
  EXPECT_EQ(c.buffer_memory, 1ull << 30);
  EXPECT_EQ(c.max_connections, 1'000'000u);
  EXPECT_EQ(c.header_timeout, Milliseconds(500));
  EXPECT_EQ(c.idle_timeout, Milliseconds(120'000));
  EXPECT_EQ(c.send_timeout, Milliseconds(3'600'000));
  EXPECT_EQ(c.shutdown_timeout, Milliseconds(0));
  EXPECT_EQ(c.max_request_line, 256u);
  EXPECT_EQ(c.max_header_bytes, 1u << 20);
  EXPECT_EQ(c.max_headers, 10000u);
  EXPECT_EQ(c.max_ranges, 1u);
  EXPECT_EQ(c.index, std::vector<std::string>{"default.htm"});
  EXPECT_TRUE(c.allow_dotfiles);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.mime_types, "/tmp/mime");
}

TEST(ConfigTest, PrecompressedCodingsInOrder) {
  EXPECT_TRUE(Parse({}).config.precompressed.empty());
  EXPECT_TRUE(Parse({"--precompressed", "off"}).config.precompressed.empty());
  EXPECT_EQ(Parse({"--precompressed", "on"}).config.precompressed,
            (std::vector<std::string>{"br", "zstd", "gzip"}));
  EXPECT_EQ(Parse({"--precompressed", "gzip,zstd"}).config.precompressed,
            (std::vector<std::string>{"gzip", "zstd"}));
  EXPECT_NE(DescribeConfig(Parse({"--precompressed", "on"}).config)
                .find("precompressed = br,zstd,gzip\n"),
            std::string::npos);
}

TEST(ConfigTest, BlockSizeMessageIsTheDocumentedOne) {
  EXPECT_EQ(ErrorOf({"--block-size", "3K"}),
            "--block-size: '3K' is not a power of two between 4K and 64M");
}

TEST(ConfigTest, EachBadValueNamesItsFlag) {
  const std::vector<std::pair<Args, std::string>> cases = {
      {{"--root", ""}, "--root"},
      {{"--listen", "localhost:80"}, "--listen"},
      {{"--workers", "abc"}, "--workers"},
      {{"--workers", "4097"}, "--workers"},
      {{"--workers", "-1"}, "--workers"},
      {{"--helper-threads", "0"}, "--helper-threads"},
      {{"--helper-threads", "65"}, "--helper-threads"},
      {{"--block-size", "2K"}, "--block-size"},
      {{"--block-size", "128M"}, "--block-size"},
      {{"--block-size", "12K"}, "--block-size"},
      {{"--block-size", "big"}, "--block-size"},
      {{"--read-ahead", "0"}, "--read-ahead"},
      {{"--send-min-rate", "2G"}, "--send-min-rate"},
      {{"--send-min-rate", "fast"}, "--send-min-rate"},
      {{"--read-ahead", "65"}, "--read-ahead"},
      {{"--queue-depth", "0"}, "--queue-depth"},
      {{"--queue-depth", "65537"}, "--queue-depth"},
      {{"--buffer-memory", "lots"}, "--buffer-memory"},
      {{"--buffer-memory", "512K"}, "--buffer-memory"},  // < 256K * 4
      {{"--block-size", "1M", "--read-ahead", "64", "--buffer-memory", "32M"},
       "--buffer-memory"},
      {{"--max-connections", "0"}, "--max-connections"},
      {{"--max-connections", "1000001"}, "--max-connections"},
      {{"--header-timeout", "0"}, "--header-timeout"},
      {{"--header-timeout", "soon"}, "--header-timeout"},
      {{"--idle-timeout", "0s"}, "--idle-timeout"},
      {{"--send-timeout", "0ms"}, "--send-timeout"},
      {{"--shutdown-timeout", "-1"}, "--shutdown-timeout"},
      {{"--max-request-line", "255"}, "--max-request-line"},
      {{"--max-request-line", "2M"}, "--max-request-line"},
      {{"--max-header-bytes", "4K"}, "--max-header-bytes"},  // < 8K line
      {{"--max-header-bytes", "2M"}, "--max-header-bytes"},
      {{"--max-headers", "0"}, "--max-headers"},
      {{"--max-headers", "10001"}, "--max-headers"},
      {{"--max-ranges", "0"}, "--max-ranges"},
      {{"--max-ranges", "10001"}, "--max-ranges"},
      {{"--index", "a/b"}, "--index"},
      {{"--index", ""}, "--index"},
      {{"--index", ".."}, "--index"},
      {{"--precompressed", "deflate"}, "--precompressed"},
      {{"--precompressed", "br,br"}, "--precompressed"},
      {{"--precompressed", "br,"}, "--precompressed"},
      {{"--precompressed", "GZIP"}, "--precompressed"},
      {{"--precompressed", ""}, "--precompressed"},
      {{"--log-level", "verbose"}, "--log-level"},
      {{"--mime-types", ""}, "--mime-types"},
      {{"--config", "/nonexistent/ferryd.conf"}, "--config"},
      {{"--config", "/"}, "--config"},
      {{"--bogus"}, "--bogus"},
      {{"--root"}, "--root"},
      {{"--workers", "1", "--workers", "2"}, "--workers"},
      {{"--allow-dotfiles=yes"}, "--allow-dotfiles"},
      {{"--block"}, "--block"},                // no abbreviations
      {{"--ssl-redirect"}, "--ssl-redirect"},  // no --ssl to redirect to
      {{"--listen", "unix:/run/t.sock", "--ssl", "unix:/run/t.sock",
        "--ssl-certificate", "c.pem", "--ssl-certificate-key", "k.pem",
        "--ssl-redirect"},
       "--ssl-redirect"},  // no URL names a unix socket
  };
  for (const auto& [args, flag] : cases) {
    const std::string message = ErrorOf(args);
    SCOPED_TRACE(args.front() + (args.size() > 1 ? " " + args[1] : ""));
    EXPECT_EQ(message.rfind(flag + ": ", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(ConfigTest, BoundaryValuesAreAccepted) {
  EXPECT_EQ(ErrorOf({"--block-size", "4K", "--buffer-memory", "4K",
                     "--read-ahead", "1"}),
            "");
  EXPECT_EQ(ErrorOf({"--block-size", "64M", "--buffer-memory", "256M"}), "");
  EXPECT_EQ(ErrorOf({"--max-request-line", "1M", "--max-header-bytes", "1M"}),
            "");
  EXPECT_EQ(ErrorOf({"--workers", "4096"}), "");
}

TEST(ConfigTest, MessagesAreSpecific) {
  EXPECT_EQ(ErrorOf({"--bogus"}), "--bogus: unknown option");
  EXPECT_EQ(ErrorOf({"--root"}), "--root: missing argument");
  EXPECT_EQ(ErrorOf({"--root", "--listen", ":80"}).rfind("--root: missing", 0),
            0u);
  EXPECT_EQ(ErrorOf({"--root=--x"}), "");
  EXPECT_EQ(ErrorOf({"--workers", "1", "--workers", "2"}),
            "--workers: given more than once");
  EXPECT_NE(ErrorOf({"stray"}).find("'stray'"), std::string::npos);
  EXPECT_NE(ErrorOf({"--buffer-memory", "512K"}).find("--block-size"),
            std::string::npos);
}

TEST(ConfigTest, FileSetsValuesAndCommandLineWins) {
  TempFile file(
      "# ferryd test\n"
      "\n"
      "  workers = 3   # three\n"
      "block-size=1M\n"
      "listen = unix:/run/a.sock\n"
      "listen = 127.0.0.1:81\n"
      "allow-dotfiles = true\n"
      "log-level = debug\n");
  Config c = Parse({"--config", file.path()}).config;
  EXPECT_EQ(c.config_file, file.path());
  EXPECT_EQ(c.workers, 3u);
  EXPECT_EQ(c.block_size, 1u << 20);
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_TRUE(c.listen_given);
  EXPECT_EQ(c.listen[0].path, "/run/a.sock");
  EXPECT_EQ(c.listen[1].port, 81);
  EXPECT_TRUE(c.allow_dotfiles);
  EXPECT_EQ(c.log_level, "debug");

  c = Parse({"--workers", "5", "--config", file.path(), "--listen", ":9000"})
          .config;
  EXPECT_EQ(c.workers, 5u);
  EXPECT_EQ(c.block_size, 1u << 20);
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].port, 9000);

  file.Write("allow-dotfiles = false\n");
  EXPECT_FALSE(Parse({"--config", file.path()}).config.allow_dotfiles);
  EXPECT_TRUE(Parse({"--config", file.path(), "--allow-dotfiles"})
                  .config.allow_dotfiles);
}

TEST(ConfigTest, FileErrorsNameFileLineAndFlag) {
  TempFile file("");
  const std::string at = file.path() + ":";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"workers = 2\n\nbogus = 1\n", at + "3: unknown option 'bogus'"},
      {"config = /etc/other.conf\n", at + "1: unknown option 'config'"},
      {"help = true\n", at + "1: unknown option 'help'"},
      {"workers = 2\nworkers = 3\n", at + "2: --workers: given twice"},
      {"workers\n", at + "1: expected 'name = value'"},
      {"[server]\nworkers = 2\n", at + "1: expected 'name = value'"},
      {"root =\n", at + "1: --root: no value"},
      {"# x\nblock-size = 3K\n", at + "2: --block-size: '3K' is not"},
      {"listen = :80\nlisten = nowhere:80\n", at + "2: --listen: 'nowhere:80'"},
      {"allow-dotfiles = maybe\n", at + "1: --allow-dotfiles: expects true"},
      {"idle-timeout = 0\n", at + "1: --idle-timeout: '0'"},
  };
  for (const auto& [text, expected] : cases) {
    file.Write(text);
    const std::string message = ErrorOf({"--config", file.path()});
    EXPECT_NE(message.find(expected), std::string::npos)
        << "file: " << text << "message: " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  // A bad value on the command line is not blamed on the file.
  file.Write("workers = 2\n");
  EXPECT_EQ(ErrorOf({"--config", file.path(), "--block-size", "3K"})
                .rfind("--block-size: ", 0),
            0u);
}

TEST(ConfigTest, ReloadConfigRereadsTheFile) {
  TempFile file("workers = 2\nidle-timeout = 5s\n");
  const Args args = {"ferryd", "--config", file.path(), "--workers", "7"};
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  const int argc = static_cast<int>(argv.size());
  EXPECT_EQ(ReloadConfig(argc, argv.data()).idle_timeout, Milliseconds(5'000));
  file.Write("workers = 2\nidle-timeout = 9s\n");
  const Config c = ReloadConfig(argc, argv.data());
  EXPECT_EQ(c.idle_timeout, Milliseconds(9'000));
  EXPECT_EQ(c.workers, 7u);
  file.Write("idle-timeout = never\n");
  EXPECT_THROW(ReloadConfig(argc, argv.data()), ConfigError);
}

TEST(ConfigTest, DescribeConfigRoundTrips) {
  Config defaults = Parse({}).config;
  Config custom = Parse({"--root",
                         "/srv/a b",
                         "--listen",
                         "8081",
                         "--listen",
                         "[::]:82",
                         "--listen",
                         "unix:/run/c.sock",
                         "--workers",
                         "2",
                         "--helper-threads",
                         "3",
                         "--block-size",
                         "8K",
                         "--read-ahead",
                         "5",
                         "--queue-depth",
                         "6",
                         "--buffer-memory",
                         "67108865",
                         "--max-connections",
                         "7",
                         "--header-timeout",
                         "250ms",
                         "--idle-timeout",
                         "1h",
                         "--send-timeout",
                         "90",
                         "--shutdown-timeout",
                         "0",
                         "--max-request-line",
                         "300",
                         "--max-header-bytes",
                         "3000",
                         "--max-headers",
                         "9",
                         "--max-ranges",
                         "10",
                         "--index",
                         "i.htm",
                         "--allow-dotfiles",
                         "--precompressed",
                         "gzip,br",
                         "--log-level",
                         "warning",
                         "--mime-types",
                         "/m.types"})
                      .config;
  for (const Config& config : {defaults, custom}) {
    const std::string text = DescribeConfig(config);
    TempFile file(text);
    const Config read_back = Parse({"--config", file.path()}).config;
    SCOPED_TRACE(text);
    ExpectSameConfig(read_back, config);
    EXPECT_EQ(DescribeConfig(read_back), text);
  }
  const std::string text = DescribeConfig(custom);
  EXPECT_NE(text.find("block-size = 8K\n"), std::string::npos);
  EXPECT_NE(text.find("header-timeout = 250ms\n"), std::string::npos);
  EXPECT_NE(text.find("allow-dotfiles = true\n"), std::string::npos);
  EXPECT_EQ(text.find("config"), std::string::npos);
}

TEST(ConfigTest, SslRedirectNeedsAnSslListenerOnTcp) {
  const Args tls = {"--listen",
                    "unix:/run/t.sock",
                    "--listen",
                    "8443",
                    "--ssl",
                    "unix:/run/t.sock",
                    "--ssl",
                    "8443",
                    "--ssl-certificate",
                    "c.pem",
                    "--ssl-certificate-key",
                    "k.pem"};
  EXPECT_FALSE(Parse(tls).config.ssl_redirect);
  Args redirect = tls;
  redirect.push_back("--ssl-redirect");
  const Config c = Parse(redirect).config;
  EXPECT_TRUE(c.ssl_redirect);
  ASSERT_NE(HttpsRedirectTarget(c), nullptr);
  EXPECT_EQ(HttpsRedirectTarget(c)->port, 8443);  // the first one on TCP
  EXPECT_NE(DescribeConfig(c).find("\nssl-redirect = true\n"),
            std::string::npos);
  const std::string message = ErrorOf({"--ssl-redirect"});
  EXPECT_EQ(message,
            "--ssl-redirect: 'true' needs an --ssl listener on TCP to redirect "
            "to");
}

TEST(ConfigTest, ListenAddressForms) {
  ListenAddress a = ParseListenAddress("127.0.0.1:8080");
  EXPECT_EQ(a.kind, ListenAddress::Kind::kInet);
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  EXPECT_EQ(a.text, "127.0.0.1:8080");
  a = ParseListenAddress("[::1]:443");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 443);
  a = ParseListenAddress("[::]:0");
  EXPECT_EQ(a.host, "::");
  EXPECT_EQ(a.port, 0);
  a = ParseListenAddress(":80");
  EXPECT_EQ(a.host, "");
  EXPECT_EQ(a.port, 80);
  a = ParseListenAddress("65535");
  EXPECT_EQ(a.kind, ListenAddress::Kind::kInet);
  EXPECT_EQ(a.host, "");
  EXPECT_EQ(a.port, 65535);
  a = ParseListenAddress("unix:/run/ferry.sock");
  EXPECT_EQ(a.kind, ListenAddress::Kind::kUnix);
  EXPECT_EQ(a.path, "/run/ferry.sock");
  for (const std::string& bad : std::vector<std::string>{
           "", "localhost:80", "::1:80", "[::1]80", "[::1]:", "[::1",
           "[1.2.3.4]:80", "1.2.3.4:65536", "1.2.3.4:", "1.2.3.4:8x",
           "1.2.3:80", "abc", "-1", "080080",
           "unix:", "unix:" + std::string(200, 'x')}) {
    try {
      ParseListenAddress(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--listen: ", 0), 0u) << e.what();
    }
  }
}

// ---- Documentation consistency: --help, man/ferryd.8 and README.md. ----

const std::set<std::string> kCommandOnly = {"config", "check-config", "help",
                                            "version"};

std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(FERRY_SOURCE_DIR) + "/" + relative);
  EXPECT_TRUE(in) << "cannot read " << relative;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// roff text to plain: font escapes dropped, "\-" to "-".
std::string Unroff(std::string text) {
  text = std::regex_replace(text, std::regex(R"(\\f[BIRP])"), "");
  text = std::regex_replace(text, std::regex(R"(\\-)"), "-");
  return std::regex_replace(text, std::regex(R"(\\&)"), "");
}

/// Option name -> documented default ("" when it has none).
using Documented = std::map<std::string, std::string>;

std::set<std::string> HelpOptions() {
  std::set<std::string> names;
  std::istringstream in(HelpText());
  // "  --name ARG (=default)  text" or "  -h [ --help ]  text".
  const std::regex option_column(R"(^  (-[A-Za-z] \[ )?--([a-z][a-z-]*))");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, m, option_column)) names.insert(m[2]);
  }
  return names;
}

/// Each ".TP" entry of the OPTIONS section whose tag names an option.
Documented ManOptions() {
  Documented options;
  std::istringstream in(ReadSource("man/ferryd.8"));
  bool in_options = false;
  bool after_tp = false;
  std::string current;
  const std::regex tag(R"(^\.B[IR]? .*?\\-\\-([a-z\\-]+))");
  const std::regex default_line(R"(^Default: \\fB(.*?)\\fR)");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(".SH", 0) == 0) in_options = line == ".SH OPTIONS";
    if (!in_options) continue;
    if (after_tp && std::regex_search(line, m, tag)) {
      current = Unroff(m[1]);
      EXPECT_EQ(options.count(current), 0u) << "man: --" << current << " twice";
      options[current] = "";
    } else if (!current.empty() && std::regex_search(line, m, default_line)) {
      EXPECT_EQ(options[current], "") << "man: two defaults for " << current;
      options[current] = Unroff(m[1]);
    }
    after_tp = line == ".TP";
  }
  return options;
}

/// Each row of the README table between the options markers.
Documented ReadmeOptions() {
  Documented options;
  const std::string text = ReadSource("README.md");
  const auto begin = text.find("<!-- options:begin -->");
  const auto end = text.find("<!-- options:end -->");
  EXPECT_NE(begin, std::string::npos);
  EXPECT_NE(end, std::string::npos);
  if (begin == std::string::npos || end == std::string::npos) return options;
  std::istringstream in(text.substr(begin, end - begin));
  const std::regex row(
      R"(^\|[^|]*?--([a-z][a-z-]*)[^|]*\|\s*`?([^|`]*?)`?\s*\|)");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (!std::regex_search(line, m, row)) continue;
    const std::string value = m[2] == "none" ? "" : std::string(m[2]);
    EXPECT_EQ(options.count(m[1]), 0u) << "README: --" << m[1] << " twice";
    options[m[1]] = value;
  }
  return options;
}

std::set<std::string> Names(const Documented& documented) {
  std::set<std::string> names;
  for (const auto& [name, value] : documented) names.insert(name);
  return names;
}

/// "name = value" lines of DescribeConfig for the built-in defaults.
Documented CompiledDefaults() {
  Documented defaults;
  std::istringstream in(DescribeConfig(Parse({}).config));
  const std::regex setting(R"(^([a-z-]+) = (.*)$)");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, m, setting)) defaults[m[1]] = m[2];
  }
  defaults["listen"] = Parse({}).config.listen.at(0).text;
  return defaults;
}

/// The value `documented` gives `name` once parsed, as DescribeConfig says it,
/// so that equal values spelled differently ("60s", "1m") compare equal.
std::string Normalized(const std::string& name, const std::string& documented) {
  TempFile file(name + " = " + documented + "\n");
  try {
    std::istringstream in(
        DescribeConfig(Parse({"--config", file.path()}).config));
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(name + " = ", 0) == 0) return line.substr(name.size() + 3);
    }
  } catch (const ConfigError& e) {
    return std::string("(invalid: ") + e.what() + ")";
  }
  return "(not described)";
}

void ExpectDefaultsMatch(const Documented& documented, const char* source) {
  for (const auto& [name, compiled] : CompiledDefaults()) {
    SCOPED_TRACE(std::string(source) + ": --" + name);
    ASSERT_EQ(documented.count(name), 1u);
    const std::string& shown = documented.at(name);
    if (name == "root") {
      // Set at build time; the docs show the packaged /usr prefix.
      const std::string tail = "/share/ferry/html";
      EXPECT_EQ(shown, "/usr" + tail);
      EXPECT_EQ(compiled.substr(compiled.size() - tail.size()), tail);
    } else if (name == "listen") {
      EXPECT_EQ(shown, compiled);
    } else {
      EXPECT_EQ(Normalized(name, shown), compiled) << "documented: " << shown;
    }
  }
  for (const auto& name : kCommandOnly) {
    EXPECT_EQ(documented.count(name) == 0 ? "" : documented.at(name), "")
        << source << ": --" << name << " has no default";
  }
}

TEST(ConfigDocsTest, HelpListsEveryOptionDescribeConfigKnows) {
  std::set<std::string> settings = HelpOptions();
  for (const auto& name : kCommandOnly) EXPECT_EQ(settings.erase(name), 1u);
  EXPECT_EQ(settings, Names(CompiledDefaults()));
  EXPECT_EQ(HelpText().rfind("Usage: ferryd [OPTIONS]\n", 0), 0u);
}

TEST(ConfigDocsTest, ManPageDocumentsExactlyTheOptionsOfHelp) {
  EXPECT_EQ(Names(ManOptions()), HelpOptions());
}

TEST(ConfigDocsTest, ReadmeDocumentsExactlyTheOptionsOfHelp) {
  EXPECT_EQ(Names(ReadmeOptions()), HelpOptions());
}

TEST(ConfigDocsTest, ManPageDefaultsAreTheCompiledOnes) {
  ExpectDefaultsMatch(ManOptions(), "man/ferryd.8");
}

TEST(ConfigDocsTest, ReadmeDefaultsAreTheCompiledOnes) {
  ExpectDefaultsMatch(ReadmeOptions(), "README.md");
}

/// The shipped config file: every setting commented out with its default
/// ("#name = value"); listen shows examples instead.
Documented ShippedConfigOptions() {
  Documented options;
  std::istringstream in(ReadSource("systemd/ferryd.conf"));
  const std::regex setting(R"(^#([a-z][a-z-]*) = (.*)$)");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (!std::regex_match(line, m, setting)) continue;
    if (m[1] == "listen") {
      options["listen"] = Parse({}).config.listen.at(0).text;
      continue;
    }
    EXPECT_EQ(options.count(m[1]), 0u) << "ferryd.conf: " << m[1] << " twice";
    options[m[1]] = m[2];
  }
  return options;
}

TEST(ConfigDocsTest, ShippedConfigShowsEverySettingWithItsDefault) {
  Documented shipped = ShippedConfigOptions();
  std::set<std::string> settings = HelpOptions();
  for (const auto& name : kCommandOnly) settings.erase(name);
  EXPECT_EQ(Names(shipped), settings);
  ExpectDefaultsMatch(shipped, "systemd/ferryd.conf");
}

// Found by fuzz_config: a line with an empty name ("= toor") made Boost
// throw ambiguous_option out of ParseCommandLine, which ferryd's main does
// not catch (abort at start-up).
TEST(ConfigTest, FuzzEmptyOptionNameIsAConfigError) {
  TempFile file("= toor\n");
  const std::string message = ErrorOf({"--config", file.path()});
  EXPECT_NE(message.find(file.path() + ":1: expected 'name = value'"),
            std::string::npos)
      << message;
  file.Write("workers = 2\n  =\n");
  EXPECT_NE(ErrorOf({"--config", file.path()}).find(":2: expected"),
            std::string::npos);
}

// Found by fuzz_config: Boost's error_with_option_name::what() substitutes
// the option's name and value into its message until no placeholder is
// left, so "%value%" in a value or "%canonical_option%" in a name looped
// forever, growing the message: ferryd hung at start-up (and the master on
// SIGHUP).
TEST(ConfigTest, FuzzBoostPlaceholderInValueOrNameIsAConfigError) {
  TempFile file("allow-dotfiles = %value%\n");
  const std::string message = ErrorOf({"--config", file.path()});
  EXPECT_NE(message.find(":1: --allow-dotfiles: expects true or false"),
            std::string::npos)
      << message;
  EXPECT_EQ(ErrorOf({"--%canonical_option%"}),
            "--%canonical_option%: unknown option");
  EXPECT_EQ(ErrorOf({"--root=%canonical_option%", "--x%value%"}),
            "--x%value%: unknown option");
}

}  // namespace
}  // namespace ferry

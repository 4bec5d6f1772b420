#pragma once
// ferryd's options: parsed from the command line and an optional config file
// (same names), validated, and printable as the effective configuration.
// config_values.cc holds the syntax of values, config_file.cc the file's.

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ferry {

inline constexpr std::uint64_t kKiB = 1024;
inline constexpr std::uint64_t kMiB = 1024 * kKiB;
inline constexpr std::uint64_t kGiB = 1024 * kMiB;

/// A listening address as given to --listen.
struct ListenAddress {
  enum class Kind { kInet, kUnix };
  Kind kind = Kind::kInet;
  std::string host;  ///< kInet: IPv4 or IPv6 literal (no brackets), "" = any
  std::uint16_t port = 0;
  std::string path;  ///< kUnix: the socket's path
  std::string text;  ///< as the user wrote it, for messages
};

/// Parses "HOST:PORT", "[V6]:PORT", ":PORT", "PORT" or "unix:PATH".
/// Throws ConfigError naming "--listen" when malformed.
ListenAddress ParseListenAddress(const std::string& text);
/// The addresses as the user wrote them.
std::vector<std::string> ListenTexts(
    const std::vector<ListenAddress>& addresses);

using Milliseconds = std::chrono::milliseconds;
/// The longest duration any flag takes: a week.
inline constexpr Milliseconds kMaxDuration{7LL * 24 * 3'600'000};

/// The effective configuration. Defaults here are the documented ones.
struct Config {
  std::string root;  ///< default: the packaged document root (see config.cc)
  std::vector<ListenAddress> listen;  ///< empty with socket activation
  bool listen_given = false;          ///< --listen appeared somewhere
  /// --ssl: the listeners whose clients speak TLS, with the certificate
  /// chain and private key (PEM files, read by the master as root) and the
  /// protocols and TLS 1.2 ciphers they accept.
  std::vector<ListenAddress> ssl;
  std::string ssl_certificate = "off";
  std::string ssl_certificate_key = "off";
  std::string ssl_protocols = "TLSv1.2,TLSv1.3";
  /// Mozilla's "intermediate" TLS 1.2 suites without DHE, in its order:
  /// ECDHE-{ECDSA,RSA}-AES128-GCM-SHA256, -AES256-GCM-SHA384,
  /// -CHACHA20-POLY1305. TLS 1.3's are OpenSSL's, all modern.
  std::string ssl_ciphers =
      "ECDHE+AES128+AESGCM:ECDHE+AES256+AESGCM:ECDHE+CHACHA20:!PSK";
  /// --ssl-redirect: a request to a plain listener is answered with a
  /// redirect to the same URL on HttpsRedirectTarget()'s port, except under
  /// /.well-known/acme-challenge/.
  bool ssl_redirect = false;
  /// Listeners whose connections start with a PROXY protocol header.
  std::vector<ListenAddress> proxy_protocol;
  /// Who may send one: an AddressList ("off" when proxy_protocol is empty).
  std::string proxy_protocol_from = "off";
  /// --real-ip-from: the proxies (an AddressList, or "off") whose request
  /// field --real-ip-header names the client for the access log.
  std::string real_ip_from = "off";
  /// "X-Forwarded-For" or "X-Real-IP", so spelled whatever the input's case.
  std::string real_ip_header = "X-Forwarded-For";
  unsigned workers = 0;         ///< 0: one per online CPU
  unsigned helper_threads = 2;  ///< per worker
  std::uint64_t block_size = kMiB;
  unsigned read_ahead = 2;     ///< blocks in flight per connection
  unsigned queue_depth = 128;  ///< AIO reads in flight per worker
  std::uint64_t buffer_memory = 64ull << 20;  ///< per worker
  unsigned max_connections = 8192;            ///< per worker
  /// Small-file cache per worker: bytes of whole files up to block_size;
  /// 0 turns it off.
  std::uint64_t file_cache = 32ull << 20;
  /// How long a cached file is trusted before statx checks it again: the
  /// bound on serving a file that changed on disk.
  Milliseconds file_cache_validity{1000};
  /// --hot-cache: bytes of hot large files the whole daemon keeps pinned in
  /// the page cache (HotTable); 0 turns it off, kHotCacheAuto is an eighth
  /// of the machine's memory (HotCacheBytes).
  std::uint64_t hot_cache = kHotCacheAuto;
  static constexpr std::uint64_t kHotCacheAuto = UINT64_MAX;
  /// A file's request count halves every window: asked for twice within
  /// about one, it is hot.
  Milliseconds hot_cache_window{60'000};
  Milliseconds header_timeout{10'000};
  Milliseconds idle_timeout{60'000};
  Milliseconds send_timeout{30'000};
  /// Bytes per second a client must take while its socket is full,
  /// averaged over each --send-timeout; 0 turns the check off.
  std::uint64_t send_min_rate = 1024;
  /// --limit-rate: bytes per second a response may go at (0: no limit),
  /// past its first --limit-rate-after bytes.
  std::uint64_t limit_rate = 0;
  std::uint64_t limit_rate_after = 0;
  Milliseconds shutdown_timeout{10'000};
  /// SIGTERM: serve on this long, the health path answering 503, first.
  Milliseconds drain_time{0};
  std::uint64_t max_request_line = 8192;
  std::uint64_t max_header_bytes = 16384;
  unsigned max_headers = 100;
  unsigned max_ranges = 64;
  /// Names tried in order for a request that names a directory.
  std::vector<std::string> index = {"index.html"};
  bool allow_dotfiles = false;
  /// --autoindex: list a directory that has no index name.
  bool autoindex = false;
  /// Dot paths served all the same, besides /.well-known/* (globs, see
  /// path_pattern.h).
  std::vector<std::string> allow_dot_paths;
  /// Paths answered 404 whatever exists (globs).
  std::vector<std::string> hide;
  /// "" off; else "/PATH", served with 200 for a GET or HEAD of a path
  /// that does not exist (a single-page app's /index.html).
  std::string fallback;
  /// --health-path: "/PATH" answered 200 from memory; "" none.
  std::string health_path;
  /// --error-page values, "CODES /PATH" (see ParseErrorPage).
  std::vector<std::string> error_pages;
  /// --header values, "GLOB Name: value" (see header_rules.h), in order.
  std::vector<std::string> headers;
  /// --cors values, "GLOB ORIGIN[,ORIGIN...]", in order.
  std::vector<std::string> cors;
  /// The Server field's value; "" sends none (--server-header off).
  std::string server_header = "ferry";
  /// --precompressed: "br", "zstd", "gzip" in the operator's order of
  /// preference; empty (off) serves no variant.
  std::vector<std::string> precompressed;
  /// Lock each worker's memory (see LockMemory): no page fault on the loop.
  bool mlock = false;
  std::string log_level = "info";  ///< error, warning, notice, info, debug
  std::string mime_types = "/etc/mime.types";
  /// Started as root: the workers switch to these before serving. "root"
  /// keeps root.
  /// The packaged user (ferryd.sysusers). --user not given and no such
  /// user (a source install): nobody, with a warning; --group not given
  /// and no such group: the user's own group.
  std::string user = "_ferry";
  std::string group = "_ferry";
  bool user_given = false;   ///< --user appeared somewhere
  bool group_given = false;  ///< --group appeared somewhere
  /// "-" (stdout), "syslog", "off", or a file path.
  std::string access_log = "-";
  std::string access_log_format = "combined";  ///< common, combined, json
  /// Where the master serves Prometheus metrics; unset (kind kInet, port 0,
  /// empty text) when off.
  ListenAddress metrics_listen;
  /// Who may scrape: ADDRESS[/BITS],... or "any".
  std::string metrics_allow = "127.0.0.0/8,::1";
  std::string config_file;  ///< --config, "" when none
  /// --test-fail-reads N (hidden, command line only): the first N file
  /// reads each worker completes fail with EIO. A fault-injection seam for
  /// tests; 0: none.
  unsigned test_fail_reads = 0;
  /// Not an option: systemd's watchdog interval (WATCHDOG_USEC), set by the
  /// master; workers then tick at least four times per interval.
  Milliseconds watchdog_interval{0};
  /// Not an option: the port HttpsRedirectTarget() is bound to (its own, or
  /// the ephemeral one its port 0 got), set by the master once the
  /// listeners are open; 0 before.
  std::uint16_t https_port = 0;
};

/// The --ssl listener that --ssl-redirect sends clients to: the first one on
/// TCP; nullptr when there is none.
const ListenAddress* HttpsRedirectTarget(const Config& config);

/// A bad option: what() is one line that names the flag.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What the command line asks for besides running.
struct Invocation {
  enum class Action { kRun, kHelp, kVersion, kCheckConfig };
  Action action = Action::kRun;
  Config config;
};

/// Parses argv and, with --config, the file; validates every value.
/// Throws ConfigError on the first problem.
Invocation ParseCommandLine(int argc, const char* const* argv);

/// Re-reads `config_file` with the command line's values kept on top (for
/// SIGHUP). Throws ConfigError.
Config ReloadConfig(int argc, const char* const* argv);

/// The --help text: usage and every option with its default.
std::string HelpText();

/// The effective configuration in config-file syntax ("name = value").
std::string DescribeConfig(const Config& config);

/// "128" -> 128: digits only, no unit. Throws std::invalid_argument.
std::uint64_t ParseCount(const std::string& text);

/// "64M" -> 67108864 (K, M, G are powers of 1024; a trailing B allowed).
/// Throws std::invalid_argument.
std::uint64_t ParseByteSize(const std::string& text);

/// "250ms", "10s", "5m", "1h", or a plain number of seconds.
/// Throws std::invalid_argument.
Milliseconds ParseDuration(const std::string& text);

/// "256K" for 262144: the largest unit that divides the value exactly.
std::string FormatByteSize(std::uint64_t bytes);

/// "10s" for 10000 ms, "250ms" for 250 ms: whole seconds when exact.
std::string FormatDuration(Milliseconds time);

/// Worker processes to run: --workers, or one per online CPU when it is 0.
unsigned WorkerCount(const Config& config);
/// --hot-cache in bytes: an eighth of physical memory for "auto".
std::uint64_t HotCacheBytes(const Config& config);

}  // namespace ferry

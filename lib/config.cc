#include "config.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "accept_encoding.h"
#include "address_list.h"
#include "config_file.h"
#include "file_lookup.h"
#include "header_rules.h"
#include "http_request.h"
#include "http_syntax.h"
#include "path_pattern.h"
#include "tls_context.h"

namespace ferry {
namespace {

namespace po = boost::program_options;

constexpr unsigned kMaxWorkers = 4096;
constexpr std::uint64_t kMaxHotCache = std::uint64_t{1} << 50;
constexpr std::uint64_t kMaxBufferMemory = 1024 * kGiB;
constexpr const char* kDefaultListen = "127.0.0.1:8080";
constexpr const char* kDurationForms = "(e.g. 500ms, 30s, 5m, 1h)";
const std::vector<std::string> kLogLevels = {"error", "warning", "notice",
                                             "info", "debug"};

std::string Flag(const std::string& name) { return "--" + name; }

po::typed_value<std::string>* Text(const char* arg, const std::string& def) {
  return po::value<std::string>()->value_name(arg)->default_value(def);
}

/// A repeatable glob option (path_pattern.h).
po::typed_value<std::vector<std::string>>* Patterns() {
  return po::value<std::vector<std::string>>()->value_name("GLOB");
}

/// Options accepted both on the command line and in the config file.
po::options_description SettingOptions() {
  const Config d;
  po::options_description o(
      "Options (each also settable in the --config file as \"name = value\")",
      80, 40);
  // clang-format off
  o.add_options()
      ("root", Text("DIR", FERRY_DEFAULT_ROOT), "serve the files under DIR")
      ("listen", po::value<std::vector<std::string>>()->value_name("ADDR"),
       "listen on HOST:PORT, [IPV6]:PORT, :PORT, PORT or unix:PATH; "
       "repeatable (default 127.0.0.1:8080, none with socket activation)")
      ("ssl", po::value<std::vector<std::string>>()->value_name("ADDR"),
       "the listener at ADDR (as --listen names it) speaks TLS (HTTPS), "
       "with --ssl-certificate and --ssl-certificate-key; repeatable (off: "
       "none)")
      ("ssl-certificate", Text("FILE", d.ssl_certificate),
       "the PEM certificate chain of the --ssl listeners, server first")
      ("ssl-certificate-key", Text("FILE", d.ssl_certificate_key),
       "its PEM private key, read by the master before the workers start "
       "(keep it mode 600)")
      ("ssl-protocols", Text("LIST", d.ssl_protocols),
       "the TLS versions accepted: TLSv1.2, TLSv1.3 or both")
      ("ssl-ciphers", Text("LIST", d.ssl_ciphers),
       "the TLS 1.2 cipher suites, in OpenSSL's syntax, preferred in order")
      ("ssl-redirect", po::bool_switch(),
       "answer requests to the plain listeners with a redirect to the same "
       "URL on the first --ssl listener, /.well-known/acme-challenge/ "
       "excepted (file: ssl-redirect = true)")
      ("proxy-protocol", po::value<std::vector<std::string>>()
                             ->value_name("ADDR"),
       "the listener at ADDR (as --listen names it) is behind a load "
       "balancer: every connection starts with a PROXY protocol header (v1 "
       "or v2) naming the client; repeatable (off: none)")
      ("proxy-protocol-from", Text("NETS", "off"),
       "the proxies allowed to connect to a --proxy-protocol listener: "
       "ADDRESS[/BITS],... or any; needed with --proxy-protocol")
      ("real-ip-from", Text("NETS", "off"),
       "proxies (ADDRESS[/BITS],... or any) trusted to name the client in "
       "--real-ip-header; the access log shows that client (off: the peer)")
      ("real-ip-header", Text("NAME", d.real_ip_header),
       "the request field naming the client for --real-ip-from: "
       "X-Forwarded-For (walked from the right past trusted proxies) or "
       "X-Real-IP")
      ("workers", Text("N", std::to_string(d.workers)),
       "worker processes; 0 = one per online CPU")
      ("helper-threads", Text("N", std::to_string(d.helper_threads)),
       "helper threads per worker for blocking work (1..64)")
      ("block-size", Text("SIZE", FormatByteSize(d.block_size)),
       "size of one read (power of two, 4K..64M)")
      ("read-ahead", Text("N", std::to_string(d.read_ahead)),
       "blocks in flight per connection (1..64)")
      ("queue-depth", Text("N", std::to_string(d.queue_depth)),
       "reads in flight per worker (1..65536)")
      ("buffer-memory", Text("SIZE", FormatByteSize(d.buffer_memory)),
       "buffer pool per worker (at least block-size * read-ahead)")
      ("max-connections", Text("N", std::to_string(d.max_connections)),
       "connections per worker (1..1000000); more get 503")
      ("file-cache", Text("SIZE", FormatByteSize(d.file_cache)),
       "small-file cache per worker, for files up to block-size (0 = off)")
      ("file-cache-validity", Text("TIME", FormatDuration(d.file_cache_validity)),
       "a cached file is re-checked with statx after this long")
      ("hot-cache", Text("SIZE", "auto"),
       "large files downloaded again are kept in memory, this much for the "
       "whole daemon (auto: 1/8 of RAM; 0 = off)")
      ("hot-cache-window", Text("TIME", FormatDuration(d.hot_cache_window)),
       "a file downloaded twice within about this long is hot")
      ("header-timeout", Text("TIME", FormatDuration(d.header_timeout)),
       "time allowed to send a request's headers")
      ("idle-timeout", Text("TIME", FormatDuration(d.idle_timeout)),
       "keep-alive time between requests")
      ("send-timeout", Text("TIME", FormatDuration(d.send_timeout)),
       "time a client may accept no data")
      ("send-min-rate", Text("SIZE", FormatByteSize(d.send_min_rate)),
       "bytes per second a client must accept, over each send-timeout (0 = off)")
      ("limit-rate", Text("SIZE", FormatByteSize(d.limit_rate)),
       "send each response at most SIZE bytes per second (at least 1K; 0 = "
       "no limit)")
      ("limit-rate-after", Text("SIZE", FormatByteSize(d.limit_rate_after)),
       "the first SIZE bytes of a response go at full speed, the rest at "
       "--limit-rate")
      ("shutdown-timeout", Text("TIME", FormatDuration(d.shutdown_timeout)),
       "graceful stop: time to finish responses (0 = close now)")
      ("drain-time", Text("TIME", FormatDuration(d.drain_time)),
       "on SIGTERM, first serve on this long with --health-path answering "
       "503, for the load balancer to move clients away (0 = stop at once)")
      ("max-request-line", Text("SIZE", FormatByteSize(d.max_request_line)),
       "longest request line (256..1M); longer gets 414")
      ("max-header-bytes", Text("SIZE", FormatByteSize(d.max_header_bytes)),
       "largest request head (max-request-line..1M); larger gets 431")
      ("max-headers", Text("N", std::to_string(d.max_headers)),
       "most header fields in a request (1..10000); more gets 431")
      ("max-ranges", Text("N", std::to_string(d.max_ranges)),
       "most ranges in a Range header (1..10000)")
      ("index", Text("NAMES", "index.html"),
       "file names tried in order for a directory, comma-separated")
      ("autoindex", po::bool_switch(),
       "list a directory without an index, as HTML or JSON (file: autoindex "
       "= true)")
      ("allow-dotfiles", po::bool_switch(),
       "serve names that start with '.' (file: allow-dotfiles = true)")
      ("allow-dot-path", Patterns(),
       "serve dot paths matching GLOB too, besides /.well-known/*; "
       "repeatable (off: no more)")
      ("hide", Patterns(),
       "answer 404 for paths matching GLOB (e.g. /.git/*, *.bak); repeatable "
       "(off: hide nothing)")
      ("fallback", Text("PATH", "off"),
       "serve /PATH with 200 for a GET or HEAD of a missing path (an SPA's "
       "/index.html; off: 404)")
      ("error-page", po::value<std::vector<std::string>>()
                         ->value_name("'CODES /PATH'"),
       "answer CODES (404, 403, 5xx...) with the file /PATH; repeatable "
       "(off: built-in pages)")
      ("header", po::value<std::vector<std::string>>()
                     ->value_name("'GLOB Name: value'"),
       "add the field to 200, 206 and 304 responses for paths matching GLOB "
       "(e.g. '/assets/* Cache-Control: max-age=31536000'); repeatable, a "
       "later match of the same name wins (off: none)")
      ("cors", po::value<std::vector<std::string>>()
                   ->value_name("'GLOB ORIGINS'"),
       "let pages from ORIGINS (scheme://host[:port],... or *) read paths "
       "matching GLOB, and answer their preflights; repeatable, the last "
       "match decides (off: none)")
      ("server-header", Text("TEXT", d.server_header),
       "the Server field's value (off: no Server field)")
      ("precompressed", Text("CODINGS", "off"),
       "serve NAME.br, NAME.zst, NAME.gz for NAME to clients accepting them, "
       "preferred in this order, e.g. br,zstd,gzip (on: that; off: none)")
      ("mlock", po::bool_switch(),
       "lock the workers' memory: no page fault on the loop (file: mlock = true)")
      ("log-level", Text("LEVEL", d.log_level),
       "error, warning, notice, info or debug")
      ("mime-types", Text("FILE", d.mime_types),
       "file mapping extensions to Content-Type")
      ("user", Text("NAME", d.user),
       "started as root: serve as this user (root: stay root)")
      ("group", Text("NAME", d.group), "started as root: serve as this group")
      ("access-log", Text("WHERE", d.access_log),
       "access log: a file, - (stdout), syslog or off")
      ("access-log-format", Text("FORMAT", d.access_log_format),
       "common, combined or json")
      ("metrics-listen", Text("ADDR", "off"),
       "serve Prometheus metrics on HOST:PORT (off: none)")
      ("metrics-allow", Text("NETS", d.metrics_allow),
       "who may scrape: ADDRESS[/BITS],... or any")
      ("health-path", Text("PATH", "off"),
       "answer GET and HEAD of /PATH on the serving port with 200 \"ok\" "
       "from memory, for a load balancer's checks (off: none)");
  // clang-format on
  return o;
}

/// Options of the command line only.
po::options_description CommandOptions() {
  po::options_description o("Command-line only", 80, 40);
  // clang-format off
  o.add_options()
      ("config", po::value<std::string>()->value_name("FILE"),
       "read settings from FILE; the command line wins")
      ("check-config", po::bool_switch(),
       "validate the options, print the effective configuration, exit")
      ("help,h", po::bool_switch(), "print this help and exit")
      ("version,V", po::bool_switch(), "print the version and exit");
  // clang-format on
  return o;
}

/// Turns the variables map into a validated Config. Every error names the
/// flag, and the file and line when the value came from the config file.
class Validator {
 public:
  Validator(const po::variables_map& vm, const std::set<std::string>& cli,
            const ConfigFile* file)
      : vm_(vm), cli_(cli), file_(file) {}

  [[noreturn]] void Fail(const std::string& name, const std::string& value,
                         const std::string& problem) const {
    std::string where;
    if (file_ != nullptr && cli_.count(name) == 0) {
      where = file_->Where(name, value);
    }
    throw ConfigError(where + Flag(name) + ": '" + value + "' " + problem);
  }

  std::string String(const std::string& name) const {
    std::string value = vm_[name].as<std::string>();
    if (value.empty()) Fail(name, value, "must not be empty");
    return value;
  }

  unsigned Count(const std::string& name, unsigned low, unsigned high) const {
    const std::string text = vm_[name].as<std::string>();
    std::uint64_t value = 0;
    try {
      value = ParseCount(text);
    } catch (const std::invalid_argument&) {
      value = std::uint64_t{high} + 1;
    }
    if (value < low || value > high) {
      Fail(name, text,
           "is not a number from " + std::to_string(low) + " to " +
               std::to_string(high));
    }
    return static_cast<unsigned>(value);
  }

  std::uint64_t Size(const std::string& name, std::uint64_t low,
                     std::uint64_t high, bool power_of_two = false) const {
    const std::string text = vm_[name].as<std::string>();
    std::uint64_t value = 0;
    bool ok = true;
    try {
      value = ParseByteSize(text);
    } catch (const std::invalid_argument&) {
      ok = false;
    }
    if (power_of_two && (value & (value - 1)) != 0) ok = false;
    if (!ok || value < low || value > high) {
      Fail(name, text,
           std::string("is not ") +
               (power_of_two ? "a power of two" : "a size") + " between " +
               FormatByteSize(low) + " and " + FormatByteSize(high));
    }
    return value;
  }

  Milliseconds Duration(const std::string& name, bool allow_zero) const {
    const std::string text = vm_[name].as<std::string>();
    try {
      const Milliseconds value = ParseDuration(text);
      if (allow_zero || value.count() > 0) return value;
    } catch (const std::invalid_argument&) {
    }
    Fail(name, text,
         std::string("is not a duration") +
             (allow_zero ? "" : " greater than zero") + " of at most " +
             FormatDuration(kMaxDuration) + " " + kDurationForms);
  }

  /// Networks as AddressList::Parse takes them (ADDRESS[/BITS],... or any),
  /// or "off" when `allow_off`.
  std::string Networks(const std::string& name, bool allow_off) const {
    std::string text = String(name);
    if (allow_off && text == "off") return text;
    try {
      AddressList::Parse(text);
    } catch (const std::invalid_argument&) {
      Fail(name, text,
           std::string("is not a list of ADDRESS[/BITS], any") +
               (allow_off ? " or off" : ""));
    }
    return text;
  }

  /// A comma-separated list of plain file names.
  std::vector<std::string> Names(const std::string& name) const {
    const std::string text = String(name);
    std::vector<std::string> names;
    std::size_t start = 0;
    for (;;) {
      std::size_t comma = text.find(',', start);
      std::string item = text.substr(start, comma - start);
      if (item.empty() || item == "." || item == ".." ||
          item.find_first_of("/ \t") != std::string::npos) {
        Fail(name, text, "is not a comma-separated list of plain file names");
      }
      names.push_back(item);
      if (comma == std::string::npos) return names;
      start = comma + 1;
    }
  }

  /// The values of a repeatable option; "off" alone stands for no value
  /// (what DescribeConfig shows for the default).
  std::vector<std::string> Repeated(const std::string& name) const {
    if (vm_.count(name) == 0) return {};
    auto values = vm_[name].as<std::vector<std::string>>();
    if (values.size() == 1 && values.front() == "off") return {};
    return values;
  }

  /// Globs on request paths (path_pattern.h), each checked.
  std::vector<std::string> Globs(const std::string& name) const {
    std::vector<std::string> globs = Repeated(name);
    for (const std::string& glob : globs) {
      std::string problem = PathPattern::Check(glob);
      if (!problem.empty()) Fail(name, glob, problem);
    }
    return globs;
  }

  std::vector<std::string> ErrorPages() const {
    std::vector<std::string> pages = Repeated("error-page");
    for (const std::string& page : pages) {
      try {
        ParseErrorPage(page);
      } catch (const ConfigError& e) {
        const bool from_file =
            file_ != nullptr && cli_.count("error-page") == 0;
        throw ConfigError((from_file ? file_->Where("error-page", page) : "") +
                          e.what());
      }
    }
    return pages;
  }

  /// A repeatable rule option checked by `parse` (which throws ConfigError
  /// naming the flag), located in the config file when it came from there.
  template <typename Parse>
  std::vector<std::string> Rules(const std::string& name, Parse parse) const {
    std::vector<std::string> rules = Repeated(name);
    for (const std::string& rule : rules) {
      try {
        parse(rule);
      } catch (const ConfigError& e) {
        const bool from_file = file_ != nullptr && cli_.count(name) == 0;
        throw ConfigError((from_file ? file_->Where(name, rule) : "") +
                          e.what());
      }
    }
    return rules;
  }

  /// --precompressed: "off", "on" (br,zstd,gzip), or codings in order.
  std::vector<std::string> Codings(const std::string& name) const {
    const std::string text = String(name);
    if (text == "off") return {};
    if (text == "on") return {"br", "zstd", "gzip"};
    std::vector<std::string> codings;
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = text.find(',', start);
      std::string item = text.substr(start, comma - start);
      if (!CodingNamed(item) ||
          std::find(codings.begin(), codings.end(), item) != codings.end()) {
        Fail(name, text,
             "is not off, on, or a list of br, zstd and gzip, each at most "
             "once (e.g. br,gzip)");
      }
      codings.push_back(item);
      if (comma == std::string::npos) return codings;
      start = comma + 1;
    }
  }

  /// A repeatable option naming listeners as --listen does ("off": none).
  std::vector<ListenAddress> Addresses(const std::string& name) const {
    std::vector<ListenAddress> addresses;
    for (const std::string& text : Repeated(name)) {
      try {
        addresses.push_back(ParseListenAddress(text));
      } catch (const ConfigError&) {
        Fail(name, text,
             "is not HOST:PORT, [IPV6]:PORT, :PORT, PORT or unix:PATH");
      }
    }
    return addresses;
  }

  std::vector<ListenAddress> Listen() const {
    std::vector<ListenAddress> addresses;
    for (const auto& text : vm_["listen"].as<std::vector<std::string>>()) {
      try {
        addresses.push_back(ParseListenAddress(text));
      } catch (const ConfigError& e) {
        const bool from_file = file_ != nullptr && cli_.count("listen") == 0;
        throw ConfigError((from_file ? file_->Where("listen", text) : "") +
                          e.what());
      }
    }
    return addresses;
  }

 private:
  const po::variables_map& vm_;
  const std::set<std::string>& cli_;
  const ConfigFile* file_;
};

Config MakeConfig(const Validator& v, const po::variables_map& vm) {
  Config c;
  c.root = v.String("root");
  c.listen_given = vm.count("listen") != 0;
  if (c.listen_given) {
    c.listen = v.Listen();
  } else {
    c.listen = {ParseListenAddress(kDefaultListen)};
  }
  c.ssl = v.Addresses("ssl");
  c.ssl_certificate = v.String("ssl-certificate");
  c.ssl_certificate_key = v.String("ssl-certificate-key");
  if (!c.ssl.empty() && c.ssl_certificate == "off") {
    v.Fail("ssl-certificate", "off", "is needed with --ssl");
  }
  if (!c.ssl.empty() && c.ssl_certificate_key == "off") {
    v.Fail("ssl-certificate-key", "off", "is needed with --ssl");
  }
  c.ssl_protocols = v.String("ssl-protocols");
  int lowest = 0;
  int highest = 0;
  if (!ParseTlsProtocols(c.ssl_protocols, &lowest, &highest)) {
    v.Fail("ssl-protocols", c.ssl_protocols,
           "is not a list of TLSv1.2 and TLSv1.3 (nothing older is accepted)");
  }
  c.ssl_ciphers = v.String("ssl-ciphers");
  c.ssl_redirect = vm["ssl-redirect"].as<bool>();
  if (c.ssl_redirect && HttpsRedirectTarget(c) == nullptr) {
    v.Fail("ssl-redirect", "true",
           "needs an --ssl listener on TCP to redirect to");
  }
  c.proxy_protocol = v.Addresses("proxy-protocol");
  c.proxy_protocol_from = v.Networks("proxy-protocol-from", true);
  if (!c.proxy_protocol.empty() && c.proxy_protocol_from == "off") {
    v.Fail("proxy-protocol-from", "off",
           "is not allowed with --proxy-protocol: name the proxies (e.g. "
           "10.0.0.0/8), as whoever may send the header chooses the client "
           "address logged");
  }
  c.real_ip_from = v.Networks("real-ip-from", true);
  c.real_ip_header = v.String("real-ip-header");
  if (EqualsLower(c.real_ip_header, "x-forwarded-for")) {
    c.real_ip_header = "X-Forwarded-For";
  } else if (EqualsLower(c.real_ip_header, "x-real-ip")) {
    c.real_ip_header = "X-Real-IP";
  } else {
    v.Fail("real-ip-header", PrintableText(c.real_ip_header),
           "is not X-Forwarded-For or X-Real-IP");
  }
  c.workers = v.Count("workers", 0, kMaxWorkers);
  c.helper_threads = v.Count("helper-threads", 1, 64);
  c.block_size = v.Size("block-size", 4 * kKiB, 64 * kMiB, true);
  c.read_ahead = v.Count("read-ahead", 1, 64);
  c.queue_depth = v.Count("queue-depth", 1, 65536);
  c.buffer_memory = v.Size("buffer-memory", 4 * kKiB, kMaxBufferMemory);
  if (c.buffer_memory < c.block_size * c.read_ahead) {
    v.Fail("buffer-memory", vm["buffer-memory"].as<std::string>(),
           "is less than --block-size * --read-ahead (" +
               FormatByteSize(c.block_size * c.read_ahead) + ")");
  }
  c.max_connections = v.Count("max-connections", 1, 1'000'000);
  c.file_cache = v.Size("file-cache", 0, 64 * kGiB);
  c.file_cache_validity = v.Duration("file-cache-validity", true);
  c.hot_cache = vm["hot-cache"].as<std::string>() == "auto"
                    ? Config::kHotCacheAuto
                    : v.Size("hot-cache", 0, kMaxHotCache);
  c.hot_cache_window = v.Duration("hot-cache-window", false);
  c.header_timeout = v.Duration("header-timeout", false);
  c.idle_timeout = v.Duration("idle-timeout", false);
  c.send_timeout = v.Duration("send-timeout", false);
  c.send_min_rate = v.Size("send-min-rate", 0, kGiB);
  c.limit_rate = v.Size("limit-rate", 0, 64 * kGiB);
  if (c.limit_rate > 0 && c.limit_rate < kKiB) {
    v.Fail("limit-rate", vm["limit-rate"].as<std::string>(),
           "is below 1K (0 = no limit)");
  }
  c.limit_rate_after = v.Size("limit-rate-after", 0, kGiB * kMiB);
  c.shutdown_timeout = v.Duration("shutdown-timeout", true);
  c.drain_time = v.Duration("drain-time", true);
  c.max_request_line = v.Size("max-request-line", 256, kMiB);
  c.max_header_bytes = v.Size("max-header-bytes", 256, kMiB);
  if (c.max_header_bytes < c.max_request_line) {
    v.Fail("max-header-bytes", vm["max-header-bytes"].as<std::string>(),
           "is less than --max-request-line (" +
               FormatByteSize(c.max_request_line) + ")");
  }
  c.max_headers = v.Count("max-headers", 1, 10000);
  c.max_ranges = v.Count("max-ranges", 1, 10000);
  c.index = v.Names("index");
  c.allow_dotfiles = vm["allow-dotfiles"].as<bool>();
  c.autoindex = vm["autoindex"].as<bool>();
  c.allow_dot_paths = v.Globs("allow-dot-path");
  c.hide = v.Globs("hide");
  c.fallback = v.String("fallback");
  if (c.fallback == "off") {
    c.fallback.clear();
  } else if (c.fallback.front() != '/' || c.fallback.back() == '/' ||
             HasDotSegment(c.fallback) ||
             c.fallback.find("//") != std::string::npos) {
    v.Fail("fallback", c.fallback, "is not /PATH of a file below the root");
  }
  c.health_path = v.String("health-path");
  if (c.health_path == "off") {
    c.health_path.clear();
  } else if (c.health_path.front() != '/' ||
             c.health_path.find_first_of("?#% \t") != std::string::npos ||
             c.health_path.find("//") != std::string::npos ||
             HasDotSegment(c.health_path.substr(1)) ||
             !CheckFieldValue(c.health_path).empty()) {
    v.Fail("health-path", PrintableText(c.health_path),
           "is not /PATH (no query, no %-escapes, no dot segment)");
  }
  c.error_pages = v.ErrorPages();
  c.headers = v.Rules("header", ParseHeaderRule);
  c.cors = v.Rules("cors", ParseCorsRule);
  c.server_header = v.String("server-header");
  if (c.server_header == "off") {
    c.server_header.clear();
  } else if (std::string problem = CheckFieldValue(c.server_header);
             !problem.empty()) {
    v.Fail("server-header", PrintableText(c.server_header), problem);
  }
  c.precompressed = v.Codings("precompressed");
  c.mlock = vm["mlock"].as<bool>();
  c.log_level = v.String("log-level");
  if (std::find(kLogLevels.begin(), kLogLevels.end(), c.log_level) ==
      kLogLevels.end()) {
    v.Fail("log-level", c.log_level,
           "is not error, warning, notice, info or debug");
  }
  c.mime_types = v.String("mime-types");
  c.user = v.String("user");
  c.group = v.String("group");
  c.user_given = !vm["user"].defaulted();
  c.group_given = !vm["group"].defaulted();
  c.access_log = v.String("access-log");
  c.access_log_format = v.String("access-log-format");
  if (c.access_log_format != "common" && c.access_log_format != "combined" &&
      c.access_log_format != "json") {
    v.Fail("access-log-format", c.access_log_format,
           "is not common, combined or json");
  }
  if (vm.count("test-fail-reads") != 0) {
    c.test_fail_reads = v.Count("test-fail-reads", 0, 1'000'000);
  }
  c.metrics_allow = v.Networks("metrics-allow", false);
  const std::string metrics = v.String("metrics-listen");
  if (metrics != "off") {
    try {
      c.metrics_listen = ParseListenAddress(metrics);
    } catch (const ConfigError&) {
      v.Fail("metrics-listen", metrics, "is not HOST:PORT, [V6]:PORT or off");
    }
    if (c.metrics_listen.kind != ListenAddress::Kind::kInet) {
      v.Fail("metrics-listen", metrics, "is not HOST:PORT, [V6]:PORT or off");
    }
  }
  if (vm.count("config") != 0) c.config_file = vm["config"].as<std::string>();
  return c;
}

/// Boost's messages, reworded to "<flag>: <problem>" on one line; `file` is
/// the config file being read, if any.
[[noreturn]] void Rethrow(const po::error& e, const ConfigFile* file) {
  std::string flag;
  std::string where = file != nullptr ? file->path + ": " : "";
  const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
  if (named != nullptr) {
    flag = named->get_option_name();
    if (!flag.empty() && flag.front() != '-') flag = Flag(flag);
    if (file != nullptr && flag.size() > 2) {
      const std::string line = file->Where(flag.substr(2), "");
      if (!line.empty()) where = line;
    }
  }
  // GOTCHA: error_with_option_name::what() substitutes the option's name
  // and value into its message until no placeholder is left, so a value
  // such as "%value%" loops forever (Boost 1.74 replace_token). Its text is
  // never read; each kind gets its own words.
  std::string problem = named != nullptr ? "is not valid" : e.what();
  if (dynamic_cast<const po::unknown_option*>(&e) != nullptr) {
    problem = "unknown option";
  } else if (dynamic_cast<const po::multiple_occurrences*>(&e) != nullptr) {
    problem = "given more than once";
  } else if (const auto* s = dynamic_cast<const po::invalid_syntax*>(&e)) {
    if (s->kind() == po::invalid_syntax::missing_parameter ||
        s->kind() == po::invalid_syntax::empty_adjacent_parameter) {
      problem = "missing argument";
    } else if (s->kind() == po::invalid_syntax::extra_parameter) {
      problem = "takes no argument";
    }
  } else if (dynamic_cast<const po::invalid_bool_value*>(&e) != nullptr) {
    problem = "expects true or false";
  }
  throw ConfigError(where + (flag.empty() ? "" : flag + ": ") + problem);
}

/// GOTCHA: Boost takes the next word as the argument even when it is an
/// option ("--root --listen :80" sets root to "--listen"); call that a
/// missing argument, as the user meant.
void CheckArgumentsAreNotOptions(const po::parsed_options& parsed) {
  for (const auto& option : parsed.options) {
    if (option.original_tokens.size() == 2 && option.value.size() == 1 &&
        option.value[0].rfind("--", 0) == 0 && option.value[0].size() > 2) {
      throw ConfigError(Flag(option.string_key) + ": missing argument (got '" +
                        option.value[0] + "')");
    }
  }
}

}  // namespace

Invocation ParseCommandLine(int argc, const char* const* argv) {
  const po::options_description settings = SettingOptions();
  po::options_description command_line;
  command_line.add(settings).add(CommandOptions());
  po::options_description hidden;
  hidden.add_options()("argument", po::value<std::vector<std::string>>())(
      "test-fail-reads", po::value<std::string>());
  command_line.add(hidden);
  po::positional_options_description positional;
  positional.add("argument", -1);

  po::variables_map vm;
  std::set<std::string> cli;
  try {
    const auto parsed = po::command_line_parser(argc, argv)
                            .options(command_line)
                            .positional(positional)
                            .style(po::command_line_style::default_style &
                                   ~po::command_line_style::allow_guessing)
                            .run();
    CheckArgumentsAreNotOptions(parsed);
    for (const auto& option : parsed.options) cli.insert(option.string_key);
    po::store(parsed, vm);
  } catch (const po::error& e) {
    Rethrow(e, nullptr);
  }
  if (vm.count("argument") != 0) {
    throw ConfigError("unexpected argument '" +
                      vm["argument"].as<std::vector<std::string>>().front() +
                      "' (options start with --)");
  }

  Invocation invocation;
  if (vm["help"].as<bool>()) {
    invocation.action = Invocation::Action::kHelp;
    return invocation;
  }
  if (vm["version"].as<bool>()) {
    invocation.action = Invocation::Action::kVersion;
    return invocation;
  }
  if (vm["check-config"].as<bool>()) {
    invocation.action = Invocation::Action::kCheckConfig;
  }

  ConfigFile file;
  if (vm.count("config") != 0) {
    file.path = vm["config"].as<std::string>();
    if (file.path.empty()) throw ConfigError("--config: '' is not a file name");
    const std::string text = ReadConfigFile(file.path);
    file = ScanConfigFile(file.path, text, settings);
    std::istringstream in(text);
    try {
      po::store(po::parse_config_file(in, settings), vm);
    } catch (const po::error& e) {
      Rethrow(e, &file);
    }
  }
  po::notify(vm);
  invocation.config =
      MakeConfig(Validator(vm, cli, file.path.empty() ? nullptr : &file), vm);
  return invocation;
}

Config ReloadConfig(int argc, const char* const* argv) {
  return ParseCommandLine(argc, argv).config;
}

std::string HelpText() {
  std::ostringstream out;
  out << "Usage: ferryd [OPTIONS]\n"
      << "Serve the files of one directory tree to HTTP/1.1 clients.\n\n"
      << SettingOptions() << "\n"
      << CommandOptions();
  return out.str();
}

std::vector<std::string> ListenTexts(
    const std::vector<ListenAddress>& addresses) {
  std::vector<std::string> texts;
  texts.reserve(addresses.size());
  for (const ListenAddress& address : addresses) texts.push_back(address.text);
  return texts;
}

namespace {

std::string JoinNames(const std::vector<std::string>& names) {
  std::string joined;
  for (const std::string& name : names) {
    if (!joined.empty()) joined += ',';
    joined += name;
  }
  return joined;
}

void DescribeRepeated(std::ostream& out, const char* name,
                      const std::vector<std::string>& values) {
  if (values.empty()) out << name << " = off\n";
  for (const std::string& value : values) {
    out << name << " = " << value << "\n";
  }
}

}  // namespace

std::string DescribeConfig(const Config& c) {
  std::ostringstream out;
  out << "root = " << c.root << "\n";
  if (c.listen_given) {
    for (const auto& address : c.listen) {
      out << "listen = " << address.text << "\n";
    }
  } else {
    out << "# listen = " << kDefaultListen
        << "  (default; none with socket activation)\n";
  }
  DescribeRepeated(out, "ssl", ListenTexts(c.ssl));
  out << "ssl-certificate = " << c.ssl_certificate << "\n"
      << "ssl-certificate-key = " << c.ssl_certificate_key << "\n"
      << "ssl-protocols = " << c.ssl_protocols << "\n"
      << "ssl-ciphers = " << c.ssl_ciphers << "\n"
      << "ssl-redirect = " << (c.ssl_redirect ? "true" : "false") << "\n";
  DescribeRepeated(out, "proxy-protocol", ListenTexts(c.proxy_protocol));
  out << "proxy-protocol-from = " << c.proxy_protocol_from << "\n";
  out << "real-ip-from = " << c.real_ip_from << "\n"
      << "real-ip-header = " << c.real_ip_header << "\n";
  out << "workers = " << c.workers << "\n"
      << "helper-threads = " << c.helper_threads << "\n"
      << "block-size = " << FormatByteSize(c.block_size) << "\n"
      << "read-ahead = " << c.read_ahead << "\n"
      << "queue-depth = " << c.queue_depth << "\n"
      << "buffer-memory = " << FormatByteSize(c.buffer_memory) << "\n"
      << "max-connections = " << c.max_connections << "\n"
      << "file-cache = " << FormatByteSize(c.file_cache) << "\n"
      << "file-cache-validity = " << FormatDuration(c.file_cache_validity)
      << "\n"
      << "hot-cache = "
      << (c.hot_cache == Config::kHotCacheAuto ? std::string("auto")
                                               : FormatByteSize(c.hot_cache))
      << "\n"
      << "hot-cache-window = " << FormatDuration(c.hot_cache_window) << "\n"
      << "header-timeout = " << FormatDuration(c.header_timeout) << "\n"
      << "idle-timeout = " << FormatDuration(c.idle_timeout) << "\n"
      << "send-timeout = " << FormatDuration(c.send_timeout) << "\n"
      << "send-min-rate = " << FormatByteSize(c.send_min_rate) << "\n"
      << "limit-rate = " << FormatByteSize(c.limit_rate) << "\n"
      << "limit-rate-after = " << FormatByteSize(c.limit_rate_after) << "\n"
      << "shutdown-timeout = " << FormatDuration(c.shutdown_timeout) << "\n"
      << "drain-time = " << FormatDuration(c.drain_time) << "\n"
      << "max-request-line = " << FormatByteSize(c.max_request_line) << "\n"
      << "max-header-bytes = " << FormatByteSize(c.max_header_bytes) << "\n"
      << "max-headers = " << c.max_headers << "\n"
      << "max-ranges = " << c.max_ranges << "\n"
      << "index = " << JoinNames(c.index) << "\n"
      << "autoindex = " << (c.autoindex ? "true" : "false") << "\n"
      << "allow-dotfiles = " << (c.allow_dotfiles ? "true" : "false") << "\n";
  DescribeRepeated(out, "allow-dot-path", c.allow_dot_paths);
  DescribeRepeated(out, "hide", c.hide);
  out << "fallback = " << (c.fallback.empty() ? "off" : c.fallback) << "\n";
  DescribeRepeated(out, "error-page", c.error_pages);
  DescribeRepeated(out, "header", c.headers);
  DescribeRepeated(out, "cors", c.cors);
  out << "server-header = "
      << (c.server_header.empty() ? "off" : c.server_header) << "\n";
  out << "precompressed = "
      << (c.precompressed.empty() ? "off" : JoinNames(c.precompressed)) << "\n";
  out << "mlock = " << (c.mlock ? "true" : "false") << "\n"
      << "log-level = " << c.log_level << "\n"
      << "mime-types = " << c.mime_types << "\n"
      << "user = " << c.user << "\n"
      << "group = " << c.group << "\n"
      << "access-log = " << c.access_log << "\n"
      << "access-log-format = " << c.access_log_format << "\n"
      << "metrics-listen = "
      << (c.metrics_listen.text.empty() ? "off" : c.metrics_listen.text) << "\n"
      << "metrics-allow = " << c.metrics_allow << "\n"
      << "health-path = " << (c.health_path.empty() ? "off" : c.health_path)
      << "\n";
  return out.str();
}

}  // namespace ferry

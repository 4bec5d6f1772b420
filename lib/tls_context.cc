#include "tls_context.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <utility>

#include "log.h"

namespace ferry {
namespace {

constexpr const char* kAlpnHttp11 = "http/1.1";

/// The reason of the oldest error OpenSSL queued (the one that says what
/// was wrong, the later ones say where), and an empty queue.
std::string OpenSslReason() {
  unsigned long code = ERR_peek_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  ERR_clear_error();
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

[[noreturn]] void Fail(const char* flag, const std::string& value,
                       const std::string& problem) {
  throw ConfigError(std::string(flag) + ": '" + value + "' " + problem);
}

/// ALPN: http/1.1 when the client offers it; a client offering only
/// others (h2 alone) goes on without ALPN rather than failing.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_length,
               const unsigned char* in, unsigned int in_length, void*) {
  for (unsigned int i = 0; i < in_length; i += 1 + in[i]) {
    const unsigned int length = in[i];
    if (i + 1 + length > in_length) break;
    if (length == std::strlen(kAlpnHttp11) &&
        std::memcmp(in + i + 1, kAlpnHttp11, length) == 0) {
      *out = in + i + 1;
      *out_length = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

/// The kernel can seal TLS records: /proc lists the tls upper layer.
bool KernelTlsAvailable() {
  std::ifstream ulps("/proc/sys/net/ipv4/tcp_available_ulp");
  for (std::string ulp; ulps >> ulp;) {
    if (ulp == "tls") return true;
  }
  return false;
}

void WarnIfKeyShared(const std::string& path) {
  struct stat status {};
  if (stat(path.c_str(), &status) != 0) return;  // the load says why
  if ((status.st_mode & (S_IRGRP | S_IROTH)) == 0) return;
  Log(LogLevel::kWarning,
      "--ssl-certificate-key %s is readable by %s (mode %04o): only its "
      "owner should read a private key (chmod 600)",
      path.c_str(), (status.st_mode & S_IROTH) != 0 ? "others" : "its group",
      static_cast<unsigned>(status.st_mode & 07777));
}

/// One session-ticket key: its name (sent in the clear in the ticket), the
/// AES-256-CBC key that seals the ticket and the HMAC-SHA256 key that
/// signs it (what OpenSSL's own ticket keys are).
struct TicketKey {
  unsigned char name[16];
  unsigned char aes[32];
  unsigned char hmac[32];
};

/// Points the MAC of a ticket at `key`'s HMAC key. Returns 1, or -1 (the
/// callback's "error").
int UseHmacKey(EVP_MAC_CTX* mac, const TicketKey& key) {
  char digest[] = "sha256";
  // OSSL_PARAM wants a writable pointer; the MAC only copies the key.
  auto* hmac = const_cast<unsigned char*>(key.hmac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, hmac,
                                        sizeof key.hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(mac, params) == 1 ? 1 : -1;
}

}  // namespace

struct TlsContext::TicketKeys {
  /// [0] seals and opens; [1], the one [0] replaced, only opens.
  std::array<TicketKey, 2> keys{};
  std::size_t count = 0;

  TicketKeys() = default;
  TicketKeys(const TicketKeys&) = default;
  TicketKeys& operator=(const TicketKeys&) = default;
  ~TicketKeys() { OPENSSL_cleanse(keys.data(), sizeof keys); }
};

bool ParseTlsProtocols(const std::string& text, int* lowest, int* highest) {
  *lowest = 0;
  *highest = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find_first_of(", ", start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    int version = 0;
    if (item == "TLSv1.2") {
      version = TLS1_2_VERSION;
    } else if (item == "TLSv1.3") {
      version = TLS1_3_VERSION;
    } else if (!item.empty()) {
      return false;
    }
    if (version != 0) {
      if (*lowest == 0 || version < *lowest) *lowest = version;
      if (version > *highest) *highest = version;
    }
    start = end + 1;
  }
  return *lowest != 0;
}

TlsContext::TlsContext(const Config& config)
    : ctx_(SSL_CTX_new(TLS_server_method())),
      tickets_(std::make_unique<TicketKeys>()) {
  if (ctx_ == nullptr) {
    throw ConfigError("--ssl: cannot make a TLS context: " + OpenSslReason());
  }
  try {
    Configure(config);
  } catch (...) {
    SSL_CTX_free(ctx_);  // no destructor runs for a constructor that threw
    ctx_ = nullptr;
    throw;
  }
}

void TlsContext::Configure(const Config& config) {
  int lowest = 0;
  int highest = 0;
  if (!ParseTlsProtocols(config.ssl_protocols, &lowest, &highest)) {
    Fail("--ssl-protocols", config.ssl_protocols,
         "is not a list of TLSv1.2 and TLSv1.3");
  }
  SSL_CTX_set_min_proto_version(ctx_, lowest);
  SSL_CTX_set_max_proto_version(ctx_, highest);
  // No renegotiation (a client could make us read while we send, and pay
  // for handshakes at will); the server's cipher order; tickets rather
  // than a per-worker session cache, which no other worker could read. A
  // client's EOF without close_notify is its end of input, not an error.
  SSL_CTX_set_options(
      ctx_, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
  // An idle connection gives its record buffers back (~34 KiB).
  SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS);
  // Read-ahead: one read(2) takes whole records (and what follows them)
  // instead of a 5-byte header and then the body: 3 reads per keep-alive
  // request became 2, server CPU per 4 KiB request 22.2 -> 20.2 us.
  // TlsStream::Receive reads on until OpenSSL needs socket bytes, so
  // records buffered here are never left waiting for a signal.
  SSL_CTX_set_read_ahead(ctx_, 1);
  if (SSL_CTX_set_cipher_list(ctx_, config.ssl_ciphers.c_str()) != 1) {
    Fail("--ssl-ciphers", config.ssl_ciphers,
         "names no usable TLS 1.2 cipher: " + OpenSslReason());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx_,
                                         config.ssl_certificate.c_str()) != 1) {
    Fail("--ssl-certificate", config.ssl_certificate,
         "cannot be used: " + OpenSslReason());
  }
  WarnIfKeyShared(config.ssl_certificate_key);
  if (SSL_CTX_use_PrivateKey_file(ctx_, config.ssl_certificate_key.c_str(),
                                  SSL_FILETYPE_PEM) != 1) {
    Fail("--ssl-certificate-key", config.ssl_certificate_key,
         "cannot be used: " + OpenSslReason());
  }
  if (SSL_CTX_check_private_key(ctx_) != 1) {
    Fail("--ssl-certificate-key", config.ssl_certificate_key,
         "does not match --ssl-certificate: " + OpenSslReason());
  }
  kernel_tls_ = KernelTlsAvailable();
  if (kernel_tls_) SSL_CTX_set_options(ctx_, SSL_OP_ENABLE_KTLS);
  SSL_CTX_set_alpn_select_cb(ctx_, SelectAlpn, nullptr);
  static constexpr unsigned char kContext[] = "ferryd";
  SSL_CTX_set_session_id_context(ctx_, kContext, sizeof kContext - 1);
  SSL_CTX_set_app_data(ctx_, tickets_.get());
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx_, OnTicketKey);
  RotateTicketKeys();
}

void TlsContext::RotateTicketKeys() {
  if (tickets_ == nullptr) return;
  TicketKey fresh{};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&fresh), sizeof fresh) != 1) {
    throw ConfigError("--ssl: cannot make session ticket keys: " +
                      OpenSslReason());
  }
  std::array<TicketKey, 2>& keys = tickets_->keys;
  keys[1] = keys[0];
  keys[0] = fresh;
  OPENSSL_cleanse(&fresh, sizeof fresh);
  tickets_->count = std::min<std::size_t>(tickets_->count + 1, keys.size());
}

void TlsContext::TakeTicketKeys(const TlsContext& older) {
  if (tickets_ != nullptr && older.tickets_ != nullptr) {
    *tickets_ = *older.tickets_;
  }
}

// OpenSSL calls this to seal a ticket (`encrypt`) and to open one: 1 is
// done, 2 opened with the older key (OpenSSL then issues a new ticket),
// 0 a key we do not have (a full handshake), -1 an error.
int TlsContext::OnTicketKey(SSL* ssl, unsigned char* key_name,
                            unsigned char* iv, EVP_CIPHER_CTX* cipher,
                            EVP_MAC_CTX* mac, int encrypt) {
  const auto* tickets = static_cast<const TicketKeys*>(
      SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (tickets == nullptr || tickets->count == 0) return encrypt ? -1 : 0;
  if (encrypt != 0) {
    const TicketKey& key = tickets->keys[0];
    const int iv_length = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
    if (RAND_bytes(iv, iv_length) != 1) return -1;
    std::memcpy(key_name, key.name, sizeof key.name);
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv) !=
        1) {
      return -1;
    }
    return UseHmacKey(mac, key);
  }
  for (std::size_t i = 0; i < tickets->count; ++i) {
    const TicketKey& key = tickets->keys[i];
    if (std::memcmp(key_name, key.name, sizeof key.name) != 0) continue;
    if (UseHmacKey(mac, key) != 1 ||
        EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv) !=
            1) {
      return -1;
    }
    return i == 0 ? 1 : 2;
  }
  return 0;
}

TlsContext::TlsContext() = default;

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

TlsContext::TlsContext(TlsContext&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)),
      tickets_(std::move(other.tickets_)),
      kernel_tls_(other.kernel_tls_) {}

TlsContext& TlsContext::operator=(TlsContext&& other) noexcept {
  if (this != &other) {
    SSL_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    tickets_ = std::move(other.tickets_);
    kernel_tls_ = other.kernel_tls_;
  }
  return *this;
}

}  // namespace ferry

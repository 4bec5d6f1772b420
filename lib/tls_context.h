#pragma once
// The TLS server context (OpenSSL 3) of the --ssl listeners: certificate,
// private key, protocols, ciphers, ALPN and session-ticket keys, built once
// by the master (as root, before it forks) and inherited by every worker,
// so that no worker ever opens the key file and every worker resumes the
// sessions any other one started.

#include <openssl/types.h>

#include <string>

#include "config.h"

namespace ferry {

/// Owns one SSL_CTX. Move-only.
class TlsContext {
 public:
  TlsContext() = default;
  /// Reads --ssl-certificate and --ssl-certificate-key and applies
  /// --ssl-protocols and --ssl-ciphers. Throws ConfigError, one line
  /// naming the flag, on a file that cannot be read or used or a value
  /// OpenSSL refuses. Logs one warning when the key file is readable by
  /// its group or others.
  explicit TlsContext(const Config& config);
  ~TlsContext();
  TlsContext(TlsContext&& other) noexcept;
  TlsContext& operator=(TlsContext&& other) noexcept;
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// nullptr when no listener speaks TLS.
  SSL_CTX* get() const { return ctx_; }
  /// Records are sealed by the kernel (kTLS): the tls ULP is available.
  bool kernel_tls() const { return kernel_tls_; }

  /// Replaces the session-ticket keys with fresh random ones: tickets
  /// issued before no longer resume. Call before forking the workers that
  /// should share them. Throws ConfigError when OpenSSL fails.
  void NewTicketKeys();

 private:
  void Configure(const Config& config);

  SSL_CTX* ctx_ = nullptr;
  bool kernel_tls_ = false;
};

/// "TLSv1.2,TLSv1.3" -> the lowest and highest protocol versions
/// (TLS1_2_VERSION...). Returns false for anything else (older protocols
/// included), an empty list too.
bool ParseTlsProtocols(const std::string& text, int* lowest, int* highest);

}  // namespace ferry

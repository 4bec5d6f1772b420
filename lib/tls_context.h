#pragma once
// The TLS server context (OpenSSL 3) of the --ssl listeners: certificate,
// private key, protocols, ciphers, ALPN and session-ticket keys, built once
// by the master (as root, before it forks) and inherited by every worker,
// so that no worker ever opens the key file and every worker resumes the
// sessions any other one started.

#include <openssl/types.h>

#include <memory>
#include <string>

#include "config.h"

namespace ferry {

/// Owns one SSL_CTX. Move-only.
class TlsContext {
 public:
  TlsContext();
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

  /// Starts a new generation of session-ticket keys: fresh random keys
  /// seal the tickets issued from now on, the keys that sealed them until
  /// now still open them (and such a ticket is renewed) until the next
  /// rotation; tickets older than that make a full handshake. Call before
  /// forking the workers that should share them (a reload). Throws
  /// ConfigError when OpenSSL fails.
  void RotateTicketKeys();
  /// Takes over `older`'s session-ticket keys (a context loaded on reload
  /// goes on with the running one's); RotateTicketKeys follows.
  void TakeTicketKeys(const TlsContext& older);

 private:
  /// The session-ticket keys: the newest seals and opens, the one before
  /// only opens.
  struct TicketKeys;

  void Configure(const Config& config);
  /// OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb).
  static int OnTicketKey(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                         EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt);

  SSL_CTX* ctx_ = nullptr;
  /// Reached by OpenSSL's ticket callback through the SSL_CTX's app data;
  /// on the heap, so that a move leaves its address as it is.
  std::unique_ptr<TicketKeys> tickets_;
  bool kernel_tls_ = false;
};

/// "TLSv1.2,TLSv1.3" -> the lowest and highest protocol versions
/// (TLS1_2_VERSION...). Returns false for anything else (older protocols
/// included), an empty list too.
bool ParseTlsProtocols(const std::string& text, int* lowest, int* highest);

}  // namespace ferry

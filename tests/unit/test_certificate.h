#pragma once
// A self-signed ECDSA P-256 certificate and its key, made in memory for
// the TLS tests and written as PEM files into a TempDir.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>

#include "test_files.h"

namespace ferry::testing {

/// Writes "cert.pem" and "key.pem" (CN=localhost) into `dir`; the key
/// file's mode is `key_mode`.
struct TestCertificate {
  std::string certificate;
  std::string key;

  explicit TestCertificate(const TempDir& dir, mode_t key_mode = 0600) {
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x509 = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
    X509_gmtime_adj(X509_getm_notBefore(x509), 0);
    X509_gmtime_adj(X509_getm_notAfter(x509), 86400);
    X509_set_pubkey(x509, pkey);
    X509_NAME* name = X509_get_subject_name(x509);
    X509_NAME_add_entry_by_txt(
        name, "CN", MBSTRING_ASC,
        reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x509, name);
    X509_sign(x509, pkey, EVP_sha256());
    certificate = dir.Write("cert.pem", ToPem(x509));
    key = dir.Write("key.pem", ToPem(pkey));
    chmod(key.c_str(), key_mode);
    X509_free(x509);
    EVP_PKEY_free(pkey);
  }

 private:
  template <typename Object>
  static std::string ToPem(Object* object) {
    BIO* bio = BIO_new(BIO_s_mem());
    if constexpr (std::is_same_v<Object, X509>) {
      PEM_write_bio_X509(bio, object);
    } else {
      PEM_write_bio_PrivateKey(bio, object, nullptr, nullptr, 0, nullptr,
                               nullptr);
    }
    char* data = nullptr;
    long length = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(length));
    BIO_free(bio);
    return pem;
  }
};

}  // namespace ferry::testing

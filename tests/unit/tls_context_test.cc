#include "tls_context.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include <string>

#include "config.h"
#include "test_certificate.h"
#include "test_files.h"

namespace ferry {
namespace {

using testing::TempDir;
using testing::TestCertificate;

Config TlsConfig(const TestCertificate& files) {
  Config config;
  config.ssl = {ParseListenAddress("127.0.0.1:0")};
  config.ssl_certificate = files.certificate;
  config.ssl_certificate_key = files.key;
  return config;
}

std::string ErrorOf(const Config& config) {
  try {
    TlsContext context(config);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(TlsContextTest, LoadsACertificateAndItsKey) {
  TempDir dir;
  TestCertificate files(dir);
  TlsContext context(TlsConfig(files));
  EXPECT_NE(context.get(), nullptr);
  context.RotateTicketKeys();
  TlsContext moved = std::move(context);
  EXPECT_NE(moved.get(), nullptr);
  EXPECT_EQ(context.get(), nullptr);  // NOLINT(bugprone-use-after-move)
}

TEST(TlsContextTest, EachBadFileNamesItsFlag) {
  TempDir dir;
  TestCertificate files(dir);
  Config config = TlsConfig(files);
  config.ssl_certificate = dir.Write("garbage.pem", "not a certificate\n");
  EXPECT_EQ(ErrorOf(config).rfind("--ssl-certificate: '", 0), 0u)
      << ErrorOf(config);
  config = TlsConfig(files);
  config.ssl_certificate_key = dir.path() + "/missing.pem";
  EXPECT_EQ(ErrorOf(config).rfind("--ssl-certificate-key: '", 0), 0u)
      << ErrorOf(config);
  TempDir other;
  TestCertificate stranger(other);
  config.ssl_certificate_key = stranger.key;
  EXPECT_EQ(ErrorOf(config).rfind("--ssl-certificate-key: '", 0), 0u);
  EXPECT_NE(ErrorOf(config).find("mismatch"), std::string::npos)
      << ErrorOf(config);
  config = TlsConfig(files);
  config.ssl_ciphers = "NO-SUCH-CIPHER";
  EXPECT_EQ(ErrorOf(config).rfind("--ssl-ciphers: '", 0), 0u)
      << ErrorOf(config);
}

TEST(TlsContextTest, ProtocolsAreTls12AndTls13Only) {
  int lowest = 0;
  int highest = 0;
  ASSERT_TRUE(ParseTlsProtocols("TLSv1.2,TLSv1.3", &lowest, &highest));
  EXPECT_EQ(lowest, TLS1_2_VERSION);
  EXPECT_EQ(highest, TLS1_3_VERSION);
  ASSERT_TRUE(ParseTlsProtocols("TLSv1.3", &lowest, &highest));
  EXPECT_EQ(lowest, TLS1_3_VERSION);
  ASSERT_TRUE(ParseTlsProtocols("TLSv1.3 TLSv1.2", &lowest, &highest));
  EXPECT_EQ(lowest, TLS1_2_VERSION);
  EXPECT_FALSE(ParseTlsProtocols("TLSv1.1,TLSv1.2", &lowest, &highest));
  EXPECT_FALSE(ParseTlsProtocols("TLSv1", &lowest, &highest));
  EXPECT_FALSE(ParseTlsProtocols("SSLv3", &lowest, &highest));
  EXPECT_FALSE(ParseTlsProtocols("", &lowest, &highest));
  EXPECT_FALSE(ParseTlsProtocols(",", &lowest, &highest));
}

/// One TLS 1.2 handshake in memory between a server of `server` and a
/// client offering `offer` (nullptr: none).
struct Handshake {
  bool resumed = false;
  SSL_SESSION* session = nullptr;  ///< the client's, with its new ticket

  Handshake(const TlsContext& server, SSL_SESSION* offer) {
    SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(client_ctx, TLS1_2_VERSION);
    SSL* client = SSL_new(client_ctx);
    SSL* ours = SSL_new(server.get());
    BIO* client_end = nullptr;
    BIO* our_end = nullptr;
    BIO_new_bio_pair(&client_end, 0, &our_end, 0);
    SSL_set_bio(client, client_end, client_end);
    SSL_set_bio(ours, our_end, our_end);
    SSL_set_connect_state(client);
    SSL_set_accept_state(ours);
    if (offer != nullptr) SSL_set_session(client, offer);
    bool done = false;
    for (int i = 0; i < 20 && !done; ++i) {
      const int client_done = SSL_do_handshake(client);
      done = SSL_do_handshake(ours) == 1 && client_done == 1;
    }
    EXPECT_TRUE(done);
    resumed = SSL_session_reused(ours) == 1;
    session = SSL_get1_session(client);
    // GOTCHA: SSL_free of a connection that did not send close_notify marks
    // its session not resumable (ssl_clear_bad_session).
    SSL_shutdown(client);
    SSL_free(ours);
    SSL_free(client);
    SSL_CTX_free(client_ctx);
  }
  ~Handshake() { SSL_SESSION_free(session); }
  Handshake(const Handshake&) = delete;
  Handshake& operator=(const Handshake&) = delete;
};

// A ticket outlives one rotation (a reload), not two; one opened with the
// previous key is renewed under the newest.
TEST(TlsContextTest, ATicketResumesAcrossOneRotationNotTwo) {
  TempDir dir;
  TestCertificate files(dir);
  TlsContext context(TlsConfig(files));
  Handshake first(context, nullptr);
  EXPECT_FALSE(first.resumed);
  EXPECT_TRUE(Handshake(context, first.session).resumed);
  context.RotateTicketKeys();
  Handshake renewed(context, first.session);
  EXPECT_TRUE(renewed.resumed);
  context.RotateTicketKeys();
  EXPECT_FALSE(Handshake(context, first.session).resumed);
  EXPECT_TRUE(Handshake(context, renewed.session).resumed);
}

// A context loaded on reload takes the running one's keys before rotating:
// the tickets of the generation before still resume on it.
TEST(TlsContextTest, AReloadedContextOpensTheTicketsOfTheOneItReplaces) {
  TempDir dir;
  TestCertificate files(dir);
  TlsContext running(TlsConfig(files));
  Handshake before(running, nullptr);
  TempDir other;
  TestCertificate renewed_files(other);
  TlsContext reloaded(TlsConfig(renewed_files));
  EXPECT_FALSE(Handshake(reloaded, before.session).resumed);
  reloaded.TakeTicketKeys(running);
  reloaded.RotateTicketKeys();
  EXPECT_TRUE(Handshake(reloaded, before.session).resumed);
  Handshake after(reloaded, nullptr);
  EXPECT_FALSE(Handshake(running, after.session).resumed);
}

}  // namespace
}  // namespace ferry

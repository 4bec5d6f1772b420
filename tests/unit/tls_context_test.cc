#include "tls_context.h"

#include <gtest/gtest.h>
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
  context.NewTicketKeys();
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

}  // namespace
}  // namespace ferry

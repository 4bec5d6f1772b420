#include "tls_stream.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "config.h"
#include "test_certificate.h"
#include "test_files.h"
#include "tls_context.h"
#include "unique_fd.h"

namespace ferry {
namespace {

using testing::TempDir;
using testing::TestCertificate;

/// A TlsStream on one end of a non-blocking socketpair, an OpenSSL client
/// on the other.
class TlsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Config config;
    config.ssl_certificate = files_.certificate;
    config.ssl_certificate_key = files_.key;
    context_ = TlsContext(config);
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    ours_.Reset(fds[0]);
    theirs_.Reset(fds[1]);
    ASSERT_EQ(stream_.Attach(ours_.get(), context_.get()), 0);
    client_ctx_ = SSL_CTX_new(TLS_client_method());
    client_ = SSL_new(client_ctx_);
    SSL_set_fd(client_, theirs_.get());
    SSL_set_connect_state(client_);
  }
  void TearDown() override {
    SSL_free(client_);
    SSL_CTX_free(client_ctx_);
  }

  /// Runs the handshake, the server's side inside Receive() as in the
  /// loop; true when both ends finished.
  bool Handshake() {
    char buffer[16];
    for (int i = 0; i < 100; ++i) {
      const int done = SSL_do_handshake(client_);
      EXPECT_EQ(stream_.Receive(buffer, sizeof buffer), -EAGAIN);
      if (done == 1) return true;
      ERR_clear_error();
    }
    return false;
  }

  void ClientWrite(const std::string& text) {
    std::size_t written = 0;
    ASSERT_EQ(SSL_write_ex(client_, text.data(), text.size(), &written), 1);
  }

  /// What the client can read now.
  std::string ClientRead() {
    std::string out;
    char buffer[65536];
    std::size_t n = 0;
    while (SSL_read_ex(client_, buffer, sizeof buffer, &n) == 1) {
      out.append(buffer, n);
    }
    ERR_clear_error();
    return out;
  }

  TempDir dir_;
  TestCertificate files_{dir_};
  TlsContext context_;
  UniqueFd ours_;
  UniqueFd theirs_;
  TlsStream stream_;
  SSL_CTX* client_ctx_ = nullptr;
  SSL* client_ = nullptr;
};

// Two records in one burst come out of one Receive(): none is left inside
// OpenSSL, where no socket signal would announce it.
TEST_F(TlsStreamTest, ReceiveDrainsEveryRecordThatArrived) {
  ASSERT_TRUE(Handshake());
  ClientWrite("GET / HTTP/1.1\r\n");
  ClientWrite("Host: x\r\n\r\n");
  char buffer[4096];
  ssize_t n = stream_.Receive(buffer, sizeof buffer);
  ASSERT_EQ(n, 27);
  EXPECT_EQ(std::string(buffer, 27), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(stream_.Receive(buffer, sizeof buffer), -EAGAIN);
  EXPECT_FALSE(stream_.WaitsForOtherDirection());
}

TEST_F(TlsStreamTest, AFullBufferLeavesTheRestForTheNextReceive) {
  ASSERT_TRUE(Handshake());
  ClientWrite("0123456789");
  char buffer[4];
  ASSERT_EQ(stream_.Receive(buffer, sizeof buffer), 4);
  ASSERT_EQ(stream_.Receive(buffer, sizeof buffer), 4);
  ASSERT_EQ(stream_.Receive(buffer, sizeof buffer), 2);
  EXPECT_EQ(std::string(buffer, 2), "89");
}

// Send() owns what it took; a record the socket had no room for waits for
// Flush(), and every byte arrives once, in order.
TEST_F(TlsStreamTest, SendTakesRecordsAndFlushSendsWhatWaited) {
  ASSERT_TRUE(Handshake());
  std::string body(1 << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = char(i * 7 + i / 251);
  std::size_t taken = 0;
  std::string received;
  bool blocked = false;
  while (taken < body.size() || stream_.Flush() != 0) {
    if (taken < body.size()) {
      iovec iov[2] = {{body.data() + taken, 1000},
                      {body.data() + taken + 1000, body.size() - taken - 1000}};
      const ssize_t n =
          stream_.Send(iov, taken + 1000 < body.size() ? 2 : 1, false);
      if (n > 0) {
        ASSERT_LE(n, static_cast<ssize_t>(TlsStream::kRecordBytes));
        taken += static_cast<std::size_t>(n);
        continue;
      }
      ASSERT_EQ(n, -EAGAIN);
    }
    blocked = true;
    EXPECT_GT(stream_.Unacknowledged(), 0u);
    received += ClientRead();
  }
  received += ClientRead();
  EXPECT_TRUE(blocked) << "the socket never filled";
  ASSERT_EQ(received.size(), body.size());
  EXPECT_TRUE(received == body);
  EXPECT_EQ(stream_.Flush(), 0);
}

TEST_F(TlsStreamTest, FilesGoThroughSend) {
  EXPECT_FALSE(stream_.SendsFiles());
  off_t offset = 0;
  EXPECT_EQ(stream_.SendFile(0, &offset, 10), -EOPNOTSUPP);
}

TEST_F(TlsStreamTest, GarbageInsteadOfAClientHelloFails) {
  const std::string plain = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(write(theirs_.get(), plain.data(), plain.size()),
            static_cast<ssize_t>(plain.size()));
  char buffer[64];
  EXPECT_EQ(stream_.Receive(buffer, sizeof buffer), -EPROTO);
}

TEST_F(TlsStreamTest, TheClientsEndIsTheEndOfInput) {
  ASSERT_TRUE(Handshake());
  ClientWrite("last words");
  SSL_shutdown(client_);  // close_notify
  char buffer[64];
  ASSERT_EQ(stream_.Receive(buffer, sizeof buffer), 10);
  EXPECT_EQ(stream_.Receive(buffer, sizeof buffer), 0);
}

TEST_F(TlsStreamTest, ACloseDuringTheHandshakeIsTheEndOfInput) {
  char buffer[64];
  SSL_do_handshake(client_);  // half a conversation: the ClientHello
  ERR_clear_error();
  EXPECT_EQ(stream_.Receive(buffer, sizeof buffer), -EAGAIN);
  theirs_.Reset();
  const ssize_t n = stream_.Receive(buffer, sizeof buffer);
  EXPECT_TRUE(n == 0 || n == -ECONNRESET || n == -EPIPE) << n;
}

}  // namespace
}  // namespace ferry

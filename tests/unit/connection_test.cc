#include "connection.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "aio_context.h"
#include "block_reads.h"
#include "buffer_pool.h"
#include "event_loop.h"
#include "signals.h"
#include "test_files.h"

namespace ferry {
namespace {

using testing::SupportsDirectIo;
using testing::TempDir;

constexpr std::uint64_t kAioTag = UINT64_MAX - 1;
constexpr unsigned kAioDepth = 32;
constexpr std::size_t kTableSize = 1024;
constexpr int kPatienceMs = 5000;
constexpr int kMaxSteps = 100'000;

/// Small blocks and a small pool, so that a 1 MiB file takes many reads.
Config TestConfig() {
  Config config;
  config.block_size = 64 * kKiB;
  config.buffer_memory = 8 * config.block_size;
  config.file_cache = 0;
  return config;
}

/// What a worker builds around its connections (see the Worker
/// constructor), by hand, and its after-wait phases (see Worker::Run) as a
/// driver: socket signals reach the connections through a real EventLoop,
/// reads through a real AioContext and HelperPool. The test owns the
/// connections; closed ones are forgotten as the worker does.
struct TestWorker final : public EventLoop::Handler {
  TestWorker(const std::string& root_path, const Config& given)
      : config(given),
        root(root_path),
        site(SiteRules::From(config)),
        headers(HeaderRules::From(config)),
        pool(config.block_size, Blocks(config)),
        reads(Blocks(config)),
        aio(kAioDepth),
        loop(DaemonSignals(), kTableSize),
        helpers(config.helper_threads, root, CurrentThreadId()),
        cache(config.file_cache == 0 ? nullptr
                                     : std::make_unique<FileCache>(
                                           config.file_cache, config.block_size,
                                           config.file_cache_validity.count())),
        io{.pool = pool,
           .aio = aio,
           .reads = reads,
           .helpers = helpers,
           .counters = counters,
           .waiting = waiting,
           .reclaim_wanted = false,
           .max_request_bytes = 0,
           .nowait_reads = true},
        ctx{.config = config,
            .root = root,
            .mime = mime,
            .site = site,
            .headers = headers,
            .cache = cache.get(),
            .helpers = helpers,
            .counters = counters,
            .io = io,
            .resume = resume,
            .input_blocks = input_blocks,
            .pacer = pacer,
            .limits = {.max_request_line = config.max_request_line,
                       .max_header_bytes = config.max_header_bytes,
                       .max_headers = config.max_headers},
            .access_log = false,
            .access_log_format = AccessLogFormat::kCombined,
            .now_ms = 0,
            .now_sec = 0,
            .stopping = false} {
    loop.Watch(aio.event_fd(), kAioTag, EPOLLIN);
    TakeTime();
  }

  static std::uint32_t Blocks(const Config& config) {
    return static_cast<std::uint32_t>(config.buffer_memory / config.block_size);
  }

  /// What Worker::AcceptAll does with an accepted socket.
  void Accept(Connection& connection, UniqueFd socket, std::uint64_t token,
              bool proxy_header = false) {
    int fd = socket.get();
    ArmSocketSignals(fd, SocketSignal(), CurrentThreadId());
    loop.Map(fd, token);
    live[token] = &connection;
    sockaddr_storage peer{};
    peer.ss_family = AF_UNIX;
    connection.Start(std::move(socket), token, peer, proxy_header, false, ctx);
    ForgetIfClosed(token, &connection);
  }

  /// One loop iteration: the wait (at most `timeout_ms`), then the
  /// after-wait phases in the worker's order. Returns what Wait returned.
  int Step(int timeout_ms) {
    aio.Submit();  // reads queued by calls the test made between steps
    int timeout = aio.HasRejected() || !resume.empty() ? 0
                  : aio.HasQueued()                    ? 1
                                                       : timeout_ms;
    int pace = pacer.TimeoutMs(loop.now_ms());
    if (pace >= 0 && (timeout < 0 || pace < timeout)) timeout = pace;
    int ready = loop.Wait(timeout, *this);
    TakeTime();
    ReapReads();
    TakeHelperResults();
    ResumeTurns();
    ResumePaced();
    WakeWaiters();
    aio.Submit();
    return ready;
  }

  /// Steps until `done()` holds. False when it does not within kMaxSteps,
  /// or when a wait of kPatienceMs brought nothing while nothing was
  /// pending (it never would).
  bool RunUntil(const std::function<bool()>& done) {
    for (int i = 0; i < kMaxSteps; ++i) {
      if (done()) return true;
      bool busy = !resume.empty() || aio.HasQueued() || aio.HasRejected();
      // A paced connection's wake-up brings no event: waiting is not idle.
      bool pacing = pacer.size() > 0;
      if (Step(busy ? 0 : kPatienceMs) == 0 && !busy && !pacing && !done()) {
        return false;
      }
    }
    return done();
  }

  /// Nothing in flight: no read, no helper job, no turn to resume, nobody
  /// waiting for a block.
  bool Quiet() const {
    return resume.empty() && waiting.empty() && pacer.size() == 0 &&
           aio.in_flight() == 0 && !aio.HasQueued() && !aio.HasRejected() &&
           helpers.outstanding() == 0;
  }

  /// Worker::BeginShutdown, for the connections.
  void BeginShutdown() {
    ctx.stopping = true;
    DeliverToAll([&](Connection& c) { c.OnShutdown(ctx); });
  }
  /// The timer's tick, at `now_ms`.
  void Tick(std::int64_t now_ms) {
    ctx.now_ms = now_ms;
    DeliverToAll([&](Connection& c) { c.OnTick(ctx); });
  }

  // EventLoop::Handler
  void OnSocketReady(std::uint64_t tag, int, std::uint32_t band) override {
    TakeTime();
    Deliver(tag, [&](Connection& c) { c.OnSocketEvent(band, ctx); });
  }
  void OnWatchedReady(std::uint64_t) override { TakeTime(); }
  void OnSignal(int) override { TakeTime(); }

  void TakeTime() {
    ctx.now_ms = loop.now_ms();
    ctx.now_sec = loop.now_sec();
  }

  template <typename Event>
  bool Deliver(std::uint64_t token, Event&& event) {
    auto found = live.find(token);
    if (found == live.end()) return false;
    Connection* connection = found->second;
    event(*connection);
    ForgetIfClosed(token, connection);
    return true;
  }
  template <typename Event>
  void DeliverToAll(Event&& event) {
    std::vector<std::uint64_t> tokens;
    for (const auto& [token, connection] : live) tokens.push_back(token);
    for (std::uint64_t token : tokens) Deliver(token, event);
  }
  void ForgetIfClosed(std::uint64_t token, Connection* connection) {
    if (connection->state() != Connection::State::kClosed) return;
    loop.Unmap(connection->socket_fd(), token);
    live.erase(token);
  }

  // Worker::ReapReads, TakeHelperResults, ResumeTurns, WakeWaiters.
  void ReapReads() {
    if (aio.in_flight() == 0 && !aio.HasRejected()) return;
    aio.Reap(&completions);
    Bump(counters.aio_completed, completions.size());
    for (const AioCompletion& done : completions) {
      std::uint32_t block = reads.BlockOf(done.read);
      if (!Deliver(done.read->token(), [&](Connection& c) {
            c.OnReadDone(block, done.result, ctx);
          })) {
        pool.Release(block);
      }
    }
  }
  void TakeHelperResults() {
    helpers.TakeCompleted(&finished_jobs);
    for (HelperJob& job : finished_jobs) {
      switch (job.kind) {
        case HelperJob::Kind::kRead:
          Bump(counters.helper_reads);
          if (!Deliver(job.token, [&](Connection& c) {
                c.OnReadDone(job.block, job.result, ctx);
              })) {
            pool.Release(job.block);
          }
          break;
        case HelperJob::Kind::kLoadBlockMap:
          Bump(counters.block_maps);
          Deliver(job.token, [&](Connection& c) {
            c.OnBlockMapLoaded(std::move(job.extents), ctx);
          });
          break;
        case HelperJob::Kind::kOpen:
          Deliver(job.token, [&](Connection& c) {
            c.OnOpenDone(std::move(job.opened), ctx);
          });
          break;
        case HelperJob::Kind::kList:
          Deliver(job.token, [&](Connection& c) {
            c.OnListingDone(static_cast<int>(job.result), job.listing,
                            std::move(job.page), ctx);
          });
          break;
        case HelperJob::Kind::kPopulate:  // the fixture's pool is present
        case HelperJob::Kind::kPin:       // and it has no hot files
        case HelperJob::Kind::kUnpin:
          break;
      }
    }
    finished_jobs.clear();
  }
  void ResumeTurns() {
    resume_taken.swap(resume);
    for (std::uint64_t token : resume_taken) {
      Deliver(token, [&](Connection& c) { c.ResumeTurn(ctx); });
    }
    resume_taken.clear();
  }
  void ResumePaced() {
    pacer.TakeDue(ctx.now_ms, &paced_due);
    for (std::uint64_t token : paced_due) {
      Deliver(token, [&](Connection& c) { c.OnPaceDue(ctx); });
    }
  }
  void WakeWaiters() {
    ServeWaiters();
    if (io.reclaim_wanted && !waiting.empty() && pool.free_count() == 0) {
      for (const auto& [token, connection] : live) {
        if (connection->Stalled()) connection->ReclaimBlocks(ctx);
      }
      ServeWaiters();
    }
    io.reclaim_wanted = false;
  }
  void ServeWaiters() {
    while (!waiting.empty() && pool.free_count() > 0 && aio.Capacity() > 0) {
      std::uint64_t token = waiting.front();
      waiting.pop_front();
      Deliver(token, [&](Connection& c) { c.OnBlockAvailable(ctx); });
    }
  }

  Config config;
  DocumentRoot root;
  MimeTypes mime;
  SiteRules site;
  HeaderRules headers;
  BufferPool pool;
  BlockReads reads;
  AioContext aio;
  EventLoop loop;
  HelperPool helpers;
  std::unique_ptr<FileCache> cache;
  WorkerCounters counters{};
  std::deque<std::uint64_t> waiting;
  std::vector<std::uint64_t> resume;
  InputBlocks input_blocks;
  std::vector<std::uint64_t> resume_taken;
  Pacer pacer;
  std::vector<std::uint64_t> paced_due;
  ReadServices io;
  ServingContext ctx;
  std::map<std::uint64_t, Connection*> live;
  std::vector<AioCompletion> completions;
  std::vector<HelperJob> finished_jobs;
};

/// The client's end of the socket pair: non-blocking, never waits.
struct Client {
  UniqueFd fd;
  std::string received;
  bool eof = false;

  void Send(std::string_view text) {
    ASSERT_EQ(write(fd.get(), text.data(), text.size()),
              static_cast<ssize_t>(text.size()));
  }
  /// Takes what has arrived.
  void Receive() {
    char buffer[65536];
    for (;;) {
      ssize_t n = read(fd.get(), buffer, sizeof buffer);
      if (n > 0) {
        received.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) eof = true;
      return;
    }
  }
};

struct Response {
  int status = 0;
  std::string head;
  std::string body;
};

/// Takes one whole response off the front of `buffer`, if it is all there.
/// `head_only`: the answer to a HEAD (no body whatever Content-Length says).
bool TakeResponse(std::string* buffer, bool head_only, Response* out) {
  std::size_t end = buffer->find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::string head = buffer->substr(0, end + 4);
  std::size_t length = 0;
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::size_t field = lower.find("\r\ncontent-length: ");
  if (field != std::string::npos && !head_only) {
    length = std::stoull(head.substr(field + 18));
  }
  if (buffer->size() < head.size() + length) return false;
  out->status = std::stoi(head.substr(9, 3));
  out->head = head;
  out->body = buffer->substr(head.size(), length);
  buffer->erase(0, head.size() + length);
  return true;
}

std::string Get(std::string_view path, std::string_view extra = {}) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" +
         std::string(extra) + "\r\n";
}
std::string Head(std::string_view path) {
  return "HEAD " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

/// `size` bytes that no shifted copy of themselves matches.
std::string Pattern(std::size_t size) {
  std::mt19937 random(42);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

/// True when `fd` is no open descriptor any more.
bool IsClosed(int fd) { return fcntl(fd, F_GETFD) == -1 && errno == EBADF; }

class ConnectionTest : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kToken = 1;

  void SetUp() override {
    BlockDaemonSignals();  // before the helpers' threads exist
    DrainPending();
    dir_.Write("a.txt", "hello, ferry\n");
    dir_.Write("b.txt", "second file\n");
  }
  void TearDown() override {
    worker_.reset();  // joins the helpers
    DrainPending();
  }

  static void DrainPending() {
    SignalFd signals(DaemonSignals());
    signalfd_siginfo batch[64];
    while (signals.Read(batch, 64) > 0) {
    }
  }

  void StartWorker(const Config& config = TestConfig()) {
    worker_ = std::make_unique<TestWorker>(dir_.path(), config);
  }

  /// A socket pair whose server end `connection` takes, as if accepted;
  /// `send_buffer` (bytes, 0: the default) bounds what the kernel holds of
  /// our response.
  Client Connect(Connection& connection, int send_buffer = 0) {
    int fds[2] = {-1, -1};
    EXPECT_EQ(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
        0);
    if (send_buffer > 0) {
      EXPECT_EQ(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &send_buffer,
                           sizeof send_buffer),
                0);
    }
    worker_->Accept(connection, UniqueFd(fds[0]), kToken);
    Client client;
    client.fd = UniqueFd(fds[1]);
    return client;
  }

  /// Runs the worker until the client has a whole response.
  bool Await(Client& client, Response* response, bool head_only = false) {
    return worker_->RunUntil([&] {
      client.Receive();
      return TakeResponse(&client.received, head_only, response);
    });
  }

  /// Runs the worker until `connection` waits for a request with nothing in
  /// flight.
  bool AwaitIdle(const Connection& connection) {
    return worker_->RunUntil([&] {
      return connection.state() == Connection::State::kReadingRequest &&
             worker_->Quiet();
    });
  }

  TempDir dir_;
  std::unique_ptr<TestWorker> worker_;
};

TEST_F(ConnectionTest, AGetOfASmallFileIs200WithTheBodyThenKeepAlive) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  EXPECT_EQ(connection.state(), Connection::State::kReadingRequest);
  client.Send(Get("/a.txt"));
  Response response;
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "hello, ferry\n");
  EXPECT_NE(response.head.find("Content-Type: text/plain"), std::string::npos)
      << response.head;
  ASSERT_TRUE(AwaitIdle(connection));
  EXPECT_EQ(worker_->pool.free_count(), worker_->pool.block_count());
  EXPECT_EQ(worker_->counters.requests.load(), 1u);
  EXPECT_EQ(worker_->counters.responses_2xx.load(), 1u);
  client.Receive();
  EXPECT_TRUE(client.received.empty());
  EXPECT_FALSE(client.eof);

  // The same connection answers the next one.
  client.Send(Get("/b.txt"));
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "second file\n");
}

TEST_F(ConnectionTest, AHeadIsTheHeadAlone) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  client.Send(Head("/a.txt"));
  Response response;
  ASSERT_TRUE(Await(client, &response, /*head_only=*/true));
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.head.find("Content-Length: 13\r\n"), std::string::npos)
      << response.head;
  ASSERT_TRUE(AwaitIdle(connection));
  client.Receive();
  EXPECT_EQ(client.received, "") << "a body followed the head";
}

TEST_F(ConnectionTest, AMissingFileIs404AndTheConnectionStays) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  client.Send(Get("/missing.txt"));
  Response response;
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.status, 404);
  ASSERT_TRUE(AwaitIdle(connection));
  EXPECT_EQ(worker_->counters.responses_4xx.load(), 1u);
}

TEST_F(ConnectionTest, OptionsIsAnsweredFromTheRulesWithoutAnOpen) {
  Config config = TestConfig();
  config.headers = {"/* Cache-Control: no-cache"};
  config.cors = {"/* https://app.example"};
  StartWorker(config);
  Connection connection;
  Client client = Connect(connection);
  client.Send(
      "OPTIONS /missing.txt HTTP/1.1\r\nHost: t\r\n"
      "Origin: https://app.example\r\n"
      "Access-Control-Request-Method: GET\r\n\r\n"
      "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
  Response preflight;
  ASSERT_TRUE(Await(client, &preflight));
  EXPECT_EQ(preflight.status, 204);
  EXPECT_NE(preflight.head.find("\r\nAllow: GET, HEAD, OPTIONS\r\n"),
            std::string::npos);
  EXPECT_NE(preflight.head.find(
                "\r\nAccess-Control-Allow-Origin: https://app.example\r\n"),
            std::string::npos);
  EXPECT_EQ(preflight.head.find("Cache-Control"), std::string::npos);
  Response asterisk;
  ASSERT_TRUE(Await(client, &asterisk));
  EXPECT_EQ(asterisk.status, 204);
  EXPECT_EQ(asterisk.head.find("Access-Control"), std::string::npos);
  EXPECT_EQ(worker_->counters.helper_opens.load(), 0u);
  EXPECT_EQ(worker_->counters.cache_misses.load(), 0u);
  // The next response gets its own fields, the preflight's gone.
  client.Send("GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  Response get;
  ASSERT_TRUE(Await(client, &get));
  EXPECT_EQ(get.status, 200);
  EXPECT_NE(get.head.find("\r\nCache-Control: no-cache\r\n"),
            std::string::npos);
  EXPECT_NE(get.head.find("\r\nVary: Origin\r\n"), std::string::npos);
  EXPECT_EQ(get.head.find("Allow"), std::string::npos) << get.head;
}

TEST_F(ConnectionTest, SslRedirectAnswersAPlainClientButAnAcmeChallenge) {
  Config config = TestConfig();
  config.ssl_redirect = true;
  config.https_port = 8443;
  StartWorker(config);
  Connection connection;
  Client client = Connect(connection);
  client.Send(
      "GET /a.txt?x HTTP/1.1\r\nHost: t:8080\r\n\r\n"
      "GET /.well-known/acme-challenge/none HTTP/1.1\r\nHost: t\r\n\r\n"
      "POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab");
  struct Expected {
    int status;
    std::string_view fields;  ///< found in the head
  };
  // The challenge is looked up (404: served as usual); the POST's body is
  // not read, so its 308 closes the connection.
  for (const Expected& expected : {
           Expected{301,
                    "\r\nLocation: https://t:8443/a.txt?x\r\n"
                    "Connection: keep-alive\r\n"},
           Expected{404, "\r\nConnection: keep-alive\r\n"},
           Expected{308,
                    "\r\nLocation: https://t:8443/form\r\n"
                    "Connection: close\r\n"},
       }) {
    Response answer;
    ASSERT_TRUE(Await(client, &answer));
    EXPECT_EQ(answer.status, expected.status);
    EXPECT_NE(answer.head.find(expected.fields), std::string::npos)
        << answer.head;
  }
  EXPECT_EQ(worker_->counters.requests.load(), 3u);
  EXPECT_EQ(worker_->counters.responses_3xx.load(), 2u);
  EXPECT_EQ(worker_->counters.responses_4xx.load(), 1u);
}

TEST_F(ConnectionTest, ARequestInPiecesIsAnsweredWhenItIsWhole) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  for (std::string_view piece :
       {"GE", "T /a.txt HTT", "P/1.1\r\nHost: t\r\n"}) {
    client.Send(piece);
    EXPECT_EQ(worker_->Step(kPatienceMs), 1) << "no signal for " << piece;
    client.Receive();
    EXPECT_EQ(client.received, "") << "answered after " << piece;
    EXPECT_EQ(connection.state(), Connection::State::kReadingRequest);
  }
  client.Send("\r\n");
  Response response;
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "hello, ferry\n");
  EXPECT_EQ(worker_->counters.requests.load(), 1u);
}

TEST_F(ConnectionTest, PipelinedRequestsAreAnsweredInOrder) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  client.Send(Get("/a.txt") + Get("/b.txt") + Head("/a.txt") + Get("/missing") +
              Get("/a.txt"));
  Response response;
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.body, "hello, ferry\n");
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.body, "second file\n");
  ASSERT_TRUE(Await(client, &response, /*head_only=*/true));
  EXPECT_EQ(response.status, 200);
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.status, 404);
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "hello, ferry\n");
  ASSERT_TRUE(AwaitIdle(connection));
  client.Receive();
  EXPECT_EQ(client.received, "");
}

TEST_F(ConnectionTest, MoreThanATurnOfPipelinedRequestsYieldsThenAnswersAll) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  // A first HEAD puts the lookup in the dentry cache: then every HEAD is
  // answered at once, in the connection's own turn.
  client.Send(Head("/a.txt"));
  Response response;
  ASSERT_TRUE(Await(client, &response, /*head_only=*/true));
  ASSERT_TRUE(AwaitIdle(connection));

  constexpr int kRequests = 20;
  std::string burst;
  for (int i = 0; i < kRequests; ++i) burst += Head("/a.txt");
  client.Send(burst);
  // The socket's signal, as the loop would hand it over (the pending one
  // comes later: a stale hint, harmless).
  connection.OnSocketEvent(POLLIN, worker_->ctx);
  client.Receive();
  int answered = 0;
  while (TakeResponse(&client.received, true, &response)) {
    EXPECT_EQ(response.status, 200);
    ++answered;
  }
  EXPECT_EQ(answered, 16) << "one turn answers kRequestsPerTurn";
  EXPECT_EQ(worker_->resume, std::vector<std::uint64_t>{kToken});
  EXPECT_EQ(connection.state(), Connection::State::kReadingRequest);

  ASSERT_TRUE(worker_->RunUntil([&] {
    client.Receive();
    while (TakeResponse(&client.received, true, &response)) ++answered;
    return answered == kRequests;
  }));
  ASSERT_TRUE(AwaitIdle(connection));
  EXPECT_EQ(worker_->counters.requests.load(), 1u + kRequests);
}

TEST_F(ConnectionTest, AnOversizedHeadIs431ThenTheConnectionCloses) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  client.Send("GET /a.txt HTTP/1.1\r\nHost: t\r\nX-Big: " +
              std::string(20'000, 'a'));
  Response response;
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.status, 431);
  EXPECT_NE(response.head.find("Connection: close"), std::string::npos)
      << response.head;
  // The write side is shut (the client sees the end), the read side drains.
  ASSERT_TRUE(worker_->RunUntil([&] {
    client.Receive();
    return client.eof;
  }));
  int fd = connection.socket_fd();
  EXPECT_EQ(connection.state(), Connection::State::kLingering);
  client.fd.Reset();
  ASSERT_TRUE(worker_->RunUntil(
      [&] { return connection.state() == Connection::State::kClosed; }));
  EXPECT_TRUE(IsClosed(fd));
  EXPECT_TRUE(worker_->live.empty());
}

TEST_F(ConnectionTest, ConnectionCloseLingersUntilTheClientCloses) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  client.Send(Get("/a.txt", "Connection: close\r\n"));
  Response response;
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "hello, ferry\n");
  ASSERT_TRUE(worker_->RunUntil([&] {
    client.Receive();
    return client.eof && worker_->Quiet();
  }));
  EXPECT_EQ(connection.state(), Connection::State::kLingering);
  // What the client still sends is read and dropped.
  client.Send(Get("/b.txt"));
  EXPECT_EQ(worker_->Step(kPatienceMs), 1);
  EXPECT_EQ(connection.state(), Connection::State::kLingering);
  int fd = connection.socket_fd();
  client.fd.Reset();
  ASSERT_TRUE(worker_->RunUntil(
      [&] { return connection.state() == Connection::State::kClosed; }));
  EXPECT_TRUE(IsClosed(fd));
}

TEST_F(ConnectionTest, TheClientClosingMidRequestClosesTheSocket) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  client.Send("GET /a.txt HTTP/1.1\r\nHo");
  EXPECT_EQ(worker_->Step(kPatienceMs), 1);
  EXPECT_EQ(connection.state(), Connection::State::kReadingRequest);
  int fd = connection.socket_fd();
  EXPECT_FALSE(IsClosed(fd));
  client.fd.Reset();
  ASSERT_TRUE(worker_->RunUntil(
      [&] { return connection.state() == Connection::State::kClosed; }));
  EXPECT_TRUE(IsClosed(fd)) << "Close() must close the socket";
  EXPECT_TRUE(worker_->live.empty());
}

TEST_F(ConnectionTest, ASilentClientIsClosedAtTheHeaderTimeout) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  std::int64_t started = worker_->ctx.now_ms;
  std::int64_t timeout = worker_->config.header_timeout.count();
  worker_->Tick(started + timeout - 1);
  EXPECT_EQ(connection.state(), Connection::State::kReadingRequest);
  worker_->Tick(started + timeout + 1);
  EXPECT_EQ(connection.state(), Connection::State::kClosed);
  EXPECT_EQ(worker_->counters.timeouts.load(), 1u);
  client.Receive();
  EXPECT_TRUE(client.eof) << "the client sees the end";
}

TEST_F(ConnectionTest, AnIdleKeepAliveConnectionHasTheIdleTimeout) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  client.Send(Get("/a.txt"));
  Response response;
  ASSERT_TRUE(Await(client, &response));
  ASSERT_TRUE(AwaitIdle(connection));
  std::int64_t answered = worker_->ctx.now_ms;
  worker_->Tick(answered + worker_->config.header_timeout.count() + 1);
  EXPECT_EQ(connection.state(), Connection::State::kReadingRequest);
  worker_->Tick(answered + worker_->config.idle_timeout.count() + 1);
  EXPECT_EQ(connection.state(), Connection::State::kClosed);
}

TEST_F(ConnectionTest, AStalledDownloadGivesItsBlocksBackAndStillCompletes) {
  std::string content = Pattern(1 * kMiB + 123);
  dir_.Write("big.bin", content);
  StartWorker();
  BufferPool& pool = worker_->pool;
  Connection connection;
  Client client = Connect(connection, /*send_buffer=*/16 * 1024);
  client.Send(Get("/big.bin"));
  // The client does not read: the socket fills, the sender waits for
  // POLL_OUT; the window's reads complete meanwhile.
  ASSERT_TRUE(worker_->RunUntil([&] {
    return connection.Stalled() && worker_->aio.in_flight() == 0 &&
           !worker_->aio.HasQueued() && worker_->helpers.outstanding() == 0;
  }));
  std::uint32_t free_before = pool.free_count();
  ASSERT_LT(free_before, pool.block_count()) << "the window holds no block";
  std::size_t released = connection.ReclaimBlocks(worker_->ctx);
  EXPECT_EQ(released, pool.block_count() - free_before);
  EXPECT_EQ(pool.free_count(), pool.block_count());
  EXPECT_TRUE(connection.Stalled());

  Response response;
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.status, 200);
  ASSERT_EQ(response.body.size(), content.size());
  EXPECT_TRUE(response.body == content) << "the body differs";
  ASSERT_TRUE(AwaitIdle(connection));
  EXPECT_EQ(pool.free_count(), pool.block_count());
  EXPECT_EQ(worker_->counters.bytes_sent.load(),
            response.head.size() + content.size());
}

TEST_F(ConnectionTest, ALimitedResponseIsPacedNeverSentAhead) {
  // 400 KiB at 1 MiB/s after the first 100 KiB: a quantum is 52,428 bytes.
  std::string content = Pattern(400 * kKiB);
  dir_.Write("big.bin", content);
  Config config = TestConfig();
  config.limit_rate = kMiB;
  config.limit_rate_after = 100 * kKiB;
  StartWorker(config);
  Connection connection;
  Client client = Connect(connection);
  client.Send(Get("/big.bin"));
  std::int64_t start_ms = worker_->ctx.now_ms;
  SendLimit limit(config.limit_rate, config.limit_rate_after);
  limit.Start(start_ms);
  Response response;
  std::uint64_t most_ahead = 0;
  ASSERT_TRUE(worker_->RunUntil([&] {
    client.Receive();
    // Never more than the allowance: the free bytes, a quantum, the rate.
    std::uint64_t allowed = limit.Allowance(worker_->ctx.now_ms, 0);
    std::uint64_t got = client.received.size();
    if (got > allowed) most_ahead = std::max(most_ahead, got - allowed);
    return TakeResponse(&client.received, false, &response);
  }));
  std::int64_t took_ms = worker_->ctx.now_ms - start_ms;
  EXPECT_EQ(most_ahead, 0U) << "sent ahead of the allowance";
  ASSERT_EQ(response.body.size(), content.size());
  EXPECT_TRUE(response.body == content) << "the body differs";
  // 300 KiB past the free bytes, less the first quantum, at 1 MiB/s.
  std::uint64_t limited = response.head.size() + content.size() - 100 * kKiB;
  EXPECT_GE(took_ms, static_cast<std::int64_t>((limited - limit.Quantum()) *
                                               1000 / kMiB));
  EXPECT_EQ(worker_->counters.rate_limited_bytes.load(), limited);
  EXPECT_GE(worker_->counters.rate_limit_waits.load(), 4U);
  ASSERT_TRUE(AwaitIdle(connection));
  EXPECT_EQ(worker_->pacer.size(), 0U);
}

TEST_F(ConnectionTest, ShutdownClosesAnIdleConnectionAtOnce) {
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  client.Send(Get("/a.txt"));
  Response response;
  ASSERT_TRUE(Await(client, &response));
  ASSERT_TRUE(AwaitIdle(connection));
  int fd = connection.socket_fd();
  worker_->BeginShutdown();
  EXPECT_EQ(connection.state(), Connection::State::kClosed);
  EXPECT_TRUE(IsClosed(fd));
  client.Receive();
  EXPECT_TRUE(client.eof);
}

TEST_F(ConnectionTest, ShutdownLetsABusyConnectionFinishItsResponse) {
  std::string content = Pattern(512 * kKiB);
  dir_.Write("big.bin", content);
  StartWorker();
  Connection connection;
  Client client = Connect(connection, /*send_buffer=*/16 * 1024);
  // A second request behind the first: no new request once stopping.
  client.Send(Get("/big.bin") + Get("/a.txt"));
  ASSERT_TRUE(worker_->RunUntil([&] { return connection.Stalled(); }));
  worker_->BeginShutdown();
  EXPECT_EQ(connection.state(), Connection::State::kStreaming);

  Response response;
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(response.body == content) << "the body differs";
  ASSERT_TRUE(worker_->RunUntil([&] {
    client.Receive();
    return client.eof;
  }));
  EXPECT_EQ(client.received, "") << "the pipelined request was answered";
  EXPECT_EQ(connection.state(), Connection::State::kLingering);
  client.fd.Reset();
  ASSERT_TRUE(worker_->RunUntil(
      [&] { return connection.state() == Connection::State::kClosed; }));
}

TEST_F(ConnectionTest, ASecondGetOfASmallFileComesFromTheCache) {
  Config config = TestConfig();
  config.file_cache = 1 * kMiB;
  StartWorker(config);
  Connection connection;
  Client client = Connect(connection);
  Response first, second;
  client.Send(Get("/a.txt"));
  ASSERT_TRUE(Await(client, &first));
  ASSERT_TRUE(AwaitIdle(connection));
  client.Send(Get("/a.txt"));
  ASSERT_TRUE(Await(client, &second));
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(worker_->counters.cache_misses.load(), 1u);
  EXPECT_EQ(worker_->counters.cache_hits.load(), 1u);
}

TEST_F(ConnectionTest, TheCacheRemembersAFileHasNoVariantUntilItsNextCheck) {
  // --precompressed tries NAME.gz for each client accepting gzip; once a
  // cached file is known to have none, it is served with no open at all,
  // so a variant written now is not seen before the entry's next check.
  Config config = TestConfig();
  config.file_cache = 1 * kMiB;
  config.file_cache_validity = std::chrono::hours(1);
  config.precompressed = {"br", "gzip"};
  StartWorker(config);
  Connection connection;
  Client client = Connect(connection);
  const std::string get = Get("/a.txt", "Accept-Encoding: gzip\r\n");
  Response response;
  for (int i = 0; i < 3; ++i) {  // a miss, a hit that learns, a hit
    client.Send(get);
    ASSERT_TRUE(Await(client, &response));
    ASSERT_TRUE(AwaitIdle(connection));
    EXPECT_EQ(response.body, "hello, ferry\n");
    EXPECT_NE(response.head.find("\r\nVary: Accept-Encoding\r\n"),
              std::string::npos);
  }
  EXPECT_EQ(worker_->counters.cache_hits.load(), 2u);
  dir_.Write("a.txt.gz", "not looked for");
  client.Send(get);
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.body, "hello, ferry\n") << "a.txt.gz was opened";
  EXPECT_EQ(response.head.find("Content-Encoding"), std::string::npos);
  // A client accepting br as well has not been looked for: its codings
  // are tried, and a.txt.gz is found.
  ASSERT_TRUE(AwaitIdle(connection));
  client.Send(Get("/a.txt", "Accept-Encoding: br, gzip\r\n"));
  ASSERT_TRUE(Await(client, &response));
  EXPECT_EQ(response.body, "not looked for");
  EXPECT_NE(response.head.find("\r\nContent-Encoding: gzip\r\n"),
            std::string::npos);
}

TEST_F(ConnectionTest, AFileOnADirectIoFileSystemIsReadWithAio) {
  if (!SupportsDirectIo(dir_.path())) {
    GTEST_SKIP() << dir_.path() << " refuses O_DIRECT: reads go to helpers";
  }
  std::string content = Pattern(200 * kKiB + 7);
  dir_.Write("c.bin", content);
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  client.Send(Get("/c.bin"));
  Response response;
  ASSERT_TRUE(Await(client, &response));
  EXPECT_TRUE(response.body == content) << "the body differs";
  EXPECT_GE(worker_->counters.aio_reads.load(), 4u);  // 64 KiB blocks
  EXPECT_EQ(worker_->counters.aio_errors.load(), 0u);
  // Over kInodeMappedMax: the block map was loaded before the first read.
  EXPECT_EQ(worker_->counters.block_maps.load(), 1u);
}

TEST_F(ConnectionTest, AHeadOfALargeFileLoadsNoBlockMap) {
  // Nothing is read for a HEAD, so there is no block map to load; a load
  // started anyway finishes after the response, and its extents would be
  // taken for those of the next file the connection sends.
  if (!SupportsDirectIo(dir_.path())) {
    GTEST_SKIP() << dir_.path() << " refuses O_DIRECT: no block map is loaded";
  }
  dir_.Write("c.bin", Pattern(200 * kKiB));
  StartWorker();
  Connection connection;
  Client client = Connect(connection);
  client.Send(Head("/c.bin"));
  Response response;
  ASSERT_TRUE(Await(client, &response, /*head_only=*/true));
  EXPECT_EQ(response.status, 200);
  ASSERT_TRUE(AwaitIdle(connection));
  EXPECT_EQ(worker_->counters.block_maps.load(), 0u);
}

}  // namespace
}  // namespace ferry

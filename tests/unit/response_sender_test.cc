#include "response_sender.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "test_sockets.h"
#include "unique_fd.h"

namespace ferry {
namespace {

using Status = ResponseSender::Status;

constexpr std::time_t kNow = 1'700'000'000;
constexpr std::uint64_t kUnlimited = std::uint64_t{1} << 40;

std::string RandomBytes(std::size_t size) {
  std::mt19937 random(4321);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

/// A file's bytes in memory, ready up to an offset the test moves: the read
/// window without the disk (the sender's side of BodySource is what is
/// tested here). With `any_range` false it serves only the selected range,
/// as ReadWindow does, in iovecs of at most kChunk bytes (its blocks), and
/// records what the sender selects and reports sent.
class FakeBody final : public BodySource {
 public:
  static constexpr std::uint64_t kChunk = 1000;

  FakeBody(const std::string& file, bool any_range)
      : file_(file), any_range_(any_range), ready_(file.size()) {}

  void MakeReady(std::uint64_t end) { ready_ = end; }

  void Select(std::uint64_t begin, std::uint64_t end) override {
    selects.emplace_back(begin, end);
    events.push_back("select " + std::to_string(begin));
  }
  bool ServesAnyRange() const override { return any_range_; }
  int Gather(std::uint64_t position, std::uint64_t end, iovec* iov, int max,
             bool* complete) override {
    if (!any_range_) {
      EXPECT_FALSE(selects.empty());
      if (!selects.empty()) {
        EXPECT_GE(position, selects.back().first);
        EXPECT_EQ(end, selects.back().second) << "only the selected range";
      }
    }
    std::uint64_t stop = std::min(end, std::max(position, ready_));
    int n = 0;
    while (position < stop && n < max) {
      std::uint64_t length = std::min(kChunk, stop - position);
      iov[n++] = {const_cast<char*>(file_.data()) + position, length};
      position += length;
    }
    *complete = position >= end;
    return n;
  }
  int SendfileFd(std::uint64_t, std::uint64_t) const override { return -1; }
  void Sent(std::uint64_t position) override {
    sent.emplace_back(selects.empty() ? 0 : selects.size() - 1, position);
    events.push_back("sent " + std::to_string(position));
  }

  std::vector<std::pair<std::uint64_t, std::uint64_t>> selects;
  /// (index into selects, position) for every Sent().
  std::vector<std::pair<std::size_t, std::uint64_t>> sent;
  std::vector<std::string> events;

 private:
  const std::string& file_;
  bool any_range_;
  std::uint64_t ready_;
};

/// The real socket, watched: counts the calls the sender makes through it.
class WatchedStream final : public ByteStream {
 public:
  explicit WatchedStream(ByteStream& inner) : inner_(inner) {}

  ssize_t Receive(char* buffer, std::size_t length) override {
    return inner_.Receive(buffer, length);
  }
  ssize_t Send(const iovec* iov, std::size_t count, bool more) override {
    std::uint64_t asked = 0;
    for (std::size_t i = 0; i < count; ++i) asked += iov[i].iov_len;
    sends.push_back({asked, more});
    return inner_.Send(iov, count, more);
  }
  ssize_t SendFile(int file, off_t* offset, std::size_t length) override {
    ++sendfiles;
    return inner_.SendFile(file, offset, length);
  }
  bool SendsFiles() const override { return sends_files; }
  ssize_t Flush() override {
    ++flushes;
    if (flush_eagains > 0) {
      --flush_eagains;
      return -EAGAIN;
    }
    return inner_.Flush();
  }
  void ShutdownWrite() override { inner_.ShutdownWrite(); }
  std::uint64_t Unacknowledged() const override {
    return inner_.Unacknowledged();
  }
  void ResetOnClose() override { inner_.ResetOnClose(); }

  struct Call {
    std::uint64_t bytes;  ///< asked to send
    bool more;
  };
  std::vector<Call> sends;
  int sendfiles = 0;
  bool sends_files = true;  ///< what SendsFiles() says (TLS: false)
  int flush_eagains = 0;    ///< Flush() says -EAGAIN this many times first
  int flushes = 0;

 private:
  ByteStream& inner_;
};

/// What `layout` sends, with `file` as the file's bytes.
std::string Expected(const ResponseLayout& layout, const std::string& file) {
  std::string out;
  for (const Piece& piece : layout.pieces) {
    const std::string& from =
        piece.kind == Piece::Kind::kText ? layout.text : file;
    out.append(from, piece.offset, piece.length);
  }
  return out;
}

std::uint64_t HeadLength(const ResponseLayout& layout) {
  return layout.text.find("\r\n\r\n") + 4;
}

/// A 200 for the whole `file`, or a 206 for `range` ("bytes=...").
void BuildFile(const std::string& file, ResponseLayout* layout,
               std::string_view range = {}) {
  Request request;
  request.range = range;
  FileInfo info;
  info.size = file.size();
  info.mtime_sec = kNow - 100;
  info.inode = 12;
  BuildFileResponse(request, info, "application/octet-stream", kNow, 10,
                    "BOUNDARY0123", true, layout);
}

class ResponseSenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
        0);
    ours_.Reset(fds[0]);
    theirs_.Reset(fds[1]);
    stream_.Attach(ours_.get());
  }

  /// A send buffer of a few KiB: most responses take several sends.
  void ShrinkSendBuffer() {
    int size = 4096;
    ASSERT_EQ(
        setsockopt(ours_.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
  }

  /// Everything the peer can read now.
  std::string Drain() {
    std::string out;
    char buffer[65536];
    for (;;) {
      ssize_t n = read(theirs_.get(), buffer, sizeof buffer);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }

  bool Writable() {
    pollfd pfd{ours_.get(), POLLOUT, 0};
    return poll(&pfd, 1, 0) == 1;
  }

  /// Sends turns of `budget` until done, the peer reading whenever the
  /// socket is full; returns what the peer received.
  std::string SendAll(ResponseSender& sender, ByteStream& stream,
                      std::uint64_t budget,
                      std::vector<ResponseSender::Turn>* turns = nullptr) {
    std::string received;
    for (int i = 0; i < 100000; ++i) {
      ResponseSender::Turn turn = sender.SendTurn(stream, budget);
      if (turns != nullptr) turns->push_back(turn);
      EXPECT_LE(turn.bytes, budget);
      if (turn.status == Status::kBlocked) {
        EXPECT_FALSE(Writable()) << "blocked on a socket that has room";
        received += Drain();
        EXPECT_TRUE(testing::WaitFor(ours_.get(), POLLOUT));
        continue;
      }
      received += Drain();
      if (turn.status == Status::kDone) return received;
      if (turn.status != Status::kYielded) {
        ADD_FAILURE() << "turn ended with status "
                      << static_cast<int>(turn.status);
        return received;
      }
    }
    ADD_FAILURE() << "never done";
    return received;
  }

  UniqueFd ours_, theirs_;
  SocketStream stream_;
};

TEST_F(ResponseSenderTest, AStatusResponseGoesOutWhole) {
  ResponseSender sender;
  BuildStatusResponse(404, false, kNow, true, {}, 0, &sender.layout());
  std::string expected = Expected(sender.layout(), "");
  ASSERT_GT(expected.size(), HeadLength(sender.layout())) << "has an HTML body";
  FakeBody body("", false);
  sender.Start(body);
  EXPECT_FALSE(sender.done());
  ResponseSender::Turn turn = sender.SendTurn(stream_, kUnlimited);
  EXPECT_EQ(turn.status, Status::kDone);
  EXPECT_EQ(turn.bytes, expected.size());
  EXPECT_TRUE(sender.done());
  EXPECT_EQ(Drain(), expected);
  EXPECT_EQ(sender.sent(), expected.size());
  EXPECT_EQ(sender.body_sent(), expected.size() - HeadLength(sender.layout()));
  EXPECT_TRUE(body.selects.empty()) << "no file piece";
}

TEST_F(ResponseSenderTest, AFileResponseIsItsHeadThenItsBody) {
  const std::string file = RandomBytes(20000);
  ResponseSender sender;
  BuildFile(file, &sender.layout());
  ASSERT_EQ(sender.layout().pieces.size(), 2u);
  const std::string head = sender.layout().text;
  FakeBody body(file, false);
  WatchedStream watched(stream_);
  sender.Start(body);
  EXPECT_EQ(SendAll(sender, watched, kUnlimited), head + file);
  EXPECT_EQ(sender.sent(), head.size() + file.size());
  EXPECT_EQ(sender.body_sent(), file.size());
  ASSERT_FALSE(watched.sends.empty());
  EXPECT_GT(watched.sends[0].bytes, head.size())
      << "the head leaves with the first file bytes";
  EXPECT_EQ(body.selects, (decltype(body.selects){{0, file.size()}}));
  ASSERT_FALSE(body.sent.empty());
  EXPECT_EQ(body.sent.back().second, file.size());
}

TEST_F(ResponseSenderTest, AFullSocketBlocksAndTheRestFollowsOnce) {
  ShrinkSendBuffer();
  const std::string file = RandomBytes(200000);
  ResponseSender sender;
  BuildFile(file, &sender.layout());
  const std::string expected = Expected(sender.layout(), file);
  FakeBody body(file, false);
  sender.Start(body);
  std::vector<ResponseSender::Turn> turns;
  std::string received = SendAll(sender, stream_, kUnlimited, &turns);
  EXPECT_EQ(received.size(), expected.size()) << "no byte lost or twice";
  EXPECT_TRUE(received == expected);
  std::uint64_t total = 0;
  int blocked = 0;
  for (const auto& turn : turns) {
    total += turn.bytes;
    if (turn.status == Status::kBlocked) ++blocked;
  }
  EXPECT_GT(blocked, 1) << "a 4 KiB socket buffer cannot take 200 kB at once";
  EXPECT_EQ(total, expected.size());
  EXPECT_EQ(sender.sent(), expected.size());
  // Positions reported sent only move forward.
  for (std::size_t i = 1; i < body.sent.size(); ++i) {
    EXPECT_LE(body.sent[i - 1].second, body.sent[i].second);
  }
}

TEST_F(ResponseSenderTest, ATurnSendsAtMostItsBudget) {
  constexpr std::uint64_t kBudget = 8192;
  ResponseSender sender;
  BuildFile(RandomBytes(4 * kBudget), &sender.layout());
  // Exactly four budgets in all: the fourth turn is done, not yielded.
  const std::uint64_t head = HeadLength(sender.layout());
  const std::string file = RandomBytes(4 * kBudget - head);
  BuildFile(file, &sender.layout());
  ASSERT_EQ(HeadLength(sender.layout()), head);
  FakeBody body(file, false);
  sender.Start(body);
  std::string received;
  for (int i = 0; i < 3; ++i) {
    ResponseSender::Turn turn = sender.SendTurn(stream_, kBudget);
    EXPECT_EQ(turn.status, Status::kYielded);
    EXPECT_EQ(turn.bytes, kBudget) << "trimmed to the budget, not beyond";
    received += Drain();
    EXPECT_EQ(received.size(), (i + 1) * kBudget);
  }
  ResponseSender::Turn last = sender.SendTurn(stream_, kBudget);
  EXPECT_EQ(last.status, Status::kDone);
  EXPECT_EQ(last.bytes, kBudget);
  received += Drain();
  EXPECT_TRUE(received == Expected(sender.layout(), file));
}

TEST_F(ResponseSenderTest, ABudgetShorterThanTheHeadSendsPartOfIt) {
  const std::string file = RandomBytes(5000);
  ResponseSender sender;
  BuildFile(file, &sender.layout());
  const std::string expected = Expected(sender.layout(), file);
  FakeBody body(file, false);
  sender.Start(body);
  ResponseSender::Turn turn = sender.SendTurn(stream_, 10);
  EXPECT_EQ(turn.status, Status::kYielded);
  EXPECT_EQ(turn.bytes, 10u);
  EXPECT_EQ(sender.sent(), 10u);
  EXPECT_EQ(sender.body_sent(), 0u) << "only head bytes went out";
  EXPECT_EQ(Drain(), expected.substr(0, 10));
  EXPECT_TRUE(body.sent.empty()) << "no file byte went out";
  EXPECT_EQ(SendAll(sender, stream_, 777), expected.substr(10));
  EXPECT_EQ(sender.body_sent(), file.size());
}

TEST_F(ResponseSenderTest, TheHeadWaitsForTheFirstFileBytes) {
  const std::string file = RandomBytes(3000);
  ResponseSender sender;
  BuildFile(file, &sender.layout());
  const std::string expected = Expected(sender.layout(), file);
  const std::uint64_t head = HeadLength(sender.layout());
  FakeBody body(file, false);
  body.MakeReady(0);
  sender.Start(body);
  ResponseSender::Turn turn = sender.SendTurn(stream_, kUnlimited);
  EXPECT_EQ(turn.status, Status::kWaiting);
  EXPECT_EQ(turn.bytes, 0u);
  char byte;
  EXPECT_EQ(recv(theirs_.get(), &byte, 1, MSG_DONTWAIT), -1)
      << "the head went out alone";
  EXPECT_EQ(errno, EAGAIN);

  body.MakeReady(100);
  turn = sender.SendTurn(stream_, kUnlimited);
  EXPECT_EQ(turn.status, Status::kWaiting);
  EXPECT_EQ(turn.bytes, head + 100);
  EXPECT_EQ(Drain(), expected.substr(0, head + 100));
  EXPECT_EQ(sender.body_sent(), 100u);

  body.MakeReady(file.size());
  turn = sender.SendTurn(stream_, kUnlimited);
  EXPECT_EQ(turn.status, Status::kDone);
  EXPECT_EQ(Drain(), expected.substr(head + 100));
}

TEST_F(ResponseSenderTest, MultipartPiecesGoOutInOrder) {
  const std::string file = RandomBytes(5000);
  ResponseSender sender;
  BuildFile(file, &sender.layout(), "bytes=100-299,1000-2999,4990-");
  ASSERT_EQ(sender.layout().status, 206);
  const std::string expected = Expected(sender.layout(), file);
  ASSERT_NE(expected.find("BOUNDARY0123"), std::string::npos);
  FakeBody body(file, false);
  sender.Start(body);
  // A small budget: many turns, some ending inside a piece.
  EXPECT_TRUE(SendAll(sender, stream_, 150) == expected);
  EXPECT_EQ(body.selects,
            (decltype(body.selects){{100, 300}, {1000, 3000}, {4990, 5000}}));
  // Within a piece, positions only move forward, end at its end, and the
  // next piece is selected only after that.
  std::size_t next = 0;
  for (std::size_t piece = 0; piece < body.selects.size(); ++piece) {
    std::uint64_t last = body.selects[piece].first;
    for (; next < body.sent.size() && body.sent[next].first == piece; ++next) {
      EXPECT_GE(body.sent[next].second, last);
      EXPECT_LE(body.sent[next].second, body.selects[piece].second);
      last = body.sent[next].second;
    }
    EXPECT_EQ(last, body.selects[piece].second) << "piece " << piece;
  }
  EXPECT_EQ(next, body.sent.size());
  auto at = [&](const std::string& event) {
    return std::find(body.events.begin(), body.events.end(), event) -
           body.events.begin();
  };
  EXPECT_LT(at("sent 300"), at("select 1000"));
  EXPECT_LT(at("sent 3000"), at("select 4990"));
  EXPECT_EQ(sender.body_sent(), sender.layout().body_bytes);
}

TEST_F(ResponseSenderTest, MultipartFromASourceOfAnyRange) {
  const std::string file = RandomBytes(5000);
  ResponseSender sender;
  BuildFile(file, &sender.layout(), "bytes=4000-4099,0-9,-7");
  FakeBody body(file, true);
  sender.Start(body);
  ResponseSender::Turn turn = sender.SendTurn(stream_, kUnlimited);
  EXPECT_EQ(turn.status, Status::kDone);
  EXPECT_TRUE(Drain() == Expected(sender.layout(), file));
}

TEST_F(ResponseSenderTest, AnEmptyFileIsItsHeadAlone) {
  ResponseSender sender;
  BuildFile("", &sender.layout());
  ASSERT_EQ(sender.layout().pieces.size(), 1u);
  FakeBody body("", false);
  sender.Start(body);
  ResponseSender::Turn turn = sender.SendTurn(stream_, kUnlimited);
  EXPECT_EQ(turn.status, Status::kDone);
  EXPECT_EQ(Drain(), sender.layout().text);
  EXPECT_EQ(sender.body_sent(), 0u);
}

TEST_F(ResponseSenderTest, MorePiecesThanOneSendmsgTakes) {
  // A layout by hand: 100 parts, each a text and a file range, more
  // iovecs than one sendmsg() carries.
  const std::string file = RandomBytes(1000);
  ResponseSender sender;
  ResponseLayout& layout = sender.layout();
  layout.text = "HTTP/1.1 200 OK\r\n\r\n";
  layout.pieces.push_back({Piece::Kind::kText, 0, layout.text.size()});
  for (std::uint64_t i = 0; i < 100; ++i) {
    std::string part = "<" + std::to_string(i) + ">";
    layout.pieces.push_back(
        {Piece::Kind::kText, layout.text.size(), part.size()});
    layout.text += part;
    layout.pieces.push_back({Piece::Kind::kFile, i * 7 % 990, 10});
  }
  CachedBody body;
  body.Reset(CachedBytes::Copy(file.data(), file.size(), false));
  WatchedStream watched(stream_);
  sender.Start(body);
  ResponseSender::Turn turn = sender.SendTurn(watched, kUnlimited);
  EXPECT_EQ(turn.status, Status::kDone);
  EXPECT_TRUE(Drain() == Expected(layout, file));
  EXPECT_GT(watched.sends.size(), 1u);
}

TEST_F(ResponseSenderTest, ACachedMemoryFileLeavesBySendfile) {
  ShrinkSendBuffer();
  const std::string file = RandomBytes(CachedBytes::kSendfileMin + 50000);
  std::shared_ptr<const CachedBytes> bytes =
      CachedBytes::Copy(file.data(), file.size(), true);
  ASSERT_GE(bytes->fd(), 0) << "memfd_create refused";
  CachedBody body;
  body.Reset(bytes);
  ResponseSender sender;
  BuildFile(file, &sender.layout());
  const std::string head = sender.layout().text;
  WatchedStream watched(stream_);
  sender.Start(body);
  EXPECT_TRUE(SendAll(sender, watched, kUnlimited) == head + file);
  EXPECT_GT(watched.sendfiles, 0);
  ASSERT_FALSE(watched.sends.empty());
  EXPECT_EQ(watched.sends[0].bytes, head.size());
  EXPECT_TRUE(watched.sends[0].more) << "MSG_MORE holds the head back";
  EXPECT_EQ(sender.body_sent(), file.size());
}

// TLS: a stream that cannot send files gets the memory file's bytes
// through Send(), and the response is done only once the stream flushed
// what it held.
TEST_F(ResponseSenderTest, AStreamThatSendsNoFilesGetsCopiesThenAFlush) {
  const std::string file = RandomBytes(CachedBytes::kSendfileMin + 50000);
  CachedBody body;
  body.Reset(CachedBytes::Copy(file.data(), file.size(), true));
  ResponseSender sender;
  BuildFile(file, &sender.layout());
  const std::string head = sender.layout().text;
  WatchedStream watched(stream_);
  watched.sends_files = false;
  watched.flush_eagains = 1;
  sender.Start(body);
  std::string received;
  bool blocked_when_done = false;
  ResponseSender::Turn turn{Status::kBlocked, 0};
  for (int i = 0; i < 10000 && turn.status != Status::kDone; ++i) {
    turn = sender.SendTurn(watched, kUnlimited);
    blocked_when_done |= turn.status == Status::kBlocked && sender.done();
    received += Drain();
  }
  ASSERT_EQ(turn.status, Status::kDone);
  EXPECT_TRUE(received == head + file);
  EXPECT_EQ(watched.sendfiles, 0);
  EXPECT_TRUE(blocked_when_done) << "a pending flush is a blocked turn";
  EXPECT_GE(watched.flushes, 2);
}

TEST_F(ResponseSenderTest, CachedRangesMixSendfileAndCopies) {
  const std::string file = RandomBytes(CachedBytes::kSendfileMin + 50000);
  CachedBody body;
  body.Reset(CachedBytes::Copy(file.data(), file.size(), true));
  ResponseSender sender;
  BuildFile(file, &sender.layout(), "bytes=300000-300099,0-269999");
  WatchedStream watched(stream_);
  sender.Start(body);
  EXPECT_TRUE(SendAll(sender, watched, kUnlimited) ==
              Expected(sender.layout(), file));
  EXPECT_GT(watched.sendfiles, 0);
}

// A file that turned hot while it was read from the disk: the rest of
// the response, ranges and all, comes from the other source, and what
// went out before is not sent again.
TEST_F(ResponseSenderTest, TheRestComesFromTheBodySwitchedTo) {
  const std::string file = RandomBytes(2 * CachedBytes::kSendfileMin + 50000);
  CachedBody heap;
  heap.Reset(CachedBytes::Copy(file.data(), file.size(), false));
  CachedBody memory_file;
  memory_file.Reset(CachedBytes::Copy(file.data(), file.size(), true));
  ASSERT_GE(memory_file.SendfileFd(0, file.size()), 0) << "memfd refused";
  ResponseSender sender;
  BuildFile(file, &sender.layout(), "bytes=0-99999,200000-");
  WatchedStream watched(stream_);
  sender.Start(heap);
  ResponseSender::Turn first = sender.SendTurn(watched, 150000);
  ASSERT_EQ(first.status, Status::kYielded);
  EXPECT_EQ(watched.sendfiles, 0);
  std::string received = Drain();
  sender.SwitchBody(memory_file);
  received += SendAll(sender, watched, kUnlimited);
  EXPECT_TRUE(received == Expected(sender.layout(), file));
  EXPECT_GT(watched.sendfiles, 0) << "the rest left by sendfile";
}

TEST_F(ResponseSenderTest, CachedHeapBytesAreCopied) {
  const std::string file = RandomBytes(CachedBytes::kSendfileMin + 1);
  CachedBody body;
  body.Reset(CachedBytes::Copy(file.data(), file.size(), false));
  ASSERT_LT(body.SendfileFd(0, file.size()), 0);
  ResponseSender sender;
  BuildFile(file, &sender.layout());
  WatchedStream watched(stream_);
  sender.Start(body);
  EXPECT_TRUE(SendAll(sender, watched, kUnlimited) ==
              Expected(sender.layout(), file));
  EXPECT_EQ(watched.sendfiles, 0);
}

TEST_F(ResponseSenderTest, AClosedPeerFailsTheTurnWithoutSigpipe) {
  const std::string file = RandomBytes(3000);
  ResponseSender sender;
  BuildFile(file, &sender.layout());
  FakeBody body(file, false);
  theirs_.Reset();
  // In a child with SIGPIPE's default action: the signal would kill it.
  int status = testing::RunInChild([&] {
    signal(SIGPIPE, SIG_DFL);
    sender.Start(body);
    ResponseSender::Turn turn = sender.SendTurn(stream_, kUnlimited);
    return turn.status == Status::kFailed && turn.bytes == 0 ? 0 : 1;
  });
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(ResponseSenderTest, AClosedPeerFailsASendfileTurn) {
  const std::string file = RandomBytes(CachedBytes::kSendfileMin);
  CachedBody body;
  body.Reset(CachedBytes::Copy(file.data(), file.size(), true));
  ASSERT_GE(body.SendfileFd(0, file.size()), 0);
  ResponseSender sender;
  BuildFile(file, &sender.layout());
  const std::uint64_t head = HeadLength(sender.layout());
  WatchedStream watched(stream_);
  sender.Start(body);
  // The head goes out by sendmsg(); the peer leaves before the file bytes.
  ResponseSender::Turn turn = sender.SendTurn(watched, head);
  ASSERT_EQ(turn.status, Status::kYielded);
  ASSERT_EQ(watched.sendfiles, 0);
  theirs_.Reset();
  // GOTCHA: sendfile() takes no MSG_NOSIGNAL: a closed peer raises SIGPIPE
  // (splice_to_socket sends without it), which the daemon ignores
  // (BlockDaemonSignals). The child does the same.
  int status = testing::RunInChild([&] {
    signal(SIGPIPE, SIG_IGN);
    ResponseSender::Turn last = sender.SendTurn(watched, kUnlimited);
    return last.status == Status::kFailed && watched.sendfiles == 1 ? 0 : 1;
  });
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(ResponseSenderTest, ReleaseScratchFreesOnlyWhatGrew) {
  ResponseSender sender;
  ResponseLayout& layout = sender.layout();
  layout.text.reserve(100);
  layout.pieces.reserve(8);
  const std::size_t small_text = layout.text.capacity();
  sender.ReleaseScratch();
  EXPECT_EQ(layout.text.capacity(), small_text) << "small buffers are kept";
  EXPECT_EQ(layout.pieces.capacity(), 8u);

  layout.text.reserve(100000);
  layout.pieces.reserve(1000);
  layout.range.ranges.reserve(1000);
  layout.range.scratch.reserve(1000);
  sender.ReleaseScratch();
  EXPECT_LE(layout.text.capacity(), 4096u);
  EXPECT_LE(layout.pieces.capacity(), 64u);
  EXPECT_LE(layout.range.ranges.capacity(), 64u);
  EXPECT_LE(layout.range.scratch.capacity(), 64u);
}

}  // namespace
}  // namespace ferry

#include "connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "http_boundary.h"
#include "log.h"
#include "url_encoding.h"

namespace ferry {
namespace {

constexpr std::int64_t kLingerMillis = 2000;

int StatusForOpenError(int error) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV:  // RESOLVE_BENEATH: the path tried to leave the root
    case ELOOP:  // a symlink loop, or a magic link
    case ENAMETOOLONG:
      return 404;
    case EACCES:
    case EPERM:
    case ENXIO:
      return 403;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return 503;
    default:
      return 500;
  }
}

}  // namespace

void Connection::Start(UniqueFd socket, std::uint64_t token,
                       std::string_view client, ServingContext& ctx) {
  socket_ = std::move(socket);
  socket_stream_.Attach(socket_.get());
  token_ = token;
  std::size_t length = std::min(client.size(), sizeof client_ - 1);
  std::memcpy(client_, client.data(), length);
  client_[length] = '\0';
  std::size_t initial = std::min(kInitialInput, ctx.limits.max_header_bytes);
  if (input_capacity_ < initial ||
      input_capacity_ > ctx.limits.max_header_bytes) {
    input_capacity_ = initial;
    input_ = std::make_unique_for_overwrite<char[]>(input_capacity_);
  }
  if (window_capacity_ != ctx.config.read_ahead) {
    window_capacity_ = ctx.config.read_ahead;
    window_ = std::make_unique<Slot[]>(window_capacity_);
  }
  maybe_readable_ = true;
  signals_cover_input_ = false;
  reading_requests_ = false;
  input_length_ = 0;
  request_length_ = 0;
  waiting_for_block_ = false;
  want_write_ = false;
  resume_queued_ = false;
  close_after_response_ = false;
  state_ = State::kReadingRequest;
  // A client that has sent nothing yet gets the header timeout, not the
  // keep-alive one: silent sockets must not hold slots for long.
  deadline_ms_ = ctx.now_ms + ctx.config.header_timeout.count();
  OnReadable(ctx);
}

void Connection::OnSocketEvent(std::uint32_t band, ServingContext& ctx) {
  if (band & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)) maybe_readable_ = true;
  switch (state_) {
    case State::kReadingRequest:
      if (band & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)) OnReadable(ctx);
      break;
    case State::kStreaming:
      if (band & (POLLOUT | POLLERR | POLLHUP)) OnWritable(ctx);
      break;
    case State::kLingering:
      OnLingerReadable(ctx);
      break;
    case State::kResolving:
    case State::kClosed:
      break;
  }
}

// ---- kReadingRequest -------------------------------------------------------

void Connection::OnReadable(ServingContext& ctx) {
  // A response that completes at once (FinishResponse) comes back to this
  // loop for the next pipelined request instead of calling in again: one
  // client's 100,000 pipelined requests once overflowed the stack.
  reading_requests_ = true;
  ReadRequests(ctx);
  reading_requests_ = false;
}

void Connection::ReadRequests(ServingContext& ctx) {
  int answered = 0;
  for (;;) {
    if (input_length_ > 0) {
      ParseResult parsed = ParseRequest(
          std::string_view(input_.get(), input_length_), ctx.limits, &request_);
      if (parsed.kind == ParseResult::Kind::kDone) {
        request_length_ = parsed.consumed;
        HandleRequest(ctx);
        // Streaming, resolving, lingering or closed: an event resumes it.
        if (state_ != State::kReadingRequest) return;
        if (++answered == kRequestsPerTurn) {
          QueueResume(ctx);  // the others go first
          return;
        }
        continue;
      }
      if (parsed.kind == ParseResult::Kind::kError) {
        Bump(ctx.counters.requests);
        request_.method = Method::kGet;
        RespondStatus(parsed.status, /*close=*/true, ctx);
        return;
      }
      if (input_length_ == input_capacity_) {
        if (input_capacity_ >= ctx.limits.max_header_bytes) {
          RespondStatus(431, /*close=*/true, ctx);
          return;
        }
        GrowInput(ctx.limits.max_header_bytes);
      }
    }
    if (!maybe_readable_) return;  // the next POLL_IN signal resumes
    std::size_t room = input_capacity_ - input_length_;
    ssize_t n = stream_->Receive(input_.get() + input_length_, room);
    if (n > 0) {
      if (input_length_ == 0) {
        deadline_ms_ = ctx.now_ms + ctx.config.header_timeout.count();
      }
      input_length_ += static_cast<std::size_t>(n);
      if (static_cast<std::size_t>(n) < room && signals_cover_input_) {
        maybe_readable_ = false;
      }
      continue;
    }
    if (n == -EINTR) continue;
    if (n == -EAGAIN) {
      maybe_readable_ = false;
      signals_cover_input_ = true;
      return;  // the next POLL_IN signal resumes
    }
    Close(ctx);  // the client closed, or the socket failed
    return;
  }
}

void Connection::GrowInput(std::size_t limit) {
  std::size_t capacity = std::min(limit, input_capacity_ * 2);
  auto grown = std::make_unique_for_overwrite<char[]>(capacity);
  std::memcpy(grown.get(), input_.get(), input_length_);
  input_ = std::move(grown);
  input_capacity_ = capacity;
}

void Connection::HandleRequest(ServingContext& ctx) {
  Bump(ctx.counters.requests);
  if (!ctx.config.allow_dotfiles && HasDotSegment(request_.path)) {
    RespondStatus(403, false, ctx);
    return;
  }
  open_path_ = request_.path;
  if (request_.directory_form) {
    if (!open_path_.empty()) open_path_ += '/';
    open_path_ += ctx.config.index;
  }
  if (ctx.cache != nullptr && ServeFromCache(ctx)) return;
  OpenedFile opened = ctx.root.Open(open_path_, /*cached_only=*/true);
  if (opened.error == -EAGAIN) {
    // The lookup needs the disk: a helper does it without RESOLVE_CACHED.
    state_ = State::kResolving;
    deadline_ms_ = ctx.now_ms + ctx.config.send_timeout.count();
    HelperJob job;
    job.kind = HelperJob::Kind::kOpen;
    job.token = token_;
    job.path = open_path_;
    ctx.helpers.Submit(std::move(job));
    return;
  }
  OnOpened(std::move(opened), ctx);
}

bool Connection::ServeFromCache(ServingContext& ctx) {
  CachedFile* entry = ctx.cache->Find(open_path_);
  if (entry == nullptr) return false;
  if (!ctx.cache->Fresh(*entry, ctx.now_ms)) {
    // Trusted long enough: is it still the same file?
    OpenedFile opened = ctx.root.Open(open_path_, /*cached_only=*/true);
    if (opened.error != 0 || !SameFileVersion(opened.status, entry->status)) {
      ctx.cache->Erase(open_path_);
      if (opened.error == -EAGAIN) return false;  // the lookup goes to a helper
      OnOpened(std::move(opened), ctx);
      return true;
    }
    entry->checked_ms = ctx.now_ms;
  }
  Bump(ctx.counters.cache_hits);
  cached_body_ = entry->bytes;
  file_status_ = entry->status;
  status_ms_ = entry->checked_ms;
  RespondWithFile(entry->head.content_type, entry->head.whole_fields, ctx);
  return true;
}

// ---- kResolving ------------------------------------------------------------

void Connection::OnOpenDone(OpenedFile opened, ServingContext& ctx) {
  if (state_ != State::kResolving) return;
  Bump(ctx.counters.helper_opens);
  OnOpened(std::move(opened), ctx);
}

void Connection::OnOpened(OpenedFile opened, ServingContext& ctx) {
  if (opened.error != 0) {
    int status = StatusForOpenError(-opened.error);
    // nginx answers 403 for a directory without an index; we do the same
    // only when the directory's own lookup is cached (it just was, unless
    // it does not exist).
    if (status == 404 && request_.directory_form && opened.error == -ENOENT) {
      OpenedFile directory = ctx.root.Open(request_.path, true);
      if (directory.error == 0 &&
          directory.status.type == FileStatus::Type::kDirectory) {
        status = 403;
      }
    }
    if (status >= 500) {
      Log(LogLevel::kError, "open %s: %s", PathForLog().c_str(),
          std::strerror(-opened.error));
    }
    RespondStatus(status, false, ctx);
    return;
  }
  switch (opened.status.type) {
    case FileStatus::Type::kRegular:
      break;
    case FileStatus::Type::kDirectory:
      if (!request_.directory_form) {
        layout_.Clear();
        // From the decoded, normalised path, encoded again: never the raw
        // target, whose "//host/..." a browser would follow off-site.
        std::string& location = open_path_;  // reused as scratch
        location.assign(1, '/');
        AppendPercentEncodedPath(request_.path, &location);
        location += '/';
        if (!request_.query.empty()) {
          location += '?';
          location += request_.query;
        }
        bool keep = request_.keep_alive && !ctx.stopping;
        BuildStatusResponse(301, request_.method == Method::kHead, ctx.now_sec,
                            keep, location, 0, &layout_);
        close_after_response_ = !keep;
        StartResponse(ctx);
        return;
      }
      RespondStatus(403, false, ctx);
      return;
    case FileStatus::Type::kOther:
      RespondStatus(403, false, ctx);
      return;
  }
  file_ = std::move(opened.fd);
  file_status_ = opened.status;
  status_ms_ = ctx.now_ms;
  block_map_ =
      file_status_.direct_align != 0 && file_status_.size > kInodeMappedMax
          ? BlockMap::kToLoad
          : BlockMap::kInMemory;
  fill_cache_ = ctx.cache != nullptr &&
                ctx.cache->Cacheable(file_status_.size) &&
                file_status_.size <= ctx.pool.block_size();
  if (fill_cache_) Bump(ctx.counters.cache_misses);
  RespondWithFile(ctx.mime.Lookup(open_path_), {}, ctx);
}

void Connection::RespondWithFile(std::string_view content_type,
                                 std::string_view whole_fields,
                                 ServingContext& ctx) {
  FileInfo info = InfoOf(file_status_);
  // Only a multipart response (a Range list) needs a boundary.
  boundary_[0] = '\0';
  if (request_.range.find(',') != std::string_view::npos) {
    MakeBoundary(boundary_);
  }
  bool keep = request_.keep_alive && !ctx.stopping;
  BuildFileResponse(request_, info, content_type, ctx.now_sec,
                    static_cast<int>(ctx.config.max_ranges), boundary_, keep,
                    &layout_, whole_fields);
  close_after_response_ = !keep;
  StartResponse(ctx);
}

// ---- kLingering and the end ------------------------------------------------

void Connection::StartLingering(ServingContext& ctx) {
  // Closing with unread input would make the kernel send a reset that can
  // destroy the response before the client reads it: shut the write side,
  // then drain what the client still sends, for a short while.
  state_ = State::kLingering;
  deadline_ms_ = ctx.now_ms + kLingerMillis;
  stream_->ShutdownWrite();
  OnLingerReadable(ctx);
}

void Connection::OnLingerReadable(ServingContext& ctx) {
  char sink[4096];
  for (;;) {
    ssize_t n = stream_->Receive(sink, sizeof sink);
    if (n > 0 || n == -EINTR) continue;
    if (n == -EAGAIN) return;
    Close(ctx);
    return;
  }
}

void Connection::Abort(const char* why, ServingContext& ctx) {
  Log(LogLevel::kInfo, "aborting a response for %s: %s", PathForLog().c_str(),
      why);
  Bump(ctx.counters.aborted);
  Close(ctx);
}

// The path as a URL, percent-encoded: a decoded "%0a" in a log line would
// forge the next line.
std::string Connection::PathForLog() const {
  std::string path(1, '/');
  AppendPercentEncodedPath(open_path_, &path);
  return path;
}

void Connection::LogAccess(ServingContext& ctx) const {
  if (!ctx.access_log) return;
  AccessRecord record;
  record.client = client_;
  record.time = ctx.now_sec;
  record.request_line = request_.request_line;
  record.status = layout_.status;
  record.body_bytes =
      response_sent_ > head_length_ ? response_sent_ - head_length_ : 0;
  record.referer = request_.referer;
  record.user_agent = request_.user_agent;
  char line[1024];
  std::size_t length =
      FormatAccessRecord(record, ctx.access_log_format, line, sizeof line);
  LogRing::AccessLog(line, length);  // a full ring drops and counts it
}

void Connection::Close(ServingContext& ctx) {
  if (state_ == State::kStreaming) LogAccess(ctx);  // cut short
  // Blocks with a read in flight stay the kernel's (or a helper's) until it
  // completes; the worker then finds no connection for the token and frees
  // them. A read still queued for this iteration's io_submit never goes:
  // file_ closes now.
  for (std::size_t i = 0; i < window_count_; ++i) {
    const Slot& slot = SlotAt(i);
    if (slot.got >= 0 || ctx.aio.Unqueue(&ctx.reads.Of(slot.block))) {
      ctx.pool.Release(slot.block);
    }
  }
  window_count_ = 0;
  file_.Reset();
  cached_body_.reset();
  fill_cache_ = false;
  block_map_ = BlockMap::kInMemory;
  ReleaseScratch();
  // The slot is reused by a later client: it starts with a small buffer.
  if (input_capacity_ > kInitialInput) {
    input_.reset();
    input_capacity_ = 0;
  }
  state_ = State::kClosed;
}

void Connection::ReleaseScratch() {
  extents_ = ExtentMap();
  if (layout_.text.capacity() > kKeptTextBytes) {
    std::string().swap(layout_.text);
  }
  if (layout_.pieces.capacity() > kKeptPieces) {
    std::vector<Piece>().swap(layout_.pieces);
  }
  if (layout_.range.ranges.capacity() > kKeptPieces) {
    std::vector<ByteRange>().swap(layout_.range.ranges);
  }
  if (layout_.range.scratch.capacity() > kKeptPieces) {
    std::vector<ByteRange>().swap(layout_.range.scratch);
  }
}

void Connection::QueueResume(ServingContext& ctx) {
  if (resume_queued_) return;
  resume_queued_ = true;
  ctx.resume.push_back(token_);
}

void Connection::OnTick(ServingContext& ctx) {
  if (state_ == State::kStreaming && TooSlow(ctx)) {
    Bump(ctx.counters.timeouts);
    Log(LogLevel::kInfo,
        "closing %s: it took less than --send-min-rate for %" PRId64 " ms",
        client_, ctx.now_ms - rate_window_start_ms_);
    CloseWithReset(ctx);
    return;
  }
  if (state_ == State::kClosed || ctx.now_ms < deadline_ms_) return;
  if (state_ != State::kLingering) Bump(ctx.counters.timeouts);
  if (state_ == State::kStreaming) {
    CloseWithReset(ctx);
  } else {
    Close(ctx);
  }
}

// Bytes of this response the client's TCP has acknowledged: those sent
// less those still in our socket's send queue.
std::uint64_t Connection::BytesTaken() const {
  std::uint64_t queued = stream_->Unacknowledged();
  return response_sent_ > queued ? response_sent_ - queued : 0;
}

// A client that does not read has a socket buffer full of our response; a
// plain close would leave the kernel delivering it at the client's pace,
// holding that memory after the slot is free. A reset drops it (nginx's
// reset_timedout_connection).
void Connection::CloseWithReset(ServingContext& ctx) {
  stream_->ResetOnClose();
  Close(ctx);
}

// The send timeout moves on any progress, so a client that takes a few
// bytes now and then would hold its slot forever: it must also take
// --send-min-rate on average over each --send-timeout window at whose end
// it still has bytes of ours to take. What it took is what its TCP
// acknowledged, not what we queued: the kernel wakes a writer only when
// half of a large send buffer has drained, so our own sends come in bursts
// seconds apart even for a client that reads steadily.
bool Connection::TooSlow(ServingContext& ctx) {
  std::int64_t window = ctx.config.send_timeout.count();
  if (ctx.config.send_min_rate == 0 ||
      ctx.now_ms - rate_window_start_ms_ < window) {
    return false;
  }
  std::uint64_t taken = BytesTaken();
  std::uint64_t wanted =
      ctx.config.send_min_rate * static_cast<std::uint64_t>(window) / 1000;
  // With nothing of ours left unacknowledged, it was the client waiting
  // for us (the disk), not we for it.
  bool waiting_for_client = taken < response_sent_;
  if (waiting_for_client && taken < rate_window_taken_ + wanted) return true;
  rate_window_start_ms_ = ctx.now_ms;
  rate_window_taken_ = taken;
  return false;
}

void Connection::OnShutdown(ServingContext& ctx) {
  if (state_ == State::kReadingRequest && input_length_ == 0) {
    Close(ctx);
    return;
  }
  close_after_response_ = true;
}

}  // namespace ferry
